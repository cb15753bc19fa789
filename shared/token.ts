/**
 * Device and user tokens: the MQTT password of a gate or service (docs/contract.md "Broker
 * authentication") and the HTTP bearer token of a login.
 *
 * Format: `<base64url(JSON claims with kid)>.<base64url(Ed25519 signature of the first part)>`.
 * The signature covers the encoded text exactly as sent, so no JSON canonicalisation is needed;
 * the `kid` inside the signed claims picks the verifying key from the ring (rotation).
 */
import { randomBytes, sign, verify } from 'node:crypto';
import { z } from 'zod';
import { ROLES, type Role } from './enums.ts';
import { idSchema } from './ids.ts';
import { type KeyRing, MAX_KID, MIN_KID, type SigningKey } from './keys.ts';

export interface TokenClaims {
  sub: string;
  role: Role;
  compound?: string;
  /** Epoch ms. */
  exp: number;
  /** Epoch ms. */
  iat: number;
  jti: string;
  /** `live`: a live-stream ticket, accepted only to open `GET /api/v1/live` (cloud/http/routes/live-ticket.ts). */
  use?: 'live';
  /** A ticket's session (the `jti` of the sign-in token it was minted from). */
  sid?: string;
}

export type TokenCheck =
  | { ok: true; claims: TokenClaims; kid: number }
  | { ok: false; reason: 'malformed' | 'unknown-key' | 'bad-signature' | 'expired' };

const epochMs = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A token's id (`jti`) and a ticket's session id (`sid`): what a signed token may carry, and all it may. */
export const tokenIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

const signedClaimsSchema = z.strictObject({
  kid: z.number().int().min(MIN_KID).max(MAX_KID),
  sub: z.string().min(1).max(128),
  role: z.enum(ROLES),
  compound: idSchema.optional(),
  exp: epochMs,
  iat: epochMs,
  jti: tokenIdSchema,
  use: z.literal('live').optional(),
  sid: tokenIdSchema.optional(),
});

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Node's base64url decoder skips junk; a token is accepted only in its one canonical spelling. */
function decodeBase64url(text: string): Buffer | undefined {
  if (!BASE64URL.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

export function newTokenId(): string {
  return randomBytes(12).toString('base64url');
}

export function signToken(
  claims: Omit<TokenClaims, 'iat' | 'jti'> & Partial<Pick<TokenClaims, 'iat' | 'jti'>>,
  key: SigningKey,
): string {
  const full = signedClaimsSchema.parse({
    kid: key.kid,
    sub: claims.sub,
    role: claims.role,
    ...(claims.compound === undefined ? {} : { compound: claims.compound }),
    exp: claims.exp,
    iat: claims.iat ?? Date.now(),
    jti: claims.jti ?? newTokenId(),
    ...(claims.use === undefined ? {} : { use: claims.use }),
    ...(claims.sid === undefined ? {} : { sid: claims.sid }),
  });
  const body = Buffer.from(JSON.stringify(full)).toString('base64url');
  const signature = sign(null, Buffer.from(body, 'ascii'), key.privateKey);
  return `${body}.${signature.toString('base64url')}`;
}

/** Checks, in order: shape, key id in the ring, signature, expiry (`exp <= nowMs` is expired). */
export function verifyToken(token: string, ring: KeyRing, nowMs: number): TokenCheck {
  if (typeof token !== 'string' || token.length > 4096) return { ok: false, reason: 'malformed' };
  const parts = token.split('.');
  if (parts.length !== 2) return { ok: false, reason: 'malformed' };
  const [body, sig] = parts as [string, string];
  const json = decodeBase64url(body);
  const signature = decodeBase64url(sig);
  if (!json || !signature || signature.length !== 64) return { ok: false, reason: 'malformed' };
  let raw: unknown;
  try {
    raw = JSON.parse(json.toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const parsed = signedClaimsSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: 'malformed' };
  const { kid, ...claims } = parsed.data;
  const publicKey = ring.get(kid);
  if (!publicKey) return { ok: false, reason: 'unknown-key' };
  if (!verify(null, Buffer.from(body, 'ascii'), publicKey, signature)) return { ok: false, reason: 'bad-signature' };
  if (claims.exp <= nowMs) return { ok: false, reason: 'expired' };
  return { ok: true, claims, kid };
}
