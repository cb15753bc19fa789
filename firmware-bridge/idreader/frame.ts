/**
 * SAM_V frames of the national ID-card reader (docs/devices.md §1):
 *
 *   host → reader : AA AA AA 96 69 | LEN_HI LEN_LO | CMD PARA [data]     | CHK
 *   reader → host : AA AA AA 96 69 | LEN_HI LEN_LO | SW1 SW2 SW3 [data]  | CHK
 *
 * LEN is big-endian and counts every byte after the two length bytes, CHK included, so a frame
 * is 7 + LEN bytes. CHK is the XOR of LEN_HI … the byte before CHK (the preamble is excluded).
 * Commands and replies share the framing, so one value class holds the bytes between LEN and CHK
 * (the "body") and offers both readings of it.
 */
import { AnxinError } from '../../shared/errors.ts';

export const SAMV_PREAMBLE: Buffer = Buffer.from([0xaa, 0xaa, 0xaa, 0x96, 0x69]);
/** Preamble (5) + LEN (2). */
export const SAMV_HEADER_LENGTH = 7;
/**
 * Largest LEN we accept. The biggest known reply (30 10: text + photo + fingerprint) is
 * 3 + 6 + 256 + 1024 + 1024 + 1 = 2314; anything far above is line noise.
 */
export const SAMV_MAX_LENGTH = 4096;
/** The smallest meaningful body: CMD PARA (a command). Replies have at least SW1 SW2 SW3. */
export const SAMV_MIN_BODY_LENGTH = 2;

/** CMD PARA pairs (docs/devices.md §1). */
export const SamvCommand = {
  resetSam: [0x10, 0xff],
  samStatus: [0x11, 0xff],
  readSamId: [0x12, 0xff],
  findCard: [0x20, 0x01],
  selectCard: [0x20, 0x02],
  readTextPhoto: [0x30, 0x01],
  readTextPhotoFingerprint: [0x30, 0x10],
} as const satisfies Record<string, readonly [number, number]>;
export type SamvCommandName = keyof typeof SamvCommand;

/** `60 nn` sets the line speed; nn indexes this list (docs/devices.md §1). */
export const SAMV_BAUD_RATES = [115200, 57600, 38400, 19200, 9600] as const;
export const SAMV_SET_BAUD_COMMAND = 0x60;

/** SW3 status codes (docs/devices.md §1), each with a stable name. */
export const SW3 = {
  144: 'success',
  145: 'no-content',
  159: 'find-success',
  16: 'checksum-error',
  17: 'length-error',
  33: 'command-error',
  35: 'not-authorised',
  36: 'unknown-error',
  49: 'card-failed-to-authenticate-sam',
  50: 'sam-failed-to-authenticate-card',
  51: 'verification-error',
  64: 'unknown-card-type',
  65: 'read-failed',
  71: 'random-number-failure',
  96: 'sam-self-test-failed',
  102: 'sam-not-authorised',
  128: 'no-card',
  129: 'select-failed',
} as const satisfies Record<number, string>;
export type Sw3Name = (typeof SW3)[keyof typeof SW3] | 'unrecognised';

/** Named SW3 values used by the driver and the simulator. */
export const Sw3Code = {
  success: 0x90,
  noContent: 0x91,
  findSuccess: 0x9f,
  checksumError: 0x10,
  lengthError: 0x11,
  commandError: 0x21,
  readFailed: 0x41,
  noCard: 0x80,
  selectFailed: 0x81,
} as const;

const SW3_MESSAGES: Record<Exclude<Sw3Name, 'unrecognised'>, string> = {
  success: 'success',
  'no-content': 'no content',
  'find-success': 'card found',
  'checksum-error': 'the reader saw a checksum error in our command',
  'length-error': 'the reader saw a length error in our command',
  'command-error': 'the reader did not understand the command',
  'not-authorised': 'not authorised',
  'unknown-error': 'unknown error',
  'card-failed-to-authenticate-sam': 'the card failed to authenticate the SAM',
  'sam-failed-to-authenticate-card': 'the SAM failed to authenticate the card',
  'verification-error': 'verification error',
  'unknown-card-type': 'unknown card type',
  'read-failed': 'reading the card failed',
  'random-number-failure': 'random-number failure',
  'sam-self-test-failed': 'SAM self-test failed',
  'sam-not-authorised': 'SAM not authorised',
  'no-card': 'no card on the reader',
  'select-failed': 'selecting the card failed',
};

/** Every SW3 value, known or not, as a typed result. `ok` is true for 90 and 9F only. */
export interface Sw3Status {
  code: number;
  name: Sw3Name;
  ok: boolean;
  message: string;
}

function hex(byte: number): string {
  return byte.toString(16).toUpperCase().padStart(2, '0');
}

export function sw3Status(code: number): Sw3Status {
  const name = (SW3 as Record<number, Exclude<Sw3Name, 'unrecognised'>>)[code];
  if (name === undefined)
    return { code, name: 'unrecognised', ok: false, message: `unrecognised status 0x${hex(code)}` };
  return { code, name, ok: code === Sw3Code.success || code === Sw3Code.findSuccess, message: SW3_MESSAGES[name] };
}

/** Why bytes are not a frame. */
export type SamvFrameProblem = 'preamble' | 'truncated' | 'length' | 'checksum' | 'layout';

export class SamvFrameError extends AnxinError {
  readonly problem: SamvFrameProblem;

  constructor(problem: SamvFrameProblem, message: string) {
    super('samv-frame', message, { problem });
    this.problem = problem;
  }
}

/** A reply whose SW3 is not the one the request expects (no card, select failed, …). */
export class SamvStatusError extends AnxinError {
  readonly status: Sw3Status;

  constructor(what: string, status: Sw3Status) {
    super('samv-status', `${what}: SW3 0x${hex(status.code)} (${status.name}: ${status.message})`, {
      sw3: status.code,
      name: status.name,
    });
    this.status = status;
  }
}

/** XOR of LEN_HI … last body byte: `bytes` must start at LEN_HI and stop before CHK. */
export function samvChecksum(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum ^= bytes[i]!;
  return sum;
}

export class SamvFrame {
  /** The bytes between LEN and CHK: `CMD PARA data` or `SW1 SW2 SW3 data`. */
  readonly body: Buffer;
  /**
   * `process.hrtime.bigint()` when the parser saw the frame's last byte arrive; undefined for
   * frames built in code. Not part of the frame's value (ignored by `equals`).
   */
  readonly receivedAt: bigint | undefined;

  constructor(body: Buffer, receivedAt?: bigint) {
    if (body.length < SAMV_MIN_BODY_LENGTH || body.length + 1 > SAMV_MAX_LENGTH) {
      throw new SamvFrameError(
        'length',
        `body of ${body.length} bytes; expected ${SAMV_MIN_BODY_LENGTH}..${SAMV_MAX_LENGTH - 1}`,
      );
    }
    this.body = body;
    this.receivedAt = receivedAt;
  }

  /** A host → reader command. */
  static command(cmd: number, para: number, data: Uint8Array = Buffer.alloc(0)): SamvFrame {
    return new SamvFrame(Buffer.concat([Buffer.from([cmd, para]), data]));
  }

  /** One of the named commands of docs/devices.md §1. */
  static namedCommand(name: SamvCommandName): SamvFrame {
    const [cmd, para] = SamvCommand[name];
    return SamvFrame.command(cmd, para);
  }

  /** `60 nn`: switch the reader to `baudRate` (one of SAMV_BAUD_RATES). */
  static setBaudCommand(baudRate: number): SamvFrame {
    const index = SAMV_BAUD_RATES.indexOf(baudRate as (typeof SAMV_BAUD_RATES)[number]);
    if (index < 0) throw new TypeError(`baudRate: ${baudRate} is not one of ${SAMV_BAUD_RATES.join(', ')}`);
    return SamvFrame.command(SAMV_SET_BAUD_COMMAND, index);
  }

  /** A reader → host reply. SW1 SW2 are 00 00 in every known example. */
  static reply(sw3: number, data: Uint8Array = Buffer.alloc(0), sw1 = 0, sw2 = 0): SamvFrame {
    return new SamvFrame(Buffer.concat([Buffer.from([sw1, sw2, sw3]), data]));
  }

  /** Parses exactly one whole frame; throws `SamvFrameError` naming the problem. */
  static fromBuffer(buffer: Uint8Array, receivedAt?: bigint): SamvFrame {
    if (buffer.length < SAMV_HEADER_LENGTH) {
      throw new SamvFrameError('truncated', `${buffer.length} bytes cannot hold a frame header`);
    }
    for (let i = 0; i < SAMV_PREAMBLE.length; i++) {
      if (buffer[i] !== SAMV_PREAMBLE[i]) {
        throw new SamvFrameError('preamble', `expected preamble AA AA AA 96 69 at offset 0`);
      }
    }
    const length = (buffer[5]! << 8) | buffer[6]!;
    if (length < SAMV_MIN_BODY_LENGTH + 1 || length > SAMV_MAX_LENGTH) {
      throw new SamvFrameError('length', `LEN ${length} outside ${SAMV_MIN_BODY_LENGTH + 1}..${SAMV_MAX_LENGTH}`);
    }
    if (buffer.length !== SAMV_HEADER_LENGTH + length) {
      throw new SamvFrameError(
        buffer.length < SAMV_HEADER_LENGTH + length ? 'truncated' : 'length',
        `LEN ${length} needs ${SAMV_HEADER_LENGTH + length} bytes, got ${buffer.length}`,
      );
    }
    const end = SAMV_HEADER_LENGTH + length - 1;
    const expected = samvChecksum(buffer, 5, end);
    if (buffer[end] !== expected) {
      throw new SamvFrameError('checksum', `CHK 0x${hex(buffer[end]!)}, expected 0x${hex(expected)}`);
    }
    return new SamvFrame(Buffer.from(buffer.subarray(SAMV_HEADER_LENGTH, end)), receivedAt);
  }

  /** LEN as sent on the wire: body + CHK. */
  get length(): number {
    return this.body.length + 1;
  }

  toBuffer(): Buffer {
    const frame = Buffer.alloc(SAMV_HEADER_LENGTH + this.length);
    SAMV_PREAMBLE.copy(frame, 0);
    frame.writeUInt16BE(this.length, 5);
    this.body.copy(frame, SAMV_HEADER_LENGTH);
    frame[frame.length - 1] = samvChecksum(frame, 5, frame.length - 1);
    return frame;
  }

  /** Read as a command: CMD. */
  get cmd(): number {
    return this.body[0]!;
  }

  /** Read as a command: PARA. */
  get para(): number {
    return this.body[1]!;
  }

  /** Read as a reply: SW3 (undefined for a two-byte body). */
  get sw3(): number | undefined {
    return this.body[2];
  }

  /** Read as a reply: the typed status. */
  get status(): Sw3Status {
    return sw3Status(this.body[2] ?? -1);
  }

  /** Read as a command: the bytes after CMD PARA. */
  get commandData(): Buffer {
    return this.body.subarray(2);
  }

  /** Read as a reply: the bytes after SW1 SW2 SW3. */
  get replyData(): Buffer {
    return this.body.subarray(3);
  }

  /** Whether this is the named command. */
  isCommand(name: SamvCommandName): boolean {
    const [cmd, para] = SamvCommand[name];
    return this.cmd === cmd && this.para === para;
  }

  equals(other: SamvFrame): boolean {
    return this.body.equals(other.body);
  }

  /** Hex of the whole frame, truncated after 32 body bytes so logs stay short. */
  toString(): string {
    const shown = this.body.subarray(0, 32);
    const more = this.body.length > shown.length ? ` …(+${this.body.length - shown.length})` : '';
    const head = [...this.toBuffer().subarray(0, SAMV_HEADER_LENGTH)].map(hex).join(' ');
    const body = [...shown].map(hex).join(' ');
    const chk = hex(this.toBuffer()[SAMV_HEADER_LENGTH + this.body.length]!);
    return `SamvFrame<${head} | ${body}${more} | ${chk}>`;
  }
}

/** The blocks of a successful read reply (30 01, or 30 10 with a fingerprint). */
export interface ReadReplyBlocks {
  text: Buffer;
  photo: Buffer;
  /** Present for the 30 10 layout (may be empty when the card holds no fingerprint). */
  fingerprint?: Buffer;
}

export type ReadLayout = 'text-photo' | 'text-photo-fingerprint';

/**
 * Reply data of a read: 2-byte big-endian lengths (text, photo[, fingerprint]), then the blocks
 * (docs/devices.md §1: `01 00` = 256 text bytes, `04 00` = 1024 photo bytes).
 */
export function encodeReadReplyData(blocks: ReadReplyBlocks): Buffer {
  const withFingerprint = blocks.fingerprint !== undefined;
  const lengths = Buffer.alloc(withFingerprint ? 6 : 4);
  lengths.writeUInt16BE(blocks.text.length, 0);
  lengths.writeUInt16BE(blocks.photo.length, 2);
  if (blocks.fingerprint) lengths.writeUInt16BE(blocks.fingerprint.length, 4);
  return Buffer.concat([lengths, blocks.text, blocks.photo, ...(blocks.fingerprint ? [blocks.fingerprint] : [])]);
}

function layoutFits(data: Buffer, layout: ReadLayout): boolean {
  const header = layout === 'text-photo' ? 4 : 6;
  if (data.length < header) return false;
  let total = header;
  for (let i = 0; i < header; i += 2) total += data.readUInt16BE(i);
  return total === data.length;
}

/**
 * Splits the data of a successful read reply. With `layout` omitted, the layout whose lengths add
 * up exactly is taken; lengths that add up for neither are a `layout` error, never a guess.
 */
export function decodeReadReplyData(data: Buffer, layout?: ReadLayout): ReadReplyBlocks {
  const chosen =
    layout ??
    (layoutFits(data, 'text-photo')
      ? 'text-photo'
      : layoutFits(data, 'text-photo-fingerprint')
        ? 'text-photo-fingerprint'
        : undefined);
  if (chosen === undefined || !layoutFits(data, chosen)) {
    throw new SamvFrameError(
      'layout',
      `read reply of ${data.length} data bytes does not match ${layout ?? 'any known layout'}`,
    );
  }
  const textLength = data.readUInt16BE(0);
  const photoLength = data.readUInt16BE(2);
  const header = chosen === 'text-photo' ? 4 : 6;
  const text = Buffer.from(data.subarray(header, header + textLength));
  const photo = Buffer.from(data.subarray(header + textLength, header + textLength + photoLength));
  if (chosen === 'text-photo') return { text, photo };
  return { text, photo, fingerprint: Buffer.from(data.subarray(header + textLength + photoLength)) };
}
