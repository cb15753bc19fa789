/**
 * The device pass codec and its verification (shared/device-pass.ts, docs/passes.md "Device passes"):
 * round trip, exact layout, every refusal in its order, strict parsing of hostile texts, and the
 * QR symbol it renders to.
 */
import { generateKeyPairSync, type KeyObject, webcrypto } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase45, encodeBase45 } from '../../shared/base45.ts';
import {
  buildDevicePassText,
  CLOUD_SIGNATURE_BYTES,
  compressDeviceKey,
  createDevicePassQr,
  DEFAULT_FRAME_SECONDS,
  DEVICE_PASS_PREFIX,
  type DeviceCertificatePayload,
  decodeDevicePass,
  FRAME_BYTES,
  MAX_DEVICE_PASS_CHARS,
  nodeDeviceSigner,
  signDeviceCertificate,
  verifyDevicePass,
} from '../../shared/device-pass.ts';
import { generateSigningKey, type KeyRing } from '../../shared/keys.ts';
import { PassError } from '../../shared/pass.ts';

const cloud = generateSigningKey(3);
const impostor = generateSigningKey(3);
const ring: KeyRing = new Map([[3, cloud.publicKey]]);
const NOW = Date.UTC(2026, 11, 5, 1, 0, 0);
const SKEW = 60_000;
const DAY = 86_400_000;

function rawKey(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  return Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
}

const phone = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const thief = generateKeyPairSync('ec', { namedCurve: 'P-256' });

const payload = (over: Partial<DeviceCertificatePayload> = {}): DeviceCertificatePayload => ({
  passId: '0123456789abcdef',
  personId: 'p-000123',
  compoundId: 'sunny-garden',
  kind: 'resident',
  notBefore: NOW - DAY,
  expiresAt: NOW + 30 * DAY,
  frameSeconds: DEFAULT_FRAME_SECONDS,
  deviceKey: compressDeviceKey(rawKey(phone.publicKey)),
  ...over,
});

const frame = (cert: Buffer, at = NOW, signer: KeyObject = phone.privateKey) =>
  buildDevicePassText(cert, at, nodeDeviceSigner(signer));

describe('device pass codec', () => {
  it('round-trip: a frame of a signed certificate verifies to its payload, kid and frame time', () => {
    const cert = signDeviceCertificate(payload({ useLimit: 3 }), cloud);
    const text = frame(cert, NOW - 3_000);
    const check = verifyDevicePass(text, ring, NOW, SKEW);
    expect(check.ok).toBe(true);
    if (!check.ok) return;
    expect(check.frameAt).toBe(NOW - 3_000);
    const { deviceKey, ...rest } = check.pass;
    const { deviceKey: expectedKey, ...expected } = payload({ useLimit: 3 });
    expect(rest).toEqual({ ...expected, kid: 3 });
    expect(Buffer.compare(deviceKey, expectedKey)).toBe(0);
  });

  it('round-trip over generated ids, kinds and times (property)', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9-]{1,20}$/),
        fc.stringMatching(/^[a-z0-9-]{1,23}$/),
        fc.constantFrom('resident', 'visitor', 'exit-permit' as const),
        fc.integer({ min: 5, max: 120 }),
        fc.integer({ min: 0, max: 29_999 }),
        (personId, compoundId, kind, frameSeconds, age) => {
          const cert = signDeviceCertificate(payload({ personId, compoundId, kind, frameSeconds }), cloud);
          const text = frame(cert, NOW - age);
          expect(text.length).toBeLessThanOrEqual(MAX_DEVICE_PASS_CHARS);
          const check = verifyDevicePass(text, ring, NOW, SKEW);
          expect(check).toMatchObject({ ok: true, pass: { personId, compoundId, kind, frameSeconds } });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('has the documented layout: body 57 + p + c bytes, cloud signature, at, device signature', () => {
    const cert = signDeviceCertificate(payload(), cloud);
    const bytes = decodeBase45(frame(cert, NOW).slice(DEVICE_PASS_PREFIX.length));
    const p = 'p-000123'.length;
    const c = 'sunny-garden'.length;
    expect(cert.length).toBe(57 + p + c + CLOUD_SIGNATURE_BYTES);
    expect(bytes.length).toBe(cert.length + FRAME_BYTES);
    expect(bytes[0]).toBe(2);
    expect(bytes[1]).toBe(3);
    expect(bytes.toString('hex', 2, 10)).toBe('0123456789abcdef');
    expect(bytes[21]).toBe(DEFAULT_FRAME_SECONDS);
    expect([2, 3]).toContain(bytes[22]);
    expect(bytes.readUInt32BE(cert.length)).toBe(NOW / 1000);
  });

  it('takes the raw key WebCrypto exports, and refuses a point off the curve or a wrong length', async () => {
    const pair = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const raw = Buffer.from(await webcrypto.subtle.exportKey('raw', pair.publicKey));
    expect(raw.length).toBe(65);
    const compressed = compressDeviceKey(raw);
    expect(compressed.length).toBe(33);
    // A frame signed by WebCrypto (what the phone does) verifies at the gate.
    const cert = signDeviceCertificate(payload({ deviceKey: compressed }), cloud);
    const signed = Buffer.alloc(cert.length + 4);
    cert.copy(signed);
    signed.writeUInt32BE(NOW / 1000, cert.length);
    const signature = Buffer.from(
      await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, signed),
    );
    const text = DEVICE_PASS_PREFIX + encodeBase45(Buffer.concat([signed, signature]));
    expect(verifyDevicePass(text, ring, NOW, SKEW).ok).toBe(true);

    const offCurve = Buffer.from(raw);
    offCurve[64] = offCurve[64]! ^ 1;
    expect(() => compressDeviceKey(offCurve)).toThrow(PassError);
    expect(() => compressDeviceKey(raw.subarray(0, 64))).toThrow(PassError);
  });

  it('refuses to sign ids too long for the QR budget, bad frame lengths and bad keys', () => {
    expect(() =>
      signDeviceCertificate(payload({ personId: 'p'.repeat(31), compoundId: 'c'.repeat(13) }), cloud),
    ).toThrow(/at most 43/);
    expect(() =>
      signDeviceCertificate(payload({ personId: 'p'.repeat(30), compoundId: 'c'.repeat(13) }), cloud),
    ).not.toThrow();
    expect(() => signDeviceCertificate(payload({ frameSeconds: 4 }), cloud)).toThrow(PassError);
    expect(() => signDeviceCertificate(payload({ frameSeconds: 121 }), cloud)).toThrow(PassError);
    expect(() =>
      signDeviceCertificate(payload({ deviceKey: Buffer.from([2, ...Array(32).fill(0xff)]) }), cloud),
    ).toThrow(PassError);
  });
});

describe('device pass verification: every refusal, in order', () => {
  const cert = signDeviceCertificate(payload(), cloud);

  it('forged device signature (a frame signed by another key) → bad-device-signature', () => {
    expect(verifyDevicePass(frame(cert, NOW, thief.privateKey), ring, NOW, SKEW)).toMatchObject({
      ok: false,
      reason: 'bad-device-signature',
    });
  });

  it('a frame whose time was changed after signing → bad-device-signature', () => {
    const bytes = decodeBase45(frame(cert, NOW - 100_000).slice(4));
    bytes.writeUInt32BE(NOW / 1000, cert.length);
    const text = DEVICE_PASS_PREFIX + encodeBase45(bytes);
    expect(verifyDevicePass(text, ring, NOW, SKEW)).toMatchObject({ ok: false, reason: 'bad-device-signature' });
  });

  it('forged certificate (signed by another key under the same kid) → bad-signature', () => {
    const forged = signDeviceCertificate(payload(), impostor);
    expect(verifyDevicePass(frame(forged), ring, NOW, SKEW)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('a certificate whose person or device key was swapped → bad-signature', () => {
    const bytes = Buffer.from(cert);
    bytes[23] = bytes[23]! ^ 1; // a byte of the device key
    expect(verifyDevicePass(frame(bytes), ring, NOW, SKEW)).toMatchObject({ ok: false });
    const other = signDeviceCertificate(payload({ deviceKey: compressDeviceKey(rawKey(thief.publicKey)) }), cloud);
    // The thief's key in a genuine certificate's place: the cloud's signature no longer matches.
    const spliced = Buffer.concat([other.subarray(0, other.length - 64), cert.subarray(cert.length - 64)]);
    expect(verifyDevicePass(frame(spliced, NOW, thief.privateKey), ring, NOW, SKEW)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('unknown kid → unknown-key', () => {
    const stranger = generateSigningKey(9);
    expect(verifyDevicePass(frame(signDeviceCertificate(payload(), stranger)), ring, NOW, SKEW)).toEqual({
      ok: false,
      reason: 'unknown-key',
    });
  });

  it('expired window: at + frameSeconds + skew is the first refused instant (a screenshot)', () => {
    const at = NOW - 30_000 - SKEW;
    expect(verifyDevicePass(frame(cert, at + 1000), ring, NOW, SKEW).ok).toBe(true);
    expect(verifyDevicePass(frame(cert, at), ring, NOW, SKEW)).toMatchObject({
      ok: false,
      reason: 'frame-expired',
      frameAt: at,
    });
  });

  it('future window beyond the skew → frame-not-yet-valid; at the skew it passes', () => {
    expect(verifyDevicePass(frame(cert, NOW + SKEW), ring, NOW, SKEW).ok).toBe(true);
    expect(verifyDevicePass(frame(cert, NOW + SKEW + 1000), ring, NOW, SKEW)).toMatchObject({
      ok: false,
      reason: 'frame-not-yet-valid',
    });
    expect(verifyDevicePass(frame(cert, NOW + 2000), ring, NOW, 1000)).toMatchObject({ reason: 'frame-not-yet-valid' });
  });

  it('the certificate window comes before the frame window; the device signature before both', () => {
    const old = signDeviceCertificate(payload({ notBefore: NOW - 2 * DAY, expiresAt: NOW - DAY }), cloud);
    expect(verifyDevicePass(frame(old, NOW - 10 * DAY), ring, NOW, SKEW)).toMatchObject({ reason: 'pass-expired' });
    const later = signDeviceCertificate(payload({ notBefore: NOW + DAY, expiresAt: NOW + 2 * DAY }), cloud);
    expect(verifyDevicePass(frame(later), ring, NOW, SKEW)).toMatchObject({ reason: 'pass-not-yet-valid' });
    expect(verifyDevicePass(frame(old, NOW, thief.privateKey), ring, NOW, SKEW)).toMatchObject({
      reason: 'bad-device-signature',
    });
  });

  it('hostile texts are malformed and never throw (property)', () => {
    const good = frame(cert);
    const bytes = decodeBase45(good.slice(4));
    expect(verifyDevicePass(`${good}A`, ring, NOW, SKEW).ok).toBe(false);
    expect(verifyDevicePass(good.toLowerCase(), ring, NOW, SKEW)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyDevicePass(`AX1:${good.slice(4)}`, ring, NOW, SKEW)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyDevicePass(`${good}${'0'.repeat(400)}`, ring, NOW, SKEW)).toEqual({ ok: false, reason: 'malformed' });
    // Trailing and missing bytes: the layout must end exactly at the device signature.
    for (const cut of [bytes.subarray(0, -1), Buffer.concat([bytes, Buffer.alloc(1)])]) {
      expect(verifyDevicePass(DEVICE_PASS_PREFIX + encodeBase45(cut), ring, NOW, SKEW).ok).toBe(false);
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 240 }), (random) => {
        const text = DEVICE_PASS_PREFIX + encodeBase45(random);
        expect(verifyDevicePass(text, ring, NOW, SKEW).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const copy = Buffer.from(bytes);
        copy[at] = copy[at]! ^ flip;
        expect(verifyDevicePass(DEVICE_PASS_PREFIX + encodeBase45(copy), ring, NOW, SKEW).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('decodes only texts that are exactly one device pass', () => {
    expect(decodeDevicePass(frame(cert))?.pass.personId).toBe('p-000123');
    expect(decodeDevicePass('AX2:')).toBeUndefined();
    expect(decodeDevicePass(42 as unknown as string)).toBeUndefined();
  });
});

describe('device pass QR symbol', () => {
  it('a realistic frame is one alphanumeric segment of version 13 at level Q, the longest too', () => {
    const realistic = frame(signDeviceCertificate(payload(), cloud));
    const longest = frame(
      signDeviceCertificate(payload({ personId: 'p'.repeat(21), compoundId: 'c'.repeat(22) }), cloud),
    );
    expect(realistic.length).toBe(318);
    expect(longest.length).toBe(MAX_DEVICE_PASS_CHARS);
    for (const text of [realistic, longest]) {
      const qr = createDevicePassQr(text);
      expect(qr.version).toBe(13);
      expect(qr.modules.size).toBe(69);
      expect(qr.segments).toHaveLength(1);
      expect(qr.segments[0]!.mode.id).toBe('Alphanumeric');
    }
  });
});
