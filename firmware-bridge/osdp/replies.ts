/**
 * Payload builders and decoders for the replies a PD sends (docs/devices.md §5). The control panel
 * decodes, the simulator builds. Decoders throw `OsdpPayloadError` on a length that does not fit.
 */
import { OsdpPayloadError } from './errors.ts';

export interface PdIdentity {
  /** IEEE OUI, 3 bytes. */
  vendorCode: Buffer;
  model: number;
  version: number;
  serialNumber: number;
  firmware: { major: number; minor: number; build: number };
}

export interface PdCapability {
  /** Function code (1 contact status monitoring, 2 output control, 3 card data format, 4 reader LED, 5 reader audible, 8 check character, 9 communication security, 10 receive buffer …). */
  function: number;
  compliance: number;
  count: number;
}

export const PdCapabilityFunction = {
  CONTACT_STATUS_MONITORING: 1,
  OUTPUT_CONTROL: 2,
  CARD_DATA_FORMAT: 3,
  READER_LED_CONTROL: 4,
  READER_AUDIBLE_OUTPUT: 5,
  CHECK_CHARACTER_SUPPORT: 8,
  COMMUNICATION_SECURITY: 9,
  RECEIVE_BUFFER_SIZE: 10,
} as const;

/** osdp_RAW format byte. */
export const RawCardFormat = { UNSPECIFIED: 0, WIEGAND: 1 } as const;

export interface RawCardData {
  reader: number;
  format: number;
  bitCount: number;
  /** ⌈bitCount/8⌉ bytes, first bit in the most significant bit of the first byte. */
  data: Buffer;
}

export interface KeypadData {
  reader: number;
  /** Digits as characters; 0x7F is `*`, 0x0D is `#`. */
  keys: string;
}

const PDID_LENGTH = 12;

export function encodeNak(reason: number): Buffer {
  return Buffer.from([reason & 0xff]);
}

export function decodeNak(data: Uint8Array): { reason: number } {
  if (data.length < 1) throw new OsdpPayloadError('osdp_NAK', 'missing the reason byte');
  return { reason: data[0]! };
}

export function encodePdId(id: PdIdentity): Buffer {
  if (id.vendorCode.length !== 3) throw new RangeError(`vendor code must be 3 bytes, got ${id.vendorCode.length}`);
  const out = Buffer.alloc(PDID_LENGTH);
  id.vendorCode.copy(out, 0);
  out[3] = id.model;
  out[4] = id.version;
  out.writeUInt32LE(id.serialNumber >>> 0, 5);
  out[9] = id.firmware.major;
  out[10] = id.firmware.minor;
  out[11] = id.firmware.build;
  return out;
}

export function decodePdId(data: Uint8Array): PdIdentity {
  if (data.length !== PDID_LENGTH) {
    throw new OsdpPayloadError('osdp_PDID', `expected ${PDID_LENGTH} bytes, got ${data.length}`);
  }
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  return {
    vendorCode: Buffer.from(buf.subarray(0, 3)),
    model: buf[3]!,
    version: buf[4]!,
    serialNumber: buf.readUInt32LE(5),
    firmware: { major: buf[9]!, minor: buf[10]!, build: buf[11]! },
  };
}

export function encodePdCap(capabilities: readonly PdCapability[]): Buffer {
  return Buffer.from(capabilities.flatMap((c) => [c.function, c.compliance, c.count]));
}

export function decodePdCap(data: Uint8Array): PdCapability[] {
  if (data.length % 3 !== 0) throw new OsdpPayloadError('osdp_PDCAP', `expected 3-byte records, got ${data.length}`);
  return Array.from({ length: data.length / 3 }, (_, i) => ({
    function: data[i * 3]!,
    compliance: data[i * 3 + 1]!,
    count: data[i * 3 + 2]!,
  }));
}

/** osdp_ISTATR / osdp_OSTATR: one byte per point, 0 inactive, 1 active. */
function encodePointStates(states: readonly boolean[]): Buffer {
  return Buffer.from(states.map((s) => (s ? 1 : 0)));
}

function decodePointStates(what: string, data: Uint8Array): boolean[] {
  const states: boolean[] = [];
  for (const b of data) {
    if (b > 1) throw new OsdpPayloadError(what, `point state must be 0 or 1, got ${b}`);
    states.push(b === 1);
  }
  return states;
}

export const encodeInputStates = encodePointStates;
export const decodeInputStates = (data: Uint8Array) => decodePointStates('osdp_ISTATR', data);
export const encodeOutputStates = encodePointStates;
export const decodeOutputStates = (data: Uint8Array) => decodePointStates('osdp_OSTATR', data);

export function encodeRaw(raw: RawCardData): Buffer {
  const bytes = Math.ceil(raw.bitCount / 8);
  if (raw.data.length !== bytes) {
    throw new RangeError(`RAW card data for ${raw.bitCount} bits needs ${bytes} bytes, got ${raw.data.length}`);
  }
  const out = Buffer.alloc(4 + bytes);
  out[0] = raw.reader;
  out[1] = raw.format;
  out.writeUInt16LE(raw.bitCount, 2);
  raw.data.copy(out, 4);
  return out;
}

export function decodeRaw(data: Uint8Array): RawCardData {
  if (data.length < 4) throw new OsdpPayloadError('osdp_RAW', `expected at least 4 bytes, got ${data.length}`);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  const bitCount = buf.readUInt16LE(2);
  const bytes = Math.ceil(bitCount / 8);
  if (buf.length !== 4 + bytes) {
    throw new OsdpPayloadError('osdp_RAW', `${bitCount} bits need ${4 + bytes} bytes, got ${buf.length}`);
  }
  return { reader: buf[0]!, format: buf[1]!, bitCount, data: Buffer.from(buf.subarray(4)) };
}

const KEY_TO_BYTE: Record<string, number> = { '*': 0x7f, '#': 0x0d };
const BYTE_TO_KEY: Record<number, string> = { 127: '*', 13: '#' };

export function encodeKeypad(keypad: KeypadData): Buffer {
  const keys = [...keypad.keys].map((k) => KEY_TO_BYTE[k] ?? k.charCodeAt(0));
  return Buffer.from([keypad.reader, keys.length, ...keys]);
}

export function decodeKeypad(data: Uint8Array): KeypadData {
  if (data.length < 2 || data.length !== 2 + data[1]!) {
    throw new OsdpPayloadError('osdp_KEYPAD', `count byte does not match ${data.length} bytes`);
  }
  const keys = [...data.subarray(2)].map((b) => BYTE_TO_KEY[b] ?? String.fromCharCode(b)).join('');
  return { reader: data[0]!, keys };
}
