import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ROLES } from '../../shared/enums.ts';
import { generateSigningKey, type KeyRing } from '../../shared/keys.ts';
import { signToken, type TokenClaims, verifyToken } from '../../shared/token.ts';

const key1 = generateSigningKey(1);
const key2 = generateSigningKey(2);
const stranger = generateSigningKey(9);
const ring: KeyRing = new Map([[1, key1.publicKey]]);
const rotatedRing: KeyRing = new Map([
  [1, key1.publicKey],
  [2, key2.publicKey],
]);
const NOW = Date.UTC(2026, 0, 15, 8, 0, 0);

const claimsArb: fc.Arbitrary<TokenClaims> = fc.record(
  {
    sub: fc.string({ minLength: 1, maxLength: 40 }),
    role: fc.constantFrom(...ROLES),
    compound: fc.stringMatching(/^[a-z0-9-]{1,20}$/),
    exp: fc.integer({ min: NOW + 1, max: NOW + 10 * 365 * 86_400_000 }),
    iat: fc.integer({ min: 0, max: NOW }),
    jti: fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/),
  },
  { requiredKeys: ['sub', 'role', 'exp', 'iat', 'jti'] },
);

function flipChar(text: string, index: number, to: string): string {
  return text.slice(0, index) + to + text.slice(index + 1);
}

describe('device/user tokens', () => {
  it('round-trip: what is signed verifies with the same claims (property)', () => {
    fc.assert(
      fc.property(claimsArb, (claims) => {
        const check = verifyToken(signToken(claims, key1), ring, NOW);
        expect(check).toEqual({ ok: true, claims, kid: 1 });
      }),
      { numRuns: 200 },
    );
  });

  it('fills iat and jti when not given, and gives each token its own jti', () => {
    const a = verifyToken(signToken({ sub: 'gate-1', role: 'gate', compound: 'c1', exp: NOW + 1000 }, key1), ring, NOW);
    const b = verifyToken(signToken({ sub: 'gate-1', role: 'gate', compound: 'c1', exp: NOW + 1000 }, key1), ring, NOW);
    expect(a.ok && b.ok).toBe(true);
    if (a.ok && b.ok) {
      expect(a.claims.jti).not.toBe(b.claims.jti);
      expect(a.claims.iat).toBeGreaterThan(NOW - 1);
    }
  });

  it('has the compact form <base64url(claims with kid)>.<base64url(signature)>', () => {
    const token = signToken({ sub: 'admin', role: 'admin', exp: NOW + 1000, iat: NOW, jti: 'j1' }, key1);
    const [body, sig] = token.split('.');
    expect(JSON.parse(Buffer.from(body!, 'base64url').toString())).toEqual({
      kid: 1,
      sub: 'admin',
      role: 'admin',
      exp: NOW + 1000,
      iat: NOW,
      jti: 'j1',
    });
    expect(Buffer.from(sig!, 'base64url')).toHaveLength(64);
  });

  it('rejects every single-character change of the token (property)', () => {
    const token = signToken({ sub: 'gate-7', role: 'gate', compound: 'sunny-garden', exp: NOW + 60_000 }, key1);
    fc.assert(
      fc.property(
        fc.nat({ max: token.length - 1 }),
        fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ '),
        (index, to) => {
          fc.pre(token[index] !== to);
          expect(verifyToken(flipChar(token, index, to), ring, NOW).ok).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('gives each failure its reason', () => {
    const claims = { sub: 'obs', role: 'observer' as const, exp: NOW + 1000 };
    const token = signToken(claims, key1);
    expect(verifyToken(token, ring, NOW + 1000)).toEqual({ ok: false, reason: 'expired' });
    expect(verifyToken(token, ring, NOW + 999).ok).toBe(true);
    expect(verifyToken(signToken(claims, stranger), ring, NOW)).toEqual({ ok: false, reason: 'unknown-key' });
    // A body re-signed by a different key but claiming kid 1.
    const [body] = token.split('.');
    const forged = signToken(claims, { ...stranger, kid: 1 }).split('.')[1];
    expect(verifyToken(`${body}.${forged}`, ring, NOW)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('after rotation, tokens of the old key still verify and the new key signs', () => {
    const old = signToken({ sub: 'cloud', role: 'cloud', exp: NOW + 1000 }, key1);
    const fresh = signToken({ sub: 'cloud', role: 'cloud', exp: NOW + 1000 }, key2);
    expect(verifyToken(old, rotatedRing, NOW)).toMatchObject({ ok: true, kid: 1 });
    expect(verifyToken(fresh, rotatedRing, NOW)).toMatchObject({ ok: true, kid: 2 });
    expect(verifyToken(fresh, ring, NOW)).toEqual({ ok: false, reason: 'unknown-key' });
  });

  it('calls anything that is not a well-formed token malformed and never throws', () => {
    const body = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const sig = Buffer.alloc(64).toString('base64url');
    const base = { kid: 1, sub: 'a', role: 'admin', exp: NOW + 1, iat: NOW, jti: 'x' };
    const bad = [
      '',
      '.',
      'abc',
      'a.b.c',
      `${body(base)}.${sig}.`,
      `${body(base)}.${sig.slice(1)}`,
      `${body(base)}=.${sig}`,
      `${Buffer.from('not json').toString('base64url')}.${sig}`,
      `${body({ ...base, role: 'root' })}.${sig}`,
      `${body({ ...base, kid: 0 })}.${sig}`,
      `${body({ ...base, extra: 1 })}.${sig}`,
      `${body({ ...base, compound: 'A/B' })}.${sig}`,
      `${body([base])}.${sig}`,
    ];
    for (const token of bad) expect(verifyToken(token, ring, NOW), token).toEqual({ ok: false, reason: 'malformed' });
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        expect(verifyToken(text, ring, NOW).ok).toBe(false);
      }),
    );
  });

  it('refuses to sign claims outside the schema', () => {
    expect(() => signToken({ sub: '', role: 'admin', exp: NOW }, key1)).toThrow();
    expect(() => signToken({ sub: 'a', role: 'root' as 'admin', exp: NOW }, key1)).toThrow();
  });
});
