/**
 * The signed QR pass (docs/passes.md has the byte layout and the size budget).
 *
 * text   = "AX1:" + base45(payload ‖ signature)
 * payload = version u8 · kid u8 · passId 8 bytes · kind u8 · notBefore u32 · expiresAt u32 ·
 *           useLimit u16 (0 = none) · personId (u8 length + ASCII) · compoundId (u8 length + ASCII)
 * signature = Ed25519 over the payload bytes (64 bytes). Integers are big-endian, times are
 * seconds since the epoch.
 *
 * A gate verifies offline, so everything it needs is inside the text; the binary form plus
 * base45 keeps a realistic pass under 200 characters, i.e. QR version 9 at level Q.
 */
import { randomBytes, sign, verify } from 'node:crypto';
import type * as QRCode from 'qrcode';
import { qrcode } from './qr-code.ts';
import { PASS_KINDS, type PassKind } from './enums.ts';
import { AnxinError } from './errors.ts';
import { encodeBase45, tryDecodeBase45 } from './base45.ts';
import { ID_PATTERN } from './ids.ts';
import type { KeyRing, SigningKey } from './keys.ts';

export const PASS_PREFIX = 'AX1:';
/**
 * The longest pass text: it stays a QR code of version ≤ 10 at level Q that cheap gate scanners read
 * at arm's length (docs/passes.md). Person and compound ids of 43 characters together fit.
 */
export const MAX_PASS_CHARS = 200;
const PASS_VERSION = 1;
const PASS_SIGNATURE_BYTES = 64;
/** Bytes of the payload before the two length-prefixed strings. */
const FIXED_BYTES = 21;
const MAX_UINT32 = 0xffff_ffff;
const MAX_USE_LIMIT = 0xffff;

/**
 * QR error-correction level Q (~25 % of codewords recoverable). Passes are shown on phone screens
 * (cracked glass, glare, a thumb over a corner) and printed for visitors (folded, smudged), and
 * the gate's fixed-focus scanner gets one look per passage; L and M (7 %, 15 %) fail first on
 * exactly those. H (30 %) needs version 10 for a realistic 171-character pass and version 11 for
 * anything longer, i.e. smaller modules at the same display size, which hurts cheap scanners more
 * than the extra redundancy helps; Q gives version 9 with room up to 221 characters in version 10.
 * Q is also what the EU Digital COVID Certificate, the model for this format, recommends.
 */
export const PASS_QR_ERROR_CORRECTION = 'Q' as const;

export interface PassPayload {
  /** 16 lower-case hex digits (8 bytes). */
  passId: string;
  personId: string;
  compoundId: string;
  kind: PassKind;
  /** Epoch ms, second precision (signPass truncates to whole seconds). */
  notBefore: number;
  /** Epoch ms, second precision; the pass is valid while notBefore <= now < expiresAt. */
  expiresAt: number;
  /** Number of passages allowed (1..65535); absent = unlimited. Counting is the gate's job. */
  useLimit?: number;
}

export type VerifiedPass = PassPayload & { kid: number };

export type PassCheck =
  | { ok: true; pass: VerifiedPass }
  | {
      ok: false;
      reason: 'malformed' | 'unknown-key' | 'bad-signature' | 'pass-expired' | 'pass-not-yet-valid';
      /** Present when the signature is valid but the time window is not. */
      pass?: VerifiedPass;
    };

/** A payload that cannot be signed (bad id, time out of range …). */
export class PassError extends AnxinError {
  constructor(message: string) {
    super('invalid-pass', message);
  }
}

const PASS_ID = /^[0-9a-f]{16}$/;

export function newPassId(): string {
  return randomBytes(8).toString('hex');
}

/** A time in epoch ms as the whole seconds a pass carries (uint32); a PassError outside 1970..2106. */
export function seconds(field: string, ms: number): number {
  if (!Number.isFinite(ms)) throw new PassError(`${field}: ${ms} is not a time`);
  const s = Math.floor(ms / 1000);
  if (s < 0 || s > MAX_UINT32) throw new PassError(`${field}: ${ms} is outside 1970..2106`);
  return s;
}

/** An id as the ASCII bytes a pass carries; a PassError for anything that is not an id. */
export function idBytes(field: string, value: string): Buffer {
  if (!ID_PATTERN.test(value)) throw new PassError(`${field}: ${JSON.stringify(value)} is not an id`);
  return Buffer.from(value, 'ascii');
}

/**
 * The fields every signed pass body carries — printed passes and device certificates alike —
 * checked and in their wire form: the kind's index, validity in whole seconds, 0 for no use limit.
 */
export function checkedPassFields(
  payload: Pick<PassPayload, 'passId' | 'kind' | 'notBefore' | 'expiresAt' | 'useLimit'>,
): { kind: number; notBefore: number; expiresAt: number; useLimit: number } {
  if (!PASS_ID.test(payload.passId)) throw new PassError(`passId: ${JSON.stringify(payload.passId)} is not 16 hex`);
  const kind = PASS_KINDS.indexOf(payload.kind);
  if (kind < 0) throw new PassError(`kind: ${JSON.stringify(payload.kind)} is not a pass kind`);
  const notBefore = seconds('notBefore', payload.notBefore);
  const expiresAt = seconds('expiresAt', payload.expiresAt);
  if (expiresAt <= notBefore) throw new PassError('expiresAt: must be after notBefore');
  const useLimit = payload.useLimit ?? 0;
  if (payload.useLimit !== undefined && (!Number.isInteger(useLimit) || useLimit < 1 || useLimit > MAX_USE_LIMIT)) {
    throw new PassError(`useLimit: ${payload.useLimit} is not an integer in 1..${MAX_USE_LIMIT}`);
  }
  return { kind, notBefore, expiresAt, useLimit };
}

/** The signed part of a pass. Exported for tests and docs; callers use `signPass`. */
export function encodePassPayload(payload: PassPayload, kid: number): Buffer {
  const { kind, notBefore, expiresAt, useLimit } = checkedPassFields(payload);
  const person = idBytes('personId', payload.personId);
  const compound = idBytes('compoundId', payload.compoundId);
  const out = Buffer.alloc(FIXED_BYTES + 1 + person.length + 1 + compound.length);
  out.writeUInt8(PASS_VERSION, 0);
  out.writeUInt8(kid, 1);
  out.write(payload.passId, 2, 'hex');
  out.writeUInt8(kind, 10);
  out.writeUInt32BE(notBefore, 11);
  out.writeUInt32BE(expiresAt, 15);
  out.writeUInt16BE(useLimit, 19);
  let offset = FIXED_BYTES;
  out.writeUInt8(person.length, offset++);
  offset += person.copy(out, offset);
  out.writeUInt8(compound.length, offset++);
  compound.copy(out, offset);
  return out;
}

export function signPass(payload: PassPayload, key: SigningKey): string {
  const body = encodePassPayload(payload, key.kid);
  const signature = sign(null, body, key.privateKey);
  const text = PASS_PREFIX + encodeBase45(Buffer.concat([body, signature]));
  if (text.length > MAX_PASS_CHARS) {
    throw new PassError(
      `the pass would be ${text.length} characters (at most ${MAX_PASS_CHARS}): person and compound ids of ` +
        `${payload.personId.length + payload.compoundId.length} characters together are too long (at most 43)`,
    );
  }
  return text;
}

/** Reads a length-prefixed id at `offset`; undefined if it runs past `end` or is not an id. */
function readId(bytes: Buffer, offset: number, end: number): { value: string; next: number } | undefined {
  if (offset >= end) return undefined;
  const length = bytes[offset]!;
  const next = offset + 1 + length;
  if (next > end) return undefined;
  const value = bytes.toString('latin1', offset + 1, next);
  return ID_PATTERN.test(value) ? { value, next } : undefined;
}

/** Parses payload ‖ signature; undefined for anything that is not exactly one well-formed pass. */
function decodePassBinary(bytes: Buffer): { pass: VerifiedPass; body: Buffer; signature: Buffer } | undefined {
  const end = bytes.length - PASS_SIGNATURE_BYTES;
  if (end < FIXED_BYTES + 2) return undefined;
  if (bytes[0] !== PASS_VERSION) return undefined;
  const kind = PASS_KINDS[bytes[10]!];
  if (kind === undefined) return undefined;
  const notBefore = bytes.readUInt32BE(11);
  const expiresAt = bytes.readUInt32BE(15);
  const useLimit = bytes.readUInt16BE(19);
  const person = readId(bytes, FIXED_BYTES, end);
  if (!person) return undefined;
  const compound = readId(bytes, person.next, end);
  // The signature must start right after compoundId: no gap, no trailing bytes.
  if (!compound || compound.next !== end) return undefined;
  const pass: VerifiedPass = {
    kid: bytes[1]!,
    passId: bytes.toString('hex', 2, 10),
    personId: person.value,
    compoundId: compound.value,
    kind,
    notBefore: notBefore * 1000,
    expiresAt: expiresAt * 1000,
    ...(useLimit > 0 ? { useLimit } : {}),
  };
  return { pass, body: bytes.subarray(0, end), signature: bytes.subarray(end) };
}

/**
 * Never throws: anything that is not a well-formed pass (wrong prefix, bad base45, truncated,
 * trailing bytes, unknown version) is `malformed`. A pass with a valid signature outside its time
 * window returns the reason and the decoded pass, so the gate can show whose pass it was.
 */
export function verifyPass(text: string, ring: KeyRing, nowMs: number): PassCheck {
  if (typeof text !== 'string' || text.length > MAX_PASS_CHARS || !text.startsWith(PASS_PREFIX)) {
    return { ok: false, reason: 'malformed' };
  }
  const bytes = tryDecodeBase45(text.slice(PASS_PREFIX.length));
  const decoded = bytes && decodePassBinary(bytes);
  if (!decoded) return { ok: false, reason: 'malformed' };
  const { pass, body, signature } = decoded;
  const publicKey = ring.get(pass.kid);
  if (!publicKey) return { ok: false, reason: 'unknown-key' };
  if (!verify(null, body, publicKey, signature)) return { ok: false, reason: 'bad-signature' };
  if (nowMs < pass.notBefore) return { ok: false, reason: 'pass-not-yet-valid', pass };
  if (nowMs >= pass.expiresAt) return { ok: false, reason: 'pass-expired', pass };
  return { ok: true, pass };
}

/**
 * One explicit alphanumeric segment: base45 text is all QR alphanumeric characters, and pinning
 * the mode keeps the symbol identical to what RFC 9285 §1 budgets for (5.5 bits per character).
 */
function passSegments(text: string): QRCode.QRCodeSegment[] {
  return [{ data: text, mode: 'alphanumeric' }];
}

/** The QR symbol a pass renders as (version, modules, segments), for tests and size checks. */
export function createPassQr(text: string): QRCode.QRCode {
  return qrcode().create(passSegments(text), { errorCorrectionLevel: PASS_QR_ERROR_CORRECTION });
}

export function renderPassSvg(text: string): Promise<string> {
  return qrcode().toString(passSegments(text), {
    type: 'svg',
    errorCorrectionLevel: PASS_QR_ERROR_CORRECTION,
    margin: 4,
  });
}

export function renderPassPng(text: string): Promise<Buffer> {
  return qrcode().toBuffer(passSegments(text), {
    type: 'png',
    errorCorrectionLevel: PASS_QR_ERROR_CORRECTION,
    margin: 4,
    scale: 8,
  });
}
