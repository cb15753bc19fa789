/**
 * Ed25519 signing keys with small integer key ids (1..255, one byte inside a QR pass) so keys can
 * be rotated: the newest key signs, every key still in the ring verifies. The keys file also holds
 * the deployment's pepper for ID-number pseudonyms (docs/architecture.md rule 5).
 *
 * Keys are stored as their raw 32 bytes in base64url (the JWK `x` and `d` members), which is the
 * shortest exact form and imports through `createPublicKey({ format: 'jwk' })` without ASN.1.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { formatIssues } from './config.ts';
import { AnxinError } from './errors.ts';

export interface SigningKey {
  kid: number;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** kid → Ed25519 public key. */
export type KeyRing = ReadonlyMap<number, KeyObject>;

/** The deployment's keys file (`data/keys.json`). */
export interface KeysFile {
  version: 1;
  current: number;
  keys: { kid: number; publicKey: string; privateKey?: string }[];
  pepper: string;
}

export const MIN_KID = 1;
export const MAX_KID = 255;
export const PEPPER_BYTES = 32;

/** A keys file (or key id) that cannot be used; `problems` are `path: message` lines. */
export class KeysError extends AnxinError {
  readonly problems: string[];

  constructor(problems: string[]) {
    super('invalid-keys', problems.join('\n'));
    this.problems = problems;
  }
}

function assertKid(kid: number): void {
  if (!Number.isInteger(kid) || kid < MIN_KID || kid > MAX_KID) {
    throw new KeysError([`kid: ${kid} is not an integer in ${MIN_KID}..${MAX_KID}`]);
  }
}

export function generateSigningKey(kid: number): SigningKey {
  assertKid(kid);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { kid, privateKey, publicKey };
}

function rawPublic(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  return jwk.x!;
}

function rawPrivate(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  return jwk.d!;
}

function importPublic(x: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
}

function importPrivate(d: string, x: string): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x, d }, format: 'jwk' });
}

function fileEntry(key: SigningKey): KeysFile['keys'][number] {
  return { kid: key.kid, publicKey: rawPublic(key.publicKey), privateKey: rawPrivate(key.privateKey) };
}

/** One fresh key (kid 1) and a random 32-byte pepper (hex). */
export function createKeysFile(): KeysFile {
  return {
    version: 1,
    current: MIN_KID,
    keys: [fileEntry(generateSigningKey(MIN_KID))],
    pepper: randomBytes(PEPPER_BYTES).toString('hex'),
  };
}

/**
 * Adds a key with kid = max + 1 and makes it current. Old keys keep their public half so tokens
 * and passes they signed still verify until they expire; their private half is dropped because
 * nothing should sign with a retired key. The pepper never changes (pseudonyms must stay stable).
 */
export function rotateKeys(file: KeysFile): KeysFile {
  const kid = Math.max(...file.keys.map((k) => k.kid)) + 1;
  if (kid > MAX_KID) throw new KeysError([`keys: no key id left after ${MAX_KID}; remove retired keys first`]);
  return {
    version: 1,
    current: kid,
    keys: [...file.keys.map(({ kid, publicKey }) => ({ kid, publicKey })), fileEntry(generateSigningKey(kid))],
    pepper: file.pepper,
  };
}

/**
 * The same file without private keys, but with the pepper: what a gate needs (it verifies passes
 * and pseudonymises ID numbers). The pepper is secret, so this file is too (mode 0600).
 */
export function publicOnly(file: KeysFile): KeysFile {
  return { ...file, keys: file.keys.map(({ kid, publicKey }) => ({ kid, publicKey })) };
}

/** The public keys alone (no private key, no pepper): all the broker needs, safe to hand out. */
export interface PublicKeysFile {
  version: 1;
  current: number;
  keys: { kid: number; publicKey: string }[];
}

export function publicKeysOnly(file: KeysFile | PublicKeysFile): PublicKeysFile {
  return { version: 1, current: file.current, keys: file.keys.map(({ kid, publicKey }) => ({ kid, publicKey })) };
}

const rawKey = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'expected 32 bytes in base64url (43 characters)');

const keysFileObject = z.object({
  version: z.literal(1),
  current: z.number().int().min(MIN_KID).max(MAX_KID),
  keys: z
    .array(
      z.object({
        kid: z.number().int().min(MIN_KID).max(MAX_KID),
        publicKey: rawKey,
        privateKey: rawKey.optional(),
      }),
    )
    .min(1),
  pepper: z.string().regex(/^([0-9a-f]{2}){16,}$/, 'expected at least 16 bytes as lower-case hex'),
});

function checkKids(file: { current: number; keys: { kid: number }[] }, ctx: z.RefinementCtx): void {
  const seen = new Set<number>();
  file.keys.forEach((key, index) => {
    if (seen.has(key.kid)) ctx.addIssue({ code: 'custom', path: ['keys', index, 'kid'], message: 'duplicate kid' });
    seen.add(key.kid);
  });
  if (!seen.has(file.current)) {
    ctx.addIssue({ code: 'custom', path: ['current'], message: `no key with kid ${file.current}` });
  }
}

const keysFileSchema = keysFileObject.superRefine(checkKids);
/** A file for verifying only: the pepper may be absent (`anxin keys public`), private keys are ignored. */
const verifyingKeysFileSchema = keysFileObject
  .extend({ pepper: keysFileObject.shape.pepper.optional() })
  .superRefine(checkKids);

export interface ParsedKeys {
  /** The current key, if this file holds its private half (the cloud's file does, a gate's does not). */
  signing?: SigningKey;
  ring: KeyRing;
  pepper: Buffer;
  file: KeysFile;
}

/** Validates a parsed keys file; throws `KeysError` (code `invalid-keys`) with `path: message` lines. */
export function parseKeysFile(json: unknown): ParsedKeys {
  const parsed = keysFileSchema.safeParse(json);
  if (!parsed.success) throw new KeysError(formatIssues(parsed.error));
  const file = parsed.data as KeysFile;
  const ring = new Map<number, KeyObject>();
  let signing: SigningKey | undefined;
  const problems: string[] = [];
  file.keys.forEach((entry, index) => {
    let publicKey: KeyObject;
    try {
      publicKey = importPublic(entry.publicKey);
    } catch {
      problems.push(`keys.${index}.publicKey: not an Ed25519 public key`);
      return;
    }
    ring.set(entry.kid, publicKey);
    if (entry.privateKey === undefined) return;
    let privateKey: KeyObject;
    try {
      privateKey = importPrivate(entry.privateKey, entry.publicKey);
    } catch {
      problems.push(`keys.${index}.privateKey: not an Ed25519 private key`);
      return;
    }
    // A JWK import does not check that x belongs to d; a mismatch would sign unverifiable tokens.
    if (rawPublic(createPublicKey(privateKey)) !== entry.publicKey) {
      problems.push(`keys.${index}.privateKey: does not match publicKey`);
      return;
    }
    if (entry.kid === file.current) signing = { kid: entry.kid, privateKey, publicKey };
  });
  if (problems.length > 0) throw new KeysError(problems);
  return { ...(signing ? { signing } : {}), ring, pepper: Buffer.from(file.pepper, 'hex'), file };
}

/**
 * The public key ring of a keys file with or without the pepper and the private keys (the
 * broker's `--keys`): `KeysError` with `path: message` lines when it cannot be used.
 */
export function readKeyRing(path: string): KeyRing {
  const parsed = verifyingKeysFileSchema.safeParse(readJson(path));
  if (!parsed.success) throw new KeysError(formatIssues(parsed.error));
  const ring = new Map<number, KeyObject>();
  const problems: string[] = [];
  parsed.data.keys.forEach((entry, index) => {
    try {
      ring.set(entry.kid, importPublic(entry.publicKey));
    } catch {
      problems.push(`keys.${index}.publicKey: not an Ed25519 public key`);
    }
  });
  if (problems.length > 0) throw new KeysError(problems);
  return ring;
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new KeysError([`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`]);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new KeysError([`${path}: not valid JSON`]);
  }
}

/** Reads and parses a keys file from disk; a missing or non-JSON file is a `KeysError` too. */
export function readKeysFile(path: string): ParsedKeys {
  const json = readJson(path);
  if (typeof json === 'object' && json !== null && !('pepper' in json)) {
    throw new KeysError([
      `${path}: holds public keys only (anxin keys public, for the broker); this needs the deployment's pepper too — for a gate: anxin keys gate`,
    ]);
  }
  return parseKeysFile(json);
}
