/**
 * Base45 (RFC 9285): two bytes become three characters of the QR alphanumeric alphabet, so a
 * binary payload fits QR alphanumeric mode (5.5 bits per character) as the EU Digital COVID
 * Certificate does. Decoding is strict: every input has at most one meaning.
 */
import { AnxinError } from './errors.ts';

/** RFC 9285 §4: the 45 characters of QR alphanumeric mode, in value order. */
export const BASE45_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

const VALUE_OF = new Map<string, number>([...BASE45_ALPHABET].map((char, value) => [char, value]));

/** Input that is not a valid base45 encoding (RFC 9285 §4.2 says such input MUST be rejected). */
export class Base45Error extends AnxinError {
  constructor(message: string) {
    super('invalid-base45', message);
  }
}

export function encodeBase45(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    // RFC 9285 §4.1: n = a·256 + b = c + d·45 + e·45², written c d e.
    let n = bytes[i]! * 256 + bytes[i + 1]!;
    const c = n % 45;
    n = (n - c) / 45;
    const d = n % 45;
    const e = (n - d) / 45;
    out += BASE45_ALPHABET[c]! + BASE45_ALPHABET[d]! + BASE45_ALPHABET[e]!;
  }
  if (bytes.length % 2 === 1) {
    // A trailing single byte is written as two characters c d.
    const n = bytes[bytes.length - 1]!;
    out += BASE45_ALPHABET[n % 45]! + BASE45_ALPHABET[Math.floor(n / 45)]!;
  }
  return out;
}

/** Throws `Base45Error` for a character outside the alphabet, a dangling character or a group out of range. */
export function decodeBase45(text: string): Buffer {
  if (text.length % 3 === 1) throw new Base45Error(`base45 length ${text.length} leaves a single character`);
  const values = new Array<number>(text.length);
  for (let i = 0; i < text.length; i++) {
    const value = VALUE_OF.get(text[i]!);
    if (value === undefined) throw new Base45Error(`base45 character ${JSON.stringify(text[i])} at ${i}`);
    values[i] = value;
  }
  const out = Buffer.alloc(Math.floor(text.length / 3) * 2 + (text.length % 3 === 2 ? 1 : 0));
  let o = 0;
  for (let i = 0; i < values.length; i += 3) {
    if (i + 2 < values.length) {
      const n = values[i]! + values[i + 1]! * 45 + values[i + 2]! * 2025;
      if (n > 0xffff) throw new Base45Error(`base45 group at ${i} is ${n}, above 65535`);
      out[o++] = n >> 8;
      out[o++] = n & 0xff;
    } else {
      const n = values[i]! + values[i + 1]! * 45;
      if (n > 0xff) throw new Base45Error(`base45 final pair at ${i} is ${n}, above 255`);
      out[o++] = n;
    }
  }
  return out;
}

/** Like `decodeBase45` but returns `undefined` instead of throwing, for parsers of untrusted input. */
export function tryDecodeBase45(text: string): Buffer | undefined {
  try {
    return decodeBase45(text);
  } catch (error) {
    if (error instanceof Base45Error) return undefined;
    throw error;
  }
}
