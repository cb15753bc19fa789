/**
 * Payload builders and decoders for the commands a control panel sends (docs/devices.md §5). Builders
 * return the DATA bytes only; `OsdpFrame` adds the header and check characters. Decoders are what a
 * PD (the simulator) uses and throw `OsdpPayloadError` on a length that does not fit.
 */
import { OsdpPayloadError } from './errors.ts';

/** Output control codes of osdp_OUT. */
export const OutputControl = {
  NOP: 0,
  PERMANENT_OFF_ABORT_TIMER: 1,
  PERMANENT_ON_ABORT_TIMER: 2,
  PERMANENT_OFF_AFTER_TIMER: 3,
  PERMANENT_ON_AFTER_TIMER: 4,
  TEMPORARY_ON: 5,
  TEMPORARY_OFF: 6,
} as const;
export type OutputControlCode = (typeof OutputControl)[keyof typeof OutputControl];

export interface OutputCommand {
  output: number;
  control: OutputControlCode;
  /** In 100 ms units; used by the temporary codes. */
  timer: number;
}

/** LED colours (osdp_LED on/off colour). */
export const LedColour = { off: 0, red: 1, green: 2, amber: 3, blue: 4 } as const;
export type LedColourName = keyof typeof LedColour;

export interface LedTemporary {
  /** 0 no change, 1 cancel the temporary state, 2 set it and start the timer. */
  control: 0 | 1 | 2;
  /** Flash on/off times, 100 ms units; off time 0 = steady. */
  onTime: number;
  offTime: number;
  onColour: number;
  offColour: number;
  /** How long the temporary state lasts, 100 ms units. */
  timer: number;
}

export interface LedPermanent {
  /** 0 no change, 1 set. */
  control: 0 | 1;
  onTime: number;
  offTime: number;
  onColour: number;
  offColour: number;
}

export interface LedCommand {
  reader: number;
  led: number;
  temporary: LedTemporary;
  permanent: LedPermanent;
}

export interface BuzzerCommand {
  reader: number;
  /** 0 no tone, 1 off, 2 the default tone. */
  tone: number;
  /** 100 ms units. */
  onTime: number;
  offTime: number;
  /** 0 = until told otherwise. */
  count: number;
}

const OUT_RECORD_LENGTH = 4;
export const LED_RECORD_LENGTH = 14;
const BUZ_RECORD_LENGTH = 5;

/** osdp_ID / osdp_CAP carry one "reply type" byte; 0 asks for the standard reply. */
export function encodeIdRequest(): Buffer {
  return Buffer.from([0x00]);
}

export function encodeCapRequest(): Buffer {
  return Buffer.from([0x00]);
}

function byte(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xff)
    throw new RangeError(`${what} must be 0–255, got ${value}`);
  return value;
}

function word(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new RangeError(`${what} must be 0–65535, got ${value}`);
  }
  return value;
}

function records(what: string, data: Uint8Array, size: number): number {
  if (data.length === 0 || data.length % size !== 0) {
    throw new OsdpPayloadError(what, `expected a multiple of ${size} bytes, got ${data.length}`);
  }
  return data.length / size;
}

export function encodeOut(outputs: readonly OutputCommand[]): Buffer {
  const out = Buffer.alloc(outputs.length * OUT_RECORD_LENGTH);
  outputs.forEach((o, i) => {
    out[i * 4] = byte('output', o.output);
    out[i * 4 + 1] = byte('output control', o.control);
    out.writeUInt16LE(word('output timer', o.timer), i * 4 + 2);
  });
  return out;
}

export function decodeOut(data: Uint8Array): OutputCommand[] {
  const count = records('osdp_OUT', data, OUT_RECORD_LENGTH);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  return Array.from({ length: count }, (_, i) => ({
    output: buf[i * 4]!,
    control: buf[i * 4 + 1]! as OutputControlCode,
    timer: buf.readUInt16LE(i * 4 + 2),
  }));
}

export function encodeLed(leds: readonly LedCommand[]): Buffer {
  const out = Buffer.alloc(leds.length * LED_RECORD_LENGTH);
  leds.forEach((l, i) => {
    const at = i * LED_RECORD_LENGTH;
    const t = l.temporary;
    const p = l.permanent;
    out[at] = byte('LED reader', l.reader);
    out[at + 1] = byte('LED number', l.led);
    out[at + 2] = byte('LED temporary control', t.control);
    out[at + 3] = byte('LED temporary on time', t.onTime);
    out[at + 4] = byte('LED temporary off time', t.offTime);
    out[at + 5] = byte('LED temporary on colour', t.onColour);
    out[at + 6] = byte('LED temporary off colour', t.offColour);
    out.writeUInt16LE(word('LED temporary timer', t.timer), at + 7);
    out[at + 9] = byte('LED permanent control', p.control);
    out[at + 10] = byte('LED permanent on time', p.onTime);
    out[at + 11] = byte('LED permanent off time', p.offTime);
    out[at + 12] = byte('LED permanent on colour', p.onColour);
    out[at + 13] = byte('LED permanent off colour', p.offColour);
  });
  return out;
}

export function decodeLed(data: Uint8Array): LedCommand[] {
  const count = records('osdp_LED', data, LED_RECORD_LENGTH);
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  return Array.from({ length: count }, (_, i) => {
    const at = i * LED_RECORD_LENGTH;
    return {
      reader: buf[at]!,
      led: buf[at + 1]!,
      temporary: {
        control: buf[at + 2]! as LedTemporary['control'],
        onTime: buf[at + 3]!,
        offTime: buf[at + 4]!,
        onColour: buf[at + 5]!,
        offColour: buf[at + 6]!,
        timer: buf.readUInt16LE(at + 7),
      },
      permanent: {
        control: buf[at + 9]! as LedPermanent['control'],
        onTime: buf[at + 10]!,
        offTime: buf[at + 11]!,
        onColour: buf[at + 12]!,
        offColour: buf[at + 13]!,
      },
    };
  });
}

export function encodeBuz(buzzer: BuzzerCommand): Buffer {
  return Buffer.from([
    byte('buzzer reader', buzzer.reader),
    byte('buzzer tone', buzzer.tone),
    byte('buzzer on time', buzzer.onTime),
    byte('buzzer off time', buzzer.offTime),
    byte('buzzer count', buzzer.count),
  ]);
}

export function decodeBuz(data: Uint8Array): BuzzerCommand {
  if (data.length !== BUZ_RECORD_LENGTH) {
    throw new OsdpPayloadError('osdp_BUZ', `expected ${BUZ_RECORD_LENGTH} bytes, got ${data.length}`);
  }
  return { reader: data[0]!, tone: data[1]!, onTime: data[2]!, offTime: data[3]!, count: data[4]! };
}
