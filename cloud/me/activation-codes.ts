/**
 * One-time activation codes of the resident side (docs/security.md, "The resident role"): 12
 * characters of Crockford's base 32 — 60 random bits — printed in three groups (`K7QM-3WXA-9FZD`).
 * The cloud keeps only a keyed hash of a code (HMAC-SHA-256 under a key derived from the
 * deployment's pepper), so neither a database dump nor a log turns into a usable code, and a code
 * is looked up by that hash. 60 bits make guessing hopeless even before the per-address throttle
 * (cloud/me/me-routes.ts) slows it to a few tries per minute.
 */
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';

/** Crockford's base 32: no I, L, O, U. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const ACTIVATION_CODE_CHARS = 12;
/** How long an issued code can be used. */
export const ACTIVATION_TTL_MS = 14 * 24 * 60 * 60 * 1000;

/** A fresh code, grouped for printing. */
export function newActivationCode(): string {
  const bytes = randomBytes(ACTIVATION_CODE_CHARS);
  let code = '';
  // 256 is a multiple of 32: taking each byte mod 32 is unbiased.
  for (const b of bytes) code += ALPHABET[b % 32];
  return `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`;
}

/**
 * The code as typed → its canonical 12 characters, or undefined when it cannot be one. Case,
 * spaces and dashes do not matter; O reads as 0, I and L as 1 (Crockford's decoding rules).
 */
export function normaliseActivationCode(typed: string): string | undefined {
  const plain = typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  if (plain.length !== ACTIVATION_CODE_CHARS) return undefined;
  for (const ch of plain) if (!ALPHABET.includes(ch)) return undefined;
  return plain;
}

export class ActivationCodeHasher {
  private readonly key: Buffer;

  constructor(pepper: Buffer) {
    if (pepper.length < 16) throw new TypeError('pepper: expected at least 16 bytes');
    this.key = Buffer.from(hkdfSync('sha256', pepper, 'anxin-cloud', 'anxin/cloud/activation-code/v1', 32));
  }

  /** The stored form of a canonical code (or of a link token). */
  hash(canonical: string): string {
    return createHmac('sha256', this.key).update(canonical).digest('hex');
  }
}
