import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeWiegand26,
  encodeWiegand26,
  packBits,
  unpackBits,
  wiegand26BitString,
} from '../../../firmware-bridge/osdp/wiegand.ts';

describe('Wiegand 26 / H10301 (docs/devices.md §6)', () => {
  it('encodes the ✓ example: facility 90, card 324 → 0 01011010 0000000101000100 0', () => {
    expect(wiegand26BitString({ facility: 90, number: 324 })).toBe('0 01011010 0000000101000100 0');
  });

  it('packs the 26 bits MSB first into 4 bytes, as osdp_RAW carries them', () => {
    const { bitCount, data } = encodeWiegand26({ facility: 90, number: 324 });
    expect(bitCount).toBe(26);
    // 0010 1101 0000 0000 1010 0010 00 + 6 padding zeros
    expect(data.toString('hex')).toBe('2d00a200');
    expect(decodeWiegand26(data, 26)).toEqual({ ok: true, facility: 90, number: 324 });
  });

  it('round-trips every facility and card number', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff }), (facility, number) => {
        const { data } = encodeWiegand26({ facility, number });
        expect(decodeWiegand26(data, 26)).toEqual({ ok: true, facility, number });
      }),
    );
  });

  it('detects every single flipped bit as a parity error', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 25 }),
        (facility, number, flip) => {
          const bits = unpackBits(encodeWiegand26({ facility, number }).data, 26);
          bits[flip] = 1 - bits[flip]!;
          const decoded = decodeWiegand26(packBits(bits), 26);
          expect(decoded.ok).toBe(false);
          if (!decoded.ok) expect(decoded.problem).toBe(flip < 13 ? 'even-parity' : 'odd-parity');
        },
      ),
    );
  });

  it('refuses anything that is not 26 bits in 4 bytes', () => {
    expect(decodeWiegand26(Buffer.alloc(5), 34)).toMatchObject({ ok: false, problem: 'bit-count' });
    expect(decodeWiegand26(Buffer.alloc(3), 26)).toMatchObject({ ok: false, problem: 'bit-count' });
  });

  it('refuses out-of-range facility and card numbers', () => {
    expect(() => encodeWiegand26({ facility: 256, number: 1 })).toThrow(RangeError);
    expect(() => encodeWiegand26({ facility: 1, number: 65_536 })).toThrow(RangeError);
  });
});
