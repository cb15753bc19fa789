import fc from 'fast-check';
import QRCode from 'qrcode';
import { describe, expect, it } from 'vitest';
import { decodeBase45, encodeBase45 } from '../../shared/base45.ts';
import { PASS_KINDS } from '../../shared/enums.ts';
import { generateSigningKey, type KeyRing } from '../../shared/keys.ts';
import {
  createPassQr,
  encodePassPayload,
  newPassId,
  MAX_PASS_CHARS,
  PASS_PREFIX,
  PASS_QR_ERROR_CORRECTION,
  PassError,
  type PassPayload,
  renderPassPng,
  renderPassSvg,
  signPass,
  verifyPass,
} from '../../shared/pass.ts';

const key1 = generateSigningKey(1);
const key2 = generateSigningKey(2);
const stranger = generateSigningKey(200);
const ring: KeyRing = new Map([[1, key1.publicKey]]);
const rotatedRing: KeyRing = new Map([
  [1, key1.publicKey],
  [2, key2.publicKey],
]);

const NOW = Date.UTC(2026, 0, 15, 8, 0, 0);
const DAY = 86_400_000;

const typical: PassPayload = {
  passId: '0123456789abcdef',
  personId: 'p-000123',
  compoundId: 'sunny-garden',
  kind: 'resident',
  notBefore: NOW - DAY,
  expiresAt: NOW + 365 * DAY,
};

const id = (max: number) => fc.stringMatching(new RegExp(`^[a-z0-9-]{1,${max}}$`));
const seconds = (min: number, max: number) => fc.integer({ min, max }).map((s) => s * 1000);

/** Payloads valid at NOW, with second-precision times as they come back from the binary. */
const payloadArb: fc.Arbitrary<PassPayload> = fc
  .record(
    {
      passId: fc.stringMatching(/^[0-9a-f]{16}$/),
      personId: id(64),
      compoundId: id(64),
      kind: fc.constantFrom(...PASS_KINDS),
      notBefore: seconds(0, NOW / 1000),
      expiresAt: seconds(NOW / 1000 + 1, 0xffff_ffff),
      useLimit: fc.integer({ min: 1, max: 0xffff }),
    },
    { requiredKeys: ['passId', 'personId', 'compoundId', 'kind', 'notBefore', 'expiresAt'] },
  )
  // Longer ids together do not fit in MAX_PASS_CHARS (tested below).
  .filter((p) => p.personId.length + p.compoundId.length <= 43)
  .filter((p) => p.expiresAt > p.notBefore);

function binaryOf(text: string): Buffer {
  return decodeBase45(text.slice(PASS_PREFIX.length));
}

function textOf(binary: Uint8Array): string {
  return PASS_PREFIX + encodeBase45(binary);
}

describe('QR pass', () => {
  it('round-trip: a signed pass verifies to the same payload and kid (property)', () => {
    fc.assert(
      fc.property(payloadArb, (payload) => {
        const text = signPass(payload, key1);
        expect(text.startsWith(PASS_PREFIX)).toBe(true);
        expect(verifyPass(text, ring, NOW)).toEqual({ ok: true, pass: { ...payload, kid: 1 } });
      }),
      { numRuns: 200 },
    );
  });

  it('truncates times to whole seconds', () => {
    const text = signPass({ ...typical, notBefore: NOW - 1, expiresAt: NOW + 1999 }, key1);
    expect(verifyPass(text, ring, NOW)).toMatchObject({
      ok: true,
      pass: { notBefore: NOW - 1000, expiresAt: NOW + 1000 },
    });
  });

  it('rejects ANY single-byte change of the signed binary (property)', () => {
    const text = signPass({ ...typical, useLimit: 2 }, key1);
    const binary = binaryOf(text);
    fc.assert(
      fc.property(fc.nat({ max: binary.length - 1 }), fc.integer({ min: 1, max: 255 }), (index, delta) => {
        const changed = Buffer.from(binary);
        changed[index] = (changed[index]! + delta) & 0xff;
        expect(verifyPass(textOf(changed), ring, NOW).ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('rejects ANY single-character change of the text (property)', () => {
    const text = signPass(typical, key1);
    const alphabet = [...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:abcxyz#\n'];
    fc.assert(
      fc.property(fc.nat({ max: text.length - 1 }), fc.constantFrom(...alphabet), (index, to) => {
        fc.pre(text[index] !== to);
        const changed = text.slice(0, index) + to + text.slice(index + 1);
        expect(verifyPass(changed, ring, NOW).ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('gives the reason and the decoded pass outside the time window', () => {
    const text = signPass(typical, key1);
    const pass = { ...typical, kid: 1 };
    expect(verifyPass(text, ring, typical.notBefore)).toEqual({ ok: true, pass });
    expect(verifyPass(text, ring, typical.notBefore - 1)).toEqual({ ok: false, reason: 'pass-not-yet-valid', pass });
    expect(verifyPass(text, ring, typical.expiresAt - 1)).toEqual({ ok: true, pass });
    expect(verifyPass(text, ring, typical.expiresAt)).toEqual({ ok: false, reason: 'pass-expired', pass });
  });

  it('unknown kid gives unknown-key; a forged signature under a known kid gives bad-signature', () => {
    expect(verifyPass(signPass(typical, stranger), ring, NOW)).toEqual({ ok: false, reason: 'unknown-key' });
    const forged = signPass(typical, { ...stranger, kid: 1 });
    expect(verifyPass(forged, ring, NOW)).toEqual({ ok: false, reason: 'bad-signature' });
    const binary = binaryOf(signPass(typical, key1));
    binary[binary.length - 1]! ^= 1;
    expect(verifyPass(textOf(binary), ring, NOW)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('after rotation, passes of the old key still verify; the old ring does not know the new key', () => {
    const old = signPass(typical, key1);
    const fresh = signPass(typical, key2);
    expect(verifyPass(old, rotatedRing, NOW)).toMatchObject({ ok: true, pass: { kid: 1 } });
    expect(verifyPass(fresh, rotatedRing, NOW)).toMatchObject({ ok: true, pass: { kid: 2 } });
    expect(verifyPass(fresh, ring, NOW)).toEqual({ ok: false, reason: 'unknown-key' });
  });

  it('calls malformed input malformed and never throws', () => {
    const text = signPass(typical, key1);
    const binary = binaryOf(text);
    const body = encodePassPayload(typical, 1);
    const withVersion = (v: number) => {
      const b = Buffer.from(binary);
      b[0] = v;
      return textOf(b);
    };
    const bad = [
      '',
      'AX1:',
      text.slice(PASS_PREFIX.length),
      `AX2:${text.slice(4)}`,
      `ax1:${text.slice(4)}`,
      `${text}0`, // dangling base45 character
      `${text.slice(0, -3)}GGW`, // base45 group above 65535
      text.toLowerCase(),
      textOf(binary.subarray(0, binary.length - 1)), // truncated signature
      textOf(binary.subarray(0, 30)), // truncated payload
      textOf(Buffer.concat([binary, Buffer.of(0)])), // trailing byte
      textOf(Buffer.concat([body, Buffer.of(0), binary.subarray(body.length)])), // gap before the signature
      withVersion(0),
      withVersion(2),
      'https://example.com/',
    ];
    for (const input of bad) expect(verifyPass(input, ring, NOW), input).toEqual({ ok: false, reason: 'malformed' });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(verifyPass(textOf(bytes), ring, NOW).ok).toBe(false);
      }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 250 }), (s) => {
        expect(verifyPass(PASS_PREFIX + s, ring, NOW).ok).toBe(false);
      }),
    );
  });

  it('refuses to sign what the binary cannot carry', () => {
    const bad: Partial<PassPayload>[] = [
      { passId: 'XYZ' },
      { passId: '0123456789ABCDEF' },
      { personId: 'P 1' },
      { compoundId: '' },
      { kind: 'guest' as 'visitor' },
      { useLimit: 0 },
      { useLimit: 70_000 },
      { useLimit: 1.5 },
      { notBefore: -1000 },
      { expiresAt: 2 ** 32 * 1000 },
      { expiresAt: typical.notBefore },
    ];
    for (const change of bad) expect(() => signPass({ ...typical, ...change }, key1)).toThrow(PassError);
  });

  it('refuses to sign a pass over 200 characters, and calls a longer text malformed', () => {
    const fits = signPass({ ...typical, personId: 'p'.repeat(31), compoundId: 'c'.repeat(12), useLimit: 9 }, key1);
    expect(fits.length).toBeLessThanOrEqual(MAX_PASS_CHARS);
    for (const [personId, compoundId] of [
      ['p'.repeat(32), 'c'.repeat(12)],
      ['p'.repeat(64), 'c'.repeat(64)],
    ] as const) {
      expect(() => signPass({ ...typical, personId, compoundId }, key1)).toThrow(/too long \(at most 43\)/);
    }
    const long = `${PASS_PREFIX}${encodeBase45(Buffer.alloc(140, 7))}`;
    expect(long.length).toBeGreaterThan(MAX_PASS_CHARS);
    expect(verifyPass(long, ring, NOW)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('new pass ids are 16 lower-case hex digits', () => {
    expect(newPassId()).toMatch(/^[0-9a-f]{16}$/);
    expect(newPassId()).not.toBe(newPassId());
  });

  it('fits the size budget: ≤ 200 characters for realistic ids, QR version ≤ 10, alphanumeric mode', () => {
    const realistic: [string, string][] = [
      ['p-000123', 'sunny-garden'],
      ['a1b2c3d4e5f6', 'sunny-garden'],
      ['a1b2c3d4e5f6', 'a1b2c3d4e5f6'],
    ];
    for (const [personId, compoundId] of realistic) {
      for (const kind of PASS_KINDS) {
        const text = signPass({ ...typical, personId, compoundId, kind, passId: newPassId(), useLimit: 65_535 }, key1);
        expect(text.length).toBeLessThanOrEqual(200);
        const auto = QRCode.create(text, { errorCorrectionLevel: PASS_QR_ERROR_CORRECTION });
        expect(auto.version).toBeLessThanOrEqual(10);
        const symbol = createPassQr(text);
        expect(symbol.version).toBeLessThanOrEqual(10);
        expect(symbol.errorCorrectionLevel.bit).toBe(
          QRCode.create('x', { errorCorrectionLevel: 'Q' }).errorCorrectionLevel.bit,
        );
        expect(symbol.segments.map((s) => s.mode.id)).toEqual(['Alphanumeric']);
      }
    }
    const typicalText = signPass(typical, key1);
    expect(typicalText).toHaveLength(165);
    expect(createPassQr(typicalText).version).toBe(9);
  });

  it('renders SVG and PNG', async () => {
    const text = signPass(typical, key1);
    const svg = await renderPassSvg(text);
    expect(svg).toMatch(/^<svg[^>]*viewBox="0 0 61 61"/); // version 9 = 53 modules + 2 × 4 quiet zone
    const png = await renderPassPng(text);
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  });
});
