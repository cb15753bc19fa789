/**
 * Wiegand 26, H10301 (docs/devices.md §6), numbering bits 1–26 in the order they arrive:
 * bit 1 even parity over bits 2–13, bits 2–9 facility code, bits 10–25 card number,
 * bit 26 odd parity over bits 14–25. osdp_RAW packs the bits MSB first, padded with zeros.
 */

const WIEGAND26_BITS = 26;
const FACILITY_MAX = 0xff;
const CARD_NUMBER_MAX = 0xffff;

export interface Wiegand26Card {
  facility: number;
  number: number;
}

export type Wiegand26Decoded =
  | ({ ok: true } & Wiegand26Card)
  | { ok: false; problem: 'bit-count' | 'even-parity' | 'odd-parity'; message: string };

/** The 26 bits as 0/1, bit 1 first. */
function wiegand26Bits(card: Wiegand26Card): number[] {
  if (!Number.isInteger(card.facility) || card.facility < 0 || card.facility > FACILITY_MAX) {
    throw new RangeError(`Wiegand-26 facility must be 0–255, got ${card.facility}`);
  }
  if (!Number.isInteger(card.number) || card.number < 0 || card.number > CARD_NUMBER_MAX) {
    throw new RangeError(`Wiegand-26 card number must be 0–65535, got ${card.number}`);
  }
  const payload: number[] = [];
  for (let i = 7; i >= 0; i--) payload.push((card.facility >> i) & 1);
  for (let i = 15; i >= 0; i--) payload.push((card.number >> i) & 1);
  const ones = (bits: number[]) => bits.reduce((n, b) => n + b, 0);
  const even = ones(payload.slice(0, 12)) % 2;
  const odd = 1 - (ones(payload.slice(12)) % 2);
  return [even, ...payload, odd];
}

/** `0 01011010 0000000101000100 0` — the notation of docs/devices.md §6. */
export function wiegand26BitString(card: Wiegand26Card): string {
  const bits = wiegand26Bits(card).join('');
  return `${bits[0]} ${bits.slice(1, 9)} ${bits.slice(9, 25)} ${bits[25]}`;
}

/** Packs bits MSB first into ⌈n/8⌉ bytes, as osdp_RAW carries them. */
export function packBits(bits: readonly number[]): Buffer {
  const out = Buffer.alloc(Math.ceil(bits.length / 8));
  bits.forEach((bit, i) => {
    if (bit) out[i >> 3]! |= 0x80 >> (i & 7);
  });
  return out;
}

export function unpackBits(data: Uint8Array, bitCount: number): number[] {
  if (data.length * 8 < bitCount) throw new RangeError(`${data.length} bytes cannot hold ${bitCount} bits`);
  return Array.from({ length: bitCount }, (_, i) => (data[i >> 3]! >> (7 - (i & 7))) & 1);
}

export function encodeWiegand26(card: Wiegand26Card): { bitCount: number; data: Buffer } {
  return { bitCount: WIEGAND26_BITS, data: packBits(wiegand26Bits(card)) };
}

/** Decodes and checks both parity bits; a card that fails is never read as a facility/number. */
export function decodeWiegand26(data: Uint8Array, bitCount: number): Wiegand26Decoded {
  if (bitCount !== WIEGAND26_BITS || data.length !== Math.ceil(WIEGAND26_BITS / 8)) {
    return {
      ok: false,
      problem: 'bit-count',
      message: `Wiegand-26 needs 26 bits in 4 bytes, got ${bitCount} bits in ${data.length} bytes`,
    };
  }
  const bits = unpackBits(data, WIEGAND26_BITS);
  const ones = (from: number, to: number) => bits.slice(from, to).reduce((n, b) => n + b, 0);
  // Bit 1 plus bits 2–13 must hold an even number of ones; bits 14–25 plus bit 26 an odd number.
  if (ones(0, 13) % 2 !== 0) return { ok: false, problem: 'even-parity', message: 'Wiegand-26 even parity fails' };
  if (ones(13, 26) % 2 !== 1) return { ok: false, problem: 'odd-parity', message: 'Wiegand-26 odd parity fails' };
  const value = (from: number, to: number) => bits.slice(from, to).reduce((n, b) => (n << 1) | b, 0);
  return { ok: true, facility: value(1, 9), number: value(9, 25) };
}
