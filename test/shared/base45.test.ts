import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BASE45_ALPHABET, Base45Error, decodeBase45, encodeBase45, tryDecodeBase45 } from '../../shared/base45.ts';

const bytes = (text: string) => Buffer.from(text, 'utf8');

describe('base45 (RFC 9285)', () => {
  it('encodes and decodes the RFC 9285 §4.3 and §4.4 examples', () => {
    const examples: [string, string][] = [
      ['AB', 'BB8'],
      ['Hello!!', '%69 VD92EX0'],
      ['base-45', 'UJCLQE7W581'],
      ['ietf!', 'QED8WEX0'],
    ];
    for (const [plain, encoded] of examples) {
      expect(encodeBase45(bytes(plain))).toBe(encoded);
      expect(decodeBase45(encoded).toString('utf8')).toBe(plain);
    }
  });

  it('encodes the empty input and the edge values of both group sizes', () => {
    expect(encodeBase45(new Uint8Array())).toBe('');
    expect(decodeBase45('')).toEqual(Buffer.alloc(0));
    expect(encodeBase45(Uint8Array.of(0xff, 0xff))).toBe('FGW');
    expect(encodeBase45(Uint8Array.of(0xff))).toBe('U5');
    expect(encodeBase45(Uint8Array.of(0, 0))).toBe('000');
  });

  it('round-trips any bytes and uses only the alphabet (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (input) => {
        const text = encodeBase45(input);
        expect(text.length).toBe(Math.floor(input.length / 2) * 3 + (input.length % 2) * 2);
        expect([...text].every((c) => BASE45_ALPHABET.includes(c))).toBe(true);
        expect(new Uint8Array(decodeBase45(text))).toEqual(input);
      }),
    );
  });

  it('rejects characters outside the alphabet, dangling characters and groups out of range', () => {
    // RFC 9285 §4.2 "GGW" = 65536 and "ZZ" > 255 are out of range; lower case is not in the alphabet.
    for (const bad of ['GGW', 'ZZZ', ':::', 'ZZ', 'V5', 'A', 'BB8A', 'bb8', 'BB#', 'BB\n', 'AB~']) {
      expect(() => decodeBase45(bad), bad).toThrow(Base45Error);
      expect(tryDecodeBase45(bad)).toBeUndefined();
    }
  });

  it('decoding is canonical: every accepted text re-encodes to itself (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...BASE45_ALPHABET), maxLength: 60 }), (text) => {
        const decoded = tryDecodeBase45(text);
        if (decoded) expect(encodeBase45(decoded)).toBe(text);
      }),
    );
  });
});
