/**
 * One OSDP message (docs/devices.md §5.1, §8):
 *
 *   [FF]? 53 ADDR LEN_LO LEN_HI CTRL [SB_LEN SB_TYPE SB_DATA…] CMD|REPLY DATA… [MAC×4] CHECK
 *
 * LEN counts from 0x53 through the check character(s); the optional 0xFF mark byte is not counted.
 * CTRL bits 0–1 carry the sequence number, bit 2 selects CRC-16 (set) or the 8-bit checksum (clear),
 * bit 3 announces a security block. Frames of the secure channel's session (block types SCS_15–18)
 * end in a 4-byte MAC before the check characters. This class only frames: whether a security
 * block is expected, and the MAC and encryption, are the secure channel's business
 * (`secure-channel.ts`); a frame's DATA is whatever is on the wire (ciphertext for SCS_17/18).
 */
import { checksum8, crc16 } from './crc.ts';
import { osdpCodeName } from './codes.ts';
import { OsdpFrameError, type OsdpFrameHeader } from './errors.ts';

export const OSDP_START = 0x53;
export const OSDP_MARK = 0xff;
export const OSDP_BROADCAST = 0x7f;
/** Replies carry the PD's address with bit 7 set. */
export const OSDP_REPLY_BIT = 0x80;
export const CTRL_SEQUENCE_MASK = 0x03;
export const CTRL_CRC16 = 0x04;
const CTRL_SECURITY_BLOCK = 0x08;
/** Security block types that are followed by a 4-byte MAC (the secure channel's session messages). */
const SCS_WITH_MAC_FIRST = 0x15;
const SCS_WITH_MAC_LAST = 0x18;
export const OSDP_MAC_LENGTH = 4;

/** Bits 4–6 are reserved and bit 7 (MULTI) is deprecated: a CTRL byte with any of them set is not a frame. */
export const CTRL_RESERVED_MASK = 0xf0;
/** 53 ADDR LEN_LO LEN_HI CTRL. */
const OSDP_HEADER_LENGTH = 5;
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
  /** The security block after CTRL: its type (SCS_11 … SCS_18) and data bytes. */
  securityBlock?: OsdpSecurityBlock;
  /** The 4 MAC bytes before the check characters; required (and only allowed) with SCS_15–18. */
  mac?: Uint8Array;
}

export interface OsdpSecurityBlock {
  type: number;
  data: Buffer;
}

/** Whether a security block of this type is followed by a MAC. */
function securityBlockHasMac(type: number): boolean {
  return type >= SCS_WITH_MAC_FIRST && type <= SCS_WITH_MAC_LAST;
}

const checkLength = (integrity: OsdpIntegrity) => (integrity === 'crc16' ? 2 : 1);

/** The smallest LEN a frame with no data can have. */
export function minimumOsdpFrameLength(integrity: OsdpIntegrity): number {
  return OSDP_HEADER_LENGTH + 1 + checkLength(integrity);
}

/** Throws an `integrity` OsdpFrameError unless the CRC-16 or checksum at `checkAt` matches the bytes before it. */
function checkIntegrity(body: Uint8Array, integrity: OsdpIntegrity, checkAt: number, header: OsdpFrameHeader): void {
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
    return;
  }
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

export class OsdpFrame {
  readonly address: number;
  readonly isReply: boolean;
  readonly sequence: OsdpSequence;
  readonly code: number;
  readonly data: Buffer;
  readonly integrity: OsdpIntegrity;
  readonly mark: boolean;
  readonly securityBlock: OsdpSecurityBlock | undefined;
  readonly mac: Buffer | undefined;

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
    if (init.securityBlock) {
      const { type, data } = init.securityBlock;
      if (!Number.isInteger(type) || type < 0 || type > 0xff)
        throw new RangeError(`security block type must be one byte`);
      if (data.length > 0xfd) throw new RangeError(`security block data of ${data.length} bytes is too long`);
      this.securityBlock = { type, data: Buffer.from(data) };
      const wantsMac = securityBlockHasMac(type);
      if (wantsMac !== (init.mac !== undefined)) {
        throw new RangeError(`a MAC goes with security block types 0x15–0x18 only (type 0x${type.toString(16)})`);
      }
      if (init.mac && init.mac.length !== OSDP_MAC_LENGTH) throw new RangeError(`the MAC is ${OSDP_MAC_LENGTH} bytes`);
      this.mac = init.mac ? Buffer.from(init.mac) : undefined;
    } else {
      if (init.mac) throw new RangeError('a MAC needs a security block');
      this.securityBlock = undefined;
      this.mac = undefined;
    }
    if (this.length > 0xffff) throw new RangeError(`OSDP frame of ${this.length} bytes exceeds LEN's 16 bits`);
  }

  /** LEN: 0x53 through the check character(s), the mark byte excluded. */
  get length(): number {
    return (
      minimumOsdpFrameLength(this.integrity) +
      this.data.length +
      (this.securityBlock ? 2 + this.securityBlock.data.length : 0) +
      (this.mac ? OSDP_MAC_LENGTH : 0)
    );
  }

  /**
   * Reads exactly one frame (an optional leading 0xFF mark, then LEN bytes). Throws
   * `OsdpFrameError` for anything malformed, a security block that does not fit included.
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
    header.code =
      body[ctrl & CTRL_SECURITY_BLOCK ? OSDP_HEADER_LENGTH + body[OSDP_HEADER_LENGTH]! : OSDP_HEADER_LENGTH];
    checkIntegrity(body, integrity, checkAt, header);
    let codeAt = OSDP_HEADER_LENGTH;
    let securityBlock: OsdpSecurityBlock | undefined;
    let macAt = checkAt;
    if (ctrl & CTRL_SECURITY_BLOCK) {
      const blockLength = body[OSDP_HEADER_LENGTH]!;
      const type = body[OSDP_HEADER_LENGTH + 1]!;
      const hasMac = securityBlockHasMac(type);
      if (blockLength < 2 || OSDP_HEADER_LENGTH + blockLength + 1 + (hasMac ? OSDP_MAC_LENGTH : 0) > checkAt) {
        throw new OsdpFrameError('security-block', `OSDP security block of length ${blockLength} does not fit`, header);
      }
      securityBlock = {
        type,
        data: Buffer.from(body.subarray(OSDP_HEADER_LENGTH + 2, OSDP_HEADER_LENGTH + blockLength)),
      };
      codeAt = OSDP_HEADER_LENGTH + blockLength;
      if (hasMac) macAt = checkAt - OSDP_MAC_LENGTH;
    }
    return new OsdpFrame({
      address: header.address,
      isReply: header.isReply,
      sequence: header.sequence as OsdpSequence,
      code: body[codeAt]!,
      data: body.subarray(codeAt + 1, macAt),
      integrity,
      mark,
      securityBlock,
      ...(macAt !== checkAt ? { mac: body.subarray(macAt, checkAt) } : {}),
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
    out[at + 4] =
      this.sequence | (this.integrity === 'crc16' ? CTRL_CRC16 : 0) | (this.securityBlock ? CTRL_SECURITY_BLOCK : 0);
    let codeAt = at + OSDP_HEADER_LENGTH;
    if (this.securityBlock) {
      out[codeAt] = 2 + this.securityBlock.data.length;
      out[codeAt + 1] = this.securityBlock.type;
      this.securityBlock.data.copy(out, codeAt + 2);
      codeAt += 2 + this.securityBlock.data.length;
    }
    out[codeAt] = this.code;
    this.data.copy(out, codeAt + 1);
    const checkAt = at + length - checkLength(this.integrity);
    this.mac?.copy(out, checkAt - OSDP_MAC_LENGTH);
    if (this.integrity === 'crc16') out.writeUInt16LE(crc16(out, at, checkAt), checkAt);
    else out[checkAt] = checksum8(out, at, checkAt);
    return out;
  }

  /**
   * e.g. `OSDP cmd addr=0 seq=1 OUT 00 05 0a 00`. A frame with a security block shows its type and
   * the length of its data only: key material (osdp_KEYSET) and cryptograms never reach a log.
   */
  toString(): string {
    const head = `OSDP ${this.isReply ? 'reply' : 'cmd'} addr=${this.address} seq=${this.sequence}`;
    const name = osdpCodeName(this.code, this.isReply);
    if (this.securityBlock) {
      return `${head} SCS_${this.securityBlock.type.toString(16)} ${name} (${this.data.length} data bytes)`;
    }
    const data = this.data.length ? ` ${this.data.toString('hex').replace(/(..)(?!$)/g, '$1 ')}` : '';
    return `${head} ${name}${data}`;
  }
}

/** The sequence that follows `sequence` on the control-panel side: 0 is used once after a reset, then 1, 2, 3, 1 … */
export function nextOsdpSequence(sequence: OsdpSequence): OsdpSequence {
  return sequence === 3 ? 1 : ((sequence + 1) as OsdpSequence);
}

function describeByte(byte: number | undefined): string {
  return byte === undefined ? 'nothing' : `0x${byte.toString(16).padStart(2, '0')}`;
}
