/**
 * One OSDP message (docs/devices.md §5), plain mode:
 *
 *   [FF]? 53 ADDR LEN_LO LEN_HI CTRL CMD|REPLY DATA… CHECK
 *
 * LEN counts from 0x53 through the check character(s); the optional 0xFF mark byte is not counted.
 * CTRL bits 0–1 carry the sequence number, bit 2 selects CRC-16 (set) or the 8-bit checksum (clear),
 * bit 3 announces a security block — refused here with a typed error until the secure channel exists.
 */
import { checksum8, crc16 } from './crc.ts';
import { osdpCodeName } from './codes.ts';
import { OsdpFrameError, type OsdpFrameHeader, OsdpSecureChannelUnsupportedError } from './errors.ts';

export const OSDP_START = 0x53;
export const OSDP_MARK = 0xff;
export const OSDP_BROADCAST = 0x7f;
/** Replies carry the PD's address with bit 7 set. */
export const OSDP_REPLY_BIT = 0x80;
export const CTRL_SEQUENCE_MASK = 0x03;
export const CTRL_CRC16 = 0x04;
export const CTRL_SECURITY_BLOCK = 0x08;
/** Bits 4–6 are reserved and bit 7 (MULTI) is deprecated: a CTRL byte with any of them set is not a frame. */
export const CTRL_RESERVED_MASK = 0xf0;
/** 53 ADDR LEN_LO LEN_HI CTRL. */
export const OSDP_HEADER_LENGTH = 5;
/** The largest LEN this code will build or accept by default; OSDP PDs typically buffer 128–1440 bytes. */
export const OSDP_DEFAULT_MAX_FRAME_LENGTH = 1440;

export type OsdpSequence = 0 | 1 | 2 | 3;
export type OsdpIntegrity = 'crc16' | 'checksum';

export interface OsdpFrameInit {
  /** 0x00–0x7E, or 0x7F broadcast; without the reply bit. */
  address: number;
  isReply?: boolean;
  sequence: OsdpSequence;
  /** Command (0x60…) or reply (0x40…) code. */
  code: number;
  data?: Uint8Array;
  /** Default `crc16`. */
  integrity?: OsdpIntegrity;
  /** Precede the frame with the 0xFF mark byte. */
  mark?: boolean;
}

const checkLength = (integrity: OsdpIntegrity) => (integrity === 'crc16' ? 2 : 1);

/** The smallest LEN a frame with no data can have. */
export function minimumOsdpFrameLength(integrity: OsdpIntegrity): number {
  return OSDP_HEADER_LENGTH + 1 + checkLength(integrity);
}

export class OsdpFrame {
  readonly address: number;
  readonly isReply: boolean;
  readonly sequence: OsdpSequence;
  readonly code: number;
  readonly data: Buffer;
  readonly integrity: OsdpIntegrity;
  readonly mark: boolean;

  constructor(init: OsdpFrameInit) {
    if (!Number.isInteger(init.address) || init.address < 0 || init.address > OSDP_BROADCAST) {
      throw new RangeError(`OSDP address must be 0x00–0x7F, got ${init.address}`);
    }
    if (!Number.isInteger(init.sequence) || init.sequence < 0 || init.sequence > 3) {
      throw new RangeError(`OSDP sequence must be 0–3, got ${init.sequence}`);
    }
    if (!Number.isInteger(init.code) || init.code < 0 || init.code > 0xff) {
      throw new RangeError(`OSDP code must be one byte, got ${init.code}`);
    }
    this.address = init.address;
    this.isReply = init.isReply ?? false;
    this.sequence = init.sequence;
    this.code = init.code;
    this.data = Buffer.from(init.data ?? []);
    this.integrity = init.integrity ?? 'crc16';
    this.mark = init.mark ?? false;
    if (this.length > 0xffff) throw new RangeError(`OSDP frame of ${this.length} bytes exceeds LEN's 16 bits`);
  }

  /** LEN: 0x53 through the check character(s), the mark byte excluded. */
  get length(): number {
    return minimumOsdpFrameLength(this.integrity) + this.data.length;
  }

  /**
   * Reads exactly one frame (an optional leading 0xFF mark, then LEN bytes). Throws
   * `OsdpFrameError` for anything malformed and `OsdpSecureChannelUnsupportedError` for a
   * well-formed frame that carries a security block.
   */
  static fromBuffer(bytes: Uint8Array): OsdpFrame {
    const mark = bytes[0] === OSDP_MARK;
    const at = mark ? 1 : 0;
    const body = bytes.subarray(at);
    if (body[0] !== OSDP_START) {
      throw new OsdpFrameError('start', `OSDP frame must start with 0x53, got ${describeByte(body[0])}`);
    }
    if (body.length < OSDP_HEADER_LENGTH) {
      throw new OsdpFrameError('length', `OSDP frame of ${body.length} bytes is shorter than its header`);
    }
    const addressByte = body[1]!;
    const ctrl = body[4]!;
    const header: OsdpFrameHeader = {
      address: addressByte & ~OSDP_REPLY_BIT,
      isReply: (addressByte & OSDP_REPLY_BIT) !== 0,
      sequence: ctrl & CTRL_SEQUENCE_MASK,
    };
    const length = body[2]! | (body[3]! << 8);
    if (length !== body.length) {
      throw new OsdpFrameError('length', `OSDP LEN says ${length} bytes but the frame has ${body.length}`, header);
    }
    if (ctrl & CTRL_RESERVED_MASK) {
      throw new OsdpFrameError('ctrl', `OSDP CTRL 0x${ctrl.toString(16)} has reserved bits set`, header);
    }
    const integrity: OsdpIntegrity = ctrl & CTRL_CRC16 ? 'crc16' : 'checksum';
    if (length < minimumOsdpFrameLength(integrity)) {
      throw new OsdpFrameError('length', `OSDP LEN ${length} is below the minimum for ${integrity}`, header);
    }
    const checkAt = length - checkLength(integrity);
    header.code = body[OSDP_HEADER_LENGTH];
    if (integrity === 'crc16') {
      const expected = crc16(body, 0, checkAt);
      const got = body[checkAt]! | (body[checkAt + 1]! << 8);
      if (expected !== got) {
        throw new OsdpFrameError(
          'integrity',
          `OSDP CRC 0x${got.toString(16)} does not match 0x${expected.toString(16)}`,
          header,
        );
      }
    } else {
      const expected = checksum8(body, 0, checkAt);
      const got = body[checkAt]!;
      if (expected !== got) {
        throw new OsdpFrameError(
          'integrity',
          `OSDP checksum 0x${got.toString(16)} does not match 0x${expected.toString(16)}`,
          header,
        );
      }
    }
    if (ctrl & CTRL_SECURITY_BLOCK) throw new OsdpSecureChannelUnsupportedError(header);
    return new OsdpFrame({
      address: header.address,
      isReply: header.isReply,
      sequence: header.sequence as OsdpSequence,
      code: body[OSDP_HEADER_LENGTH]!,
      data: body.subarray(OSDP_HEADER_LENGTH + 1, checkAt),
      integrity,
      mark,
    });
  }

  toBuffer(): Buffer {
    const length = this.length;
    const at = this.mark ? 1 : 0;
    const out = Buffer.alloc(at + length);
    if (this.mark) out[0] = OSDP_MARK;
    out[at] = OSDP_START;
    out[at + 1] = this.address | (this.isReply ? OSDP_REPLY_BIT : 0);
    out.writeUInt16LE(length, at + 2);
    out[at + 4] = this.sequence | (this.integrity === 'crc16' ? CTRL_CRC16 : 0);
    out[at + OSDP_HEADER_LENGTH] = this.code;
    this.data.copy(out, at + OSDP_HEADER_LENGTH + 1);
    const checkAt = at + length - checkLength(this.integrity);
    if (this.integrity === 'crc16') out.writeUInt16LE(crc16(out, at, checkAt), checkAt);
    else out[checkAt] = checksum8(out, at, checkAt);
    return out;
  }

  /** e.g. `OSDP cmd addr=0 seq=1 OUT 00 05 0a 00` */
  toString(): string {
    const data = this.data.length ? ` ${this.data.toString('hex').replace(/(..)(?!$)/g, '$1 ')}` : '';
    return `OSDP ${this.isReply ? 'reply' : 'cmd'} addr=${this.address} seq=${this.sequence} ${osdpCodeName(this.code, this.isReply)}${data}`;
  }
}

/** The sequence that follows `sequence` on the control-panel side: 0 is used once after a reset, then 1, 2, 3, 1 … */
export function nextOsdpSequence(sequence: OsdpSequence): OsdpSequence {
  return sequence === 3 ? 1 : ((sequence + 1) as OsdpSequence);
}

function describeByte(byte: number | undefined): string {
  return byte === undefined ? 'nothing' : `0x${byte.toString(16).padStart(2, '0')}`;
}
