/**
 * The device-bound, rotating QR pass (docs/passes.md, "Device passes"): a certificate signed by the
 * cloud that binds a phone's P-256 public key to a person and a pass id, plus a *frame* the phone
 * signs with that key every few seconds — so a copy of the QR stops working after its window.
 *
 * text        = "AX2:" + base45(certificate ‖ frame)
 * certificate = body ‖ Ed25519 signature of body by the cloud (the same keys as `AX1:` passes)
 * body        = version u8 (2) · kid u8 · passId 8 · kind u8 · notBefore u32 · expiresAt u32 ·
 *               useLimit u16 · frameSeconds u8 · deviceKey 33 (compressed P-256 point) ·
 *               personId (u8 length + ASCII) · compoundId (u8 length + ASCII)
 * frame       = at u32 (seconds, the phone's cloud-corrected time) · ECDSA P-256/SHA-256 signature
 *               (IEEE P1363 r‖s, 64 bytes, as WebCrypto makes it) over certificate ‖ at
 *
 * The device signs everything before its signature: one contiguous byte range of the decoded
 * text, so nothing is copied to verify it. Integers are big-endian, times whole seconds.
 */
import { createPublicKey, ECDH, type KeyObject, sign, verify } from 'node:crypto';
import type * as QRCode from 'qrcode';
import { qrcode } from './qr-code.ts';
import { encodeBase45, tryDecodeBase45 } from './base45.ts';
import { PASS_KINDS } from './enums.ts';
import { ID_PATTERN } from './ids.ts';
import type { KeyRing, SigningKey } from './keys.ts';
import {
  checkedPassFields,
  idBytes,
  PASS_QR_ERROR_CORRECTION,
  PassError,
  type PassPayload,
  seconds,
  type VerifiedPass,
} from './pass.ts';

export const DEVICE_PASS_PREFIX = 'AX2:';
export const DEVICE_PASS_VERSION = 2;
/** A compressed P-256 point: 0x02/0x03 ‖ x. */
export const DEVICE_KEY_BYTES = 33;
/** An uncompressed P-256 point (WebCrypto `exportKey('raw')`): 0x04 ‖ x ‖ y. */
export const RAW_DEVICE_KEY_BYTES = 65;
export const CLOUD_SIGNATURE_BYTES = 64;
export const DEVICE_SIGNATURE_BYTES = 64;
/** at u32 + device signature. */
export const FRAME_BYTES = 4 + DEVICE_SIGNATURE_BYTES;
/** How long a frame is good for after its `at`, unless the certificate says otherwise. */
export const DEFAULT_FRAME_SECONDS = 30;
export const MIN_FRAME_SECONDS = 5;
export const MAX_FRAME_SECONDS = 120;
/** The phone signs a new frame this often (docs/passes.md): well inside the 30 s window. */
export const FRAME_ROTATE_SECONDS = 10;
/**
 * The longest text: person and compound ids of 43 characters together, i.e. QR version 13 at level Q
 * (69×69 modules), as for `AX1:` passes (shared/pass.ts `MAX_PASS_CHARS`). Also well under the
 * QR driver's 512-byte line limit (docs/devices.md §3.2).
 */
export const MAX_DEVICE_PASS_CHARS = 352;

/** Bytes of the body before the two length-prefixed ids. */
const FIXED_BYTES = 22 + DEVICE_KEY_BYTES;

export interface DeviceCertificatePayload extends PassPayload {
  /** The phone's public key, compressed (33 bytes). */
  deviceKey: Buffer;
  /** How long one frame is valid after its `at`, seconds. */
  frameSeconds: number;
}

export type VerifiedDeviceCertificate = VerifiedPass & { deviceKey: Buffer; frameSeconds: number };

export type DevicePassReason =
  | 'malformed'
  | 'unknown-key'
  | 'bad-signature'
  | 'bad-device-signature'
  | 'pass-expired'
  | 'pass-not-yet-valid'
  | 'frame-expired'
  | 'frame-not-yet-valid';

export type DevicePassCheck =
  | { ok: true; pass: VerifiedDeviceCertificate; frameAt: number }
  | {
      ok: false;
      reason: DevicePassReason;
      /** Present when the cloud's signature is good (whose pass it is), even if the rest is not. */
      pass?: VerifiedDeviceCertificate;
      /** The frame's time (ms), present when the device signature is good. */
      frameAt?: number;
    };

/** A decoded text: byte ranges of the one buffer, nothing verified yet. */
export interface DecodedDevicePass {
  pass: VerifiedDeviceCertificate;
  /** The certificate body (what the cloud signed). */
  body: Buffer;
  cloudSignature: Buffer;
  /** body ‖ cloud signature: the certificate, also the cache key of a verified one. */
  certificate: Buffer;
  /** Frame time, ms. */
  frameAt: number;
  /** certificate ‖ at: what the device signed. */
  frameSigned: Buffer;
  deviceSignature: Buffer;
}

/**
 * The 33-byte compressed form of a P-256 public key given raw (65 bytes, WebCrypto `raw`) or
 * already compressed; throws `PassError` for anything that is not a point on the curve.
 */
export function compressDeviceKey(raw: Uint8Array): Buffer {
  if (raw.length !== RAW_DEVICE_KEY_BYTES && raw.length !== DEVICE_KEY_BYTES) {
    throw new PassError(`device key: ${raw.length} bytes, expected a raw P-256 point (65 or 33 bytes)`);
  }
  try {
    return ECDH.convertKey(Buffer.from(raw), 'prime256v1', undefined, undefined, 'compressed') as Buffer;
  } catch {
    throw new PassError('device key: not a point on P-256');
  }
}

/**
 * The compressed key as a node KeyObject (undefined if it is not a P-256 point). Decompressed with
 * `ECDH.convertKey` and imported as a JWK: about 0.09 ms, against 0.12 ms for the same key as
 * SubjectPublicKeyInfo DER (OpenSSL's decoder framework) — this is on a gate's first-scan path.
 */
export function importDeviceKey(compressed: Uint8Array): KeyObject | undefined {
  if (compressed.length !== DEVICE_KEY_BYTES || (compressed[0] !== 2 && compressed[0] !== 3)) return undefined;
  try {
    const point = ECDH.convertKey(
      Buffer.from(compressed),
      'prime256v1',
      undefined,
      undefined,
      'uncompressed',
    ) as Buffer;
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: point.toString('base64url', 1, 33),
        y: point.toString('base64url', 33, 65),
      },
      format: 'jwk',
    });
  } catch {
    return undefined;
  }
}

/**
 * A public key from its uncompressed point (65 bytes, `04 ‖ x ‖ y`) as a JWK: the cheapest import
 * node offers (≈ 0.06 ms; the decompression `importDeviceKey` adds is ≈ 0.03 ms). For a point the
 * gate decompressed itself when it verified the certificate at sync (edge-agent/device-certificates.ts).
 */
export function importDevicePoint(point: Uint8Array): KeyObject | undefined {
  if (point.length !== RAW_DEVICE_KEY_BYTES || point[0] !== 4) return undefined;
  const bytes = Buffer.from(point.buffer, point.byteOffset, point.byteLength);
  try {
    return createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: bytes.toString('base64url', 1, 33), y: bytes.toString('base64url', 33, 65) },
      format: 'jwk',
    });
  } catch {
    return undefined;
  }
}

/** The certificate body the cloud signs. Exported for tests; callers use `signDeviceCertificate`. */
export function encodeDeviceCertificateBody(payload: DeviceCertificatePayload, kid: number): Buffer {
  const { kind, notBefore, expiresAt, useLimit } = checkedPassFields(payload);
  const { frameSeconds } = payload;
  if (!Number.isInteger(frameSeconds) || frameSeconds < MIN_FRAME_SECONDS || frameSeconds > MAX_FRAME_SECONDS) {
    throw new PassError(
      `frameSeconds: ${frameSeconds} is not an integer in ${MIN_FRAME_SECONDS}..${MAX_FRAME_SECONDS}`,
    );
  }
  if (!importDeviceKey(payload.deviceKey)) throw new PassError('deviceKey: not a compressed P-256 point');
  const person = idBytes('personId', payload.personId);
  const compound = idBytes('compoundId', payload.compoundId);
  const out = Buffer.alloc(FIXED_BYTES + 1 + person.length + 1 + compound.length);
  out.writeUInt8(DEVICE_PASS_VERSION, 0);
  out.writeUInt8(kid, 1);
  out.write(payload.passId, 2, 'hex');
  out.writeUInt8(kind, 10);
  out.writeUInt32BE(notBefore, 11);
  out.writeUInt32BE(expiresAt, 15);
  out.writeUInt16BE(useLimit, 19);
  out.writeUInt8(frameSeconds, 21);
  payload.deviceKey.copy(out, 22);
  let offset = FIXED_BYTES;
  out.writeUInt8(person.length, offset++);
  offset += person.copy(out, offset);
  out.writeUInt8(compound.length, offset++);
  compound.copy(out, offset);
  return out;
}

/** Characters of a device pass text for a binary of `bytes` (base45 plus the prefix). */
function textLength(bytes: number): number {
  return DEVICE_PASS_PREFIX.length + 3 * Math.floor(bytes / 2) + 2 * (bytes % 2);
}

/**
 * Signs a certificate (body ‖ Ed25519 signature) with the cloud's current key. Refuses one whose
 * frames would be longer than `MAX_DEVICE_PASS_CHARS` (ids of more than 43 characters together).
 */
export function signDeviceCertificate(payload: DeviceCertificatePayload, key: SigningKey): Buffer {
  const body = encodeDeviceCertificateBody(payload, key.kid);
  const length = textLength(body.length + CLOUD_SIGNATURE_BYTES + FRAME_BYTES);
  if (length > MAX_DEVICE_PASS_CHARS) {
    throw new PassError(
      `the device pass would be ${length} characters (at most ${MAX_DEVICE_PASS_CHARS}): person and compound ids of ` +
        `${payload.personId.length + payload.compoundId.length} characters together are too long (at most 43)`,
    );
  }
  return Buffer.concat([body, sign(null, body, key.privateKey)]);
}

/**
 * One frame's text: what the phone computes every `FRAME_ROTATE_SECONDS` (docs/passes.md; the page
 * does the same with WebCrypto). `signer` signs bytes with ECDSA P-256/SHA-256, P1363 encoding.
 */
export function buildDevicePassText(certificate: Uint8Array, atMs: number, signer: (data: Buffer) => Buffer): string {
  const frameSigned = Buffer.alloc(certificate.length + 4);
  Buffer.from(certificate).copy(frameSigned, 0);
  frameSigned.writeUInt32BE(seconds('at', atMs), certificate.length);
  const signature = signer(frameSigned);
  if (signature.length !== DEVICE_SIGNATURE_BYTES) throw new PassError('device signature: expected 64 bytes (P1363)');
  return DEVICE_PASS_PREFIX + encodeBase45(Buffer.concat([frameSigned, signature]));
}

/** A node signer for `buildDevicePassText` (tests, simulators, benchmarks). */
export function nodeDeviceSigner(privateKey: KeyObject): (data: Buffer) => Buffer {
  return (data) => sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
}

function readId(bytes: Buffer, offset: number, end: number): { value: string; next: number } | undefined {
  if (offset >= end) return undefined;
  const length = bytes[offset]!;
  const next = offset + 1 + length;
  if (next > end) return undefined;
  const value = bytes.toString('latin1', offset + 1, next);
  return ID_PATTERN.test(value) ? { value, next } : undefined;
}

/** Parses the binary of an `AX2:` text; undefined for anything that is not exactly one well-formed pass. */
export function decodeDevicePassBinary(bytes: Buffer): DecodedDevicePass | undefined {
  const bodyEnd = bytes.length - FRAME_BYTES - CLOUD_SIGNATURE_BYTES;
  if (bodyEnd < FIXED_BYTES + 2) return undefined;
  if (bytes[0] !== DEVICE_PASS_VERSION) return undefined;
  const kind = PASS_KINDS[bytes[10]!];
  if (kind === undefined) return undefined;
  const frameSeconds = bytes[21]!;
  if (frameSeconds < MIN_FRAME_SECONDS || frameSeconds > MAX_FRAME_SECONDS) return undefined;
  const person = readId(bytes, FIXED_BYTES, bodyEnd);
  if (!person) return undefined;
  const compound = readId(bytes, person.next, bodyEnd);
  if (!compound || compound.next !== bodyEnd) return undefined;
  const certEnd = bodyEnd + CLOUD_SIGNATURE_BYTES;
  const useLimit = bytes.readUInt16BE(19);
  const pass: VerifiedDeviceCertificate = {
    kid: bytes[1]!,
    passId: bytes.toString('hex', 2, 10),
    personId: person.value,
    compoundId: compound.value,
    kind,
    notBefore: bytes.readUInt32BE(11) * 1000,
    expiresAt: bytes.readUInt32BE(15) * 1000,
    ...(useLimit > 0 ? { useLimit } : {}),
    deviceKey: bytes.subarray(22, 22 + DEVICE_KEY_BYTES),
    frameSeconds,
  };
  return {
    pass,
    body: bytes.subarray(0, bodyEnd),
    cloudSignature: bytes.subarray(bodyEnd, certEnd),
    certificate: bytes.subarray(0, certEnd),
    frameAt: bytes.readUInt32BE(certEnd) * 1000,
    frameSigned: bytes.subarray(0, certEnd + 4),
    deviceSignature: bytes.subarray(certEnd + 4),
  };
}

/** The longest certificate (body ‖ cloud signature) a frame of at most `MAX_DEVICE_PASS_CHARS` can carry. */
export const MAX_DEVICE_CERTIFICATE_BYTES = ((MAX_DEVICE_PASS_CHARS - DEVICE_PASS_PREFIX.length) / 3) * 2 - FRAME_BYTES;

/**
 * A certificate on its own (body ‖ cloud signature, as the cloud pushes it by sync), decoded with the
 * same strict layout as a scanned frame; undefined when it is not exactly one certificate.
 */
export function decodeDeviceCertificate(certificate: Uint8Array): DecodedDevicePass | undefined {
  if (certificate.length > MAX_DEVICE_CERTIFICATE_BYTES) return undefined;
  // With an empty frame behind it: the frame's fields are not used.
  const bytes = Buffer.alloc(certificate.length + FRAME_BYTES);
  bytes.set(certificate);
  return decodeDevicePassBinary(bytes);
}

/**
 * The cloud's signature of a certificate on its own, checked as at a scan (`verifyDeviceCertificate`),
 * plus the device key decompressed (65 bytes), for `importDevicePoint`. Never throws.
 */
export function verifyDeviceCertificateBytes(
  certificate: Uint8Array,
  ring: KeyRing,
): { ok: true; pass: VerifiedDeviceCertificate; point: Buffer } | { ok: false; reason: CertificateFault } {
  const decoded = decodeDeviceCertificate(certificate);
  if (!decoded) return { ok: false, reason: 'malformed' };
  const signed = checkCloudSignature(decoded, ring);
  if (!signed.ok) return signed;
  try {
    const point = ECDH.convertKey(decoded.pass.deviceKey, 'prime256v1', undefined, undefined, 'uncompressed') as Buffer;
    const pass = { ...decoded.pass, deviceKey: Buffer.from(decoded.pass.deviceKey) };
    return { ok: true, pass, point };
  } catch {
    return { ok: false, reason: 'malformed' };
  }
}

/** Decodes an `AX2:` text (prefix, length, base45, layout); undefined when it is not one. */
export function decodeDevicePass(text: string): DecodedDevicePass | undefined {
  if (typeof text !== 'string' || text.length > MAX_DEVICE_PASS_CHARS || !text.startsWith(DEVICE_PASS_PREFIX)) {
    return undefined;
  }
  const bytes = tryDecodeBase45(text.slice(DEVICE_PASS_PREFIX.length));
  return bytes && decodeDevicePassBinary(bytes);
}

export function isDevicePassText(text: string): boolean {
  return typeof text === 'string' && text.startsWith(DEVICE_PASS_PREFIX);
}

export type CertificateFault = 'unknown-key' | 'bad-signature' | 'malformed';

/** The cloud half: kid and Ed25519 signature; the device key imported. Independent of time. */
export type CertificateCheck =
  | { ok: true; pass: VerifiedDeviceCertificate; deviceKey: KeyObject; cloudKey: KeyObject }
  | { ok: false; reason: CertificateFault };

/** The cloud's Ed25519 signature of the certificate, with the ring's key for its kid. */
function checkCloudSignature(
  decoded: DecodedDevicePass,
  ring: KeyRing,
): { ok: true; cloudKey: KeyObject } | { ok: false; reason: CertificateFault } {
  const cloudKey = ring.get(decoded.pass.kid);
  if (!cloudKey) return { ok: false, reason: 'unknown-key' };
  if (!verify(null, decoded.body, cloudKey, decoded.cloudSignature)) return { ok: false, reason: 'bad-signature' };
  return { ok: true, cloudKey };
}

export function verifyDeviceCertificate(decoded: DecodedDevicePass, ring: KeyRing): CertificateCheck {
  const signed = checkCloudSignature(decoded, ring);
  if (!signed.ok) return signed;
  const { cloudKey } = signed;
  // The cloud only signs points on the curve (compressDeviceKey), so this fails only for a bug or a forged key.
  const deviceKey = importDeviceKey(decoded.pass.deviceKey);
  if (!deviceKey) return { ok: false, reason: 'malformed' };
  return { ok: true, pass: decoded.pass, deviceKey, cloudKey };
}

/**
 * The device half and both time windows, after the certificate verified. Order: the device's
 * signature (a forged frame says so whatever its times), the certificate's validity, then the
 * frame's window widened by the gate's clock tolerance `skewMs` on both sides:
 * `at − skew ≤ now < at + frameSeconds + skew`.
 */
export function checkDeviceFrame(
  decoded: DecodedDevicePass,
  pass: VerifiedDeviceCertificate,
  deviceKey: KeyObject,
  nowMs: number,
  skewMs: number,
): DevicePassCheck {
  const signed = verify(
    'sha256',
    decoded.frameSigned,
    { key: deviceKey, dsaEncoding: 'ieee-p1363' },
    decoded.deviceSignature,
  );
  if (!signed) return { ok: false, reason: 'bad-device-signature', pass };
  const frameAt = decoded.frameAt;
  if (nowMs < pass.notBefore) return { ok: false, reason: 'pass-not-yet-valid', pass, frameAt };
  if (nowMs >= pass.expiresAt) return { ok: false, reason: 'pass-expired', pass, frameAt };
  if (nowMs < frameAt - skewMs) return { ok: false, reason: 'frame-not-yet-valid', pass, frameAt };
  if (nowMs >= frameAt + pass.frameSeconds * 1000 + skewMs)
    return { ok: false, reason: 'frame-expired', pass, frameAt };
  return { ok: true, pass, frameAt };
}

/**
 * Never throws. `skewMs` is the gate's clock tolerance (edge-agent/gate-clock.ts). In order:
 * malformed → unknown-key → bad-signature (cloud) → bad-device-signature → pass-not-yet-valid /
 * pass-expired → frame-not-yet-valid / frame-expired. Replays are the gate's to refuse
 * (`frame-replayed`, edge-agent/decision.ts): that needs its memory of frames already used.
 */
export function verifyDevicePass(text: string, ring: KeyRing, nowMs: number, skewMs: number): DevicePassCheck {
  const decoded = decodeDevicePass(text);
  if (!decoded) return { ok: false, reason: 'malformed' };
  const certificate = verifyDeviceCertificate(decoded, ring);
  if (!certificate.ok) return { ok: false, reason: certificate.reason };
  return checkDeviceFrame(decoded, certificate.pass, certificate.deviceKey, nowMs, skewMs);
}

function segments(text: string): QRCode.QRCodeSegment[] {
  return [{ data: text, mode: 'alphanumeric' }];
}

/** The QR symbol of a frame (version, modules), same level as `AX1:` passes. */
export function createDevicePassQr(text: string): QRCode.QRCode {
  return qrcode().create(segments(text), { errorCorrectionLevel: PASS_QR_ERROR_CORRECTION });
}
