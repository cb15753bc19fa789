/**
 * Guard PINs as the gate stores them: `scrypt$N$r$p$<salt b64url>$<hash b64url>`, never the PIN
 * itself (docs/edge-agent.md "Guard sign-in"). The hash is checked on libuv's thread pool
 * (`crypto.scrypt`), so a sign-in never holds the event loop that opens the turnstile.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/** 2^14 × 8 × 128 B = 16 MiB and ~50 ms per check on the gate's CPU: slow to guess offline, quick enough to sign in. */
const DEFAULT_COST = { N: 16_384, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
const MAX_MEMORY = 64 * 1024 * 1024;

const PIN_HASH_PATTERN = /^scrypt\$(\d{1,7})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{16,64})\$([A-Za-z0-9_-]{43})$/;
/** A guard PIN: 4 to 12 digits (typed on the kiosk's keypad). */
export const PIN_PATTERN = /^\d{4,12}$/;

export const pinHashSchema = z
  .string()
  .regex(PIN_HASH_PATTERN, 'expected a PIN hash scrypt$N$r$p$salt$hash (`anxin gate guard-pin` makes one)');

interface Parsed {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function parse(stored: string): Parsed | undefined {
  const m = PIN_HASH_PATTERN.exec(stored);
  if (!m) return undefined;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // A power of two ≥ 2^10, and within the memory cap.
  if (N < 1024 || (N & (N - 1)) !== 0 || r < 1 || p < 1 || 128 * N * r > MAX_MEMORY) return undefined;
  return { N, r, p, salt: Buffer.from(m[4]!, 'base64url'), hash: Buffer.from(m[5]!, 'base64url') };
}

/** Hashes a PIN for the gate config (`terminal.guards[].pin`). */
export function hashGuardPin(pin: string, cost: { N: number; r: number; p: number } = DEFAULT_COST): string {
  if (!PIN_PATTERN.test(pin)) throw new TypeError('a guard PIN is 4 to 12 digits');
  const salt = randomBytes(16);
  const hash = scryptSync(pin, salt, KEY_LENGTH, { ...cost, maxmem: MAX_MEMORY });
  return `scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/** Whether `pin` matches `stored`; false for a malformed hash. Runs on the thread pool. */
export function verifyGuardPin(pin: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed || !PIN_PATTERN.test(pin)) return Promise.resolve(false);
  return new Promise((resolve) => {
    scrypt(pin, parsed.salt, KEY_LENGTH, { N: parsed.N, r: parsed.r, p: parsed.p, maxmem: MAX_MEMORY }, (err, key) => {
      resolve(!err && key.length === parsed.hash.length && timingSafeEqual(key, parsed.hash));
    });
  });
}

/** A syntactically valid hash that matches no PIN: verifying an unknown guard costs as much as a known one. */
export const DUMMY_PIN_HASH = `scrypt$16384$8$1$${Buffer.alloc(16).toString('base64url')}$${Buffer.alloc(32).toString('base64url')}`;
