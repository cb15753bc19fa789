/**
 * The OSDP secure channel (OSDP 2.2 Annex D; facts in docs/devices.md §8): AES-128 with the
 * Secure Channel Base Key (SCBK) of one PD, a four-message handshake that proves both sides hold
 * it, session keys derived from it and the CP's random, and a MAC chained through every later
 * message, whose data is AES-CBC encrypted.
 *
 *   CP → PD  osdp_CHLNG   SCS_11 [key]   RND.A (8)
 *   PD → CP  osdp_CCRYPT  SCS_12 [key]   cUID (8) ‖ RND.B (8) ‖ client cryptogram (16)
 *   CP → PD  osdp_SCRYPT  SCS_13 [key]   server cryptogram (16)
 *   PD → CP  osdp_RMAC_I  SCS_14 [ok]    initial R-MAC (16)
 *   then     SCS_15/16 (MAC only, for messages without data) or SCS_17/18 (MAC + encrypted data)
 *
 * `[key]` is 0 when the session is keyed with the install key SCBK-D, 1 with the PD's own SCBK.
 * `SecureSession` holds one side's state (keys and the two MAC chains) and seals / opens frames;
 * a CP and a PD each keep one per link. Everything here is synchronous and allocation-light: a
 * session message costs two or three single-block AES operations (node:crypto, OpenSSL).
 *
 * Key material never leaves this module in a string: no toString of keys, no logging.
 */
import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import { AnxinError } from '../../shared/errors.ts';
import { OSDP_MAC_LENGTH, OsdpFrame, type OsdpFrameInit } from './frame.ts';

/** The install-mode key every factory-fresh PD accepts (OSDP 2.2 Annex D): 0x30 … 0x3F. */
export const SCBK_DEFAULT: Buffer = Buffer.from('303132333435363738393a3b3c3d3e3f', 'hex');
const SCBK_LENGTH = 16;

/** Security control block types. */
export const Scs = {
  CHLNG: 0x11,
  CCRYPT: 0x12,
  SCRYPT: 0x13,
  RMAC_I: 0x14,
  COMMAND_MAC: 0x15,
  REPLY_MAC: 0x16,
  COMMAND_ENCRYPTED: 0x17,
  REPLY_ENCRYPTED: 0x18,
} as const;

/** osdp_CCRYPT / osdp_RMAC_I reply codes (the commands are in codes.ts). */
export const ScReply = { CCRYPT: 0x76, RMAC_I: 0x78 } as const;
/** Key type 1 of osdp_KEYSET: the secure channel base key. */
const KEYSET_KEY_TYPE_SCBK = 1;
/** SCS_14's data byte when the PD accepted the server cryptogram. */
export const RMAC_I_ACCEPTED = 0x01;
const RMAC_I_REFUSED = 0xff;

/** Which key a handshake uses, as carried in the SCS_11–14 data byte. */
export type ScKeyKind = 'install' | 'scbk';
const keyKindByte = (kind: ScKeyKind) => (kind === 'install' ? 0 : 1);
export function keyKindOf(byte: number | undefined): ScKeyKind | undefined {
  return byte === 0 ? 'install' : byte === 1 ? 'scbk' : undefined;
}

export type SecureChannelProblem =
  | 'unsupported'
  | 'cryptogram'
  | 'rmac'
  | 'mac'
  | 'decrypt'
  | 'plaintext'
  | 'protocol'
  | 'key';

/** A handshake, a MAC or a decryption failed; `problem` says which, the message never carries key bytes. */
export class OsdpSecureChannelError extends AnxinError {
  readonly problem: SecureChannelProblem;
  constructor(problem: SecureChannelProblem, message: string) {
    super('osdp-secure-channel', message, { problem });
    this.problem = problem;
  }
}

/** Parses a 32-hex-digit key; throws a TypeError that never echoes the input. */
export function parseScbk(text: string, what = 'SCBK'): Buffer {
  const clean = text.trim();
  if (!/^[0-9a-fA-F]{32}$/.test(clean)) throw new TypeError(`${what} must be 32 hex digits (16 bytes)`);
  return Buffer.from(clean, 'hex');
}

export function checkScbk(key: Uint8Array, what = 'SCBK'): Buffer {
  if (key.length !== SCBK_LENGTH) throw new TypeError(`${what} must be 16 bytes, got ${key.length}`);
  return Buffer.from(key);
}

function aesEcb(key: Uint8Array, block: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-128-ecb', key, null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(block), cipher.final()]);
}

function aesCbc(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-128-cbc', key, iv);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

function aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  const decipher = createDecipheriv('aes-128-cbc', key, iv);
  decipher.setAutoPadding(false);
  return Buffer.concat([decipher.update(data), decipher.final()]);
}

export interface SessionKeys {
  sEnc: Buffer;
  sMac1: Buffer;
  sMac2: Buffer;
}

/** S-ENC, S-MAC1, S-MAC2 = AES-ECB(SCBK, 01 {82|01|02} RND.A[0..5] 00×8). */
export function deriveSessionKeys(scbk: Uint8Array, rndA: Uint8Array): SessionKeys {
  const block = (second: number) => {
    const b = Buffer.alloc(16);
    b[0] = 0x01;
    b[1] = second;
    Buffer.from(rndA.subarray(0, 6)).copy(b, 2);
    return aesEcb(scbk, b);
  };
  return { sEnc: block(0x82), sMac1: block(0x01), sMac2: block(0x02) };
}

/** The PD's proof (in osdp_CCRYPT): AES-ECB(S-ENC, RND.A ‖ RND.B). */
export function clientCryptogram(sEnc: Uint8Array, rndA: Uint8Array, rndB: Uint8Array): Buffer {
  return aesEcb(sEnc, Buffer.concat([rndA, rndB]));
}

/** The CP's proof (in osdp_SCRYPT): AES-ECB(S-ENC, RND.B ‖ RND.A). */
export function serverCryptogram(sEnc: Uint8Array, rndA: Uint8Array, rndB: Uint8Array): Buffer {
  return aesEcb(sEnc, Buffer.concat([rndB, rndA]));
}

/** The first link of the MAC chain (in osdp_RMAC_I): AES-ECB(S-MAC2, AES-ECB(S-MAC1, server cryptogram)). */
export function initialRmac(keys: SessionKeys, serverCrypto: Uint8Array): Buffer {
  return aesEcb(keys.sMac2, aesEcb(keys.sMac1, serverCrypto));
}

/**
 * The OSDP MAC of `message` (0x53 through the last data byte) chained from `iv` (the other side's
 * last full MAC): padded with 0x80 then zeros when not a multiple of 16, AES-CBC under S-MAC1 over
 * every block but the last, the last under S-MAC2. Returns all 16 bytes; the wire carries the first 4.
 */
export function osdpMac(keys: SessionKeys, iv: Uint8Array, message: Uint8Array): Buffer {
  const padded = message.length % 16 === 0 ? Buffer.from(message) : pad(message);
  let chain: Buffer = Buffer.from(iv);
  if (padded.length > 16) {
    const head = aesCbc(keys.sMac1, chain, padded.subarray(0, padded.length - 16));
    chain = head.subarray(head.length - 16);
  }
  return aesCbc(keys.sMac2, chain, padded.subarray(padded.length - 16));
}

/** 0x80 then zeros up to the next multiple of 16 — always at least the 0x80 (data blocks). */
function pad(data: Uint8Array): Buffer {
  const length = (Math.floor(data.length / 16) + 1) * 16;
  const out = Buffer.alloc(length);
  Buffer.from(data.buffer, data.byteOffset, data.length).copy(out);
  out[data.length] = 0x80;
  return out;
}

const invert = (mac: Uint8Array): Buffer => Buffer.from(Array.from(mac.subarray(0, 16), (b) => ~b & 0xff));

/** Encrypts a data block: always padded (0x80 then zeros), AES-CBC under S-ENC, IV = NOT(chain MAC). */
export function encryptData(sEnc: Uint8Array, chainMac: Uint8Array, data: Uint8Array): Buffer {
  return aesCbc(sEnc, invert(chainMac), pad(data));
}

/** Reverses `encryptData`; a length that is not whole blocks, or padding that is not 0x80 00…, is refused. */
export function decryptData(sEnc: Uint8Array, chainMac: Uint8Array, data: Uint8Array): Buffer {
  if (data.length === 0 || data.length % 16 !== 0) {
    throw new OsdpSecureChannelError('decrypt', `encrypted data of ${data.length} bytes is not whole AES blocks`);
  }
  const plain = aesCbcDecrypt(sEnc, invert(chainMac), data);
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0) end--;
  if (end < 0 || plain[end] !== 0x80 || plain.length - end > 16) {
    throw new OsdpSecureChannelError('decrypt', 'decrypted data has no valid padding');
  }
  return plain.subarray(0, end);
}

/** Constant-time comparison of equal-length secrets (cryptograms, MACs). */
export function sameSecret(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function newRandom(): Buffer {
  return randomBytes(8);
}

/**
 * One side of an established session: the keys and the two chains. `cMac` is the last command's
 * full MAC, `rMac` the last reply's (after the handshake, the initial R-MAC). Commands are MACed
 * from `rMac`, replies from `cMac`; command data is encrypted with IV = NOT(rMac), reply data
 * with IV = NOT(cMac).
 */
export class SecureSession {
  readonly keys: SessionKeys;
  #cMac: Buffer;
  #rMac: Buffer;

  constructor(keys: SessionKeys, initialRMac: Uint8Array) {
    this.keys = keys;
    this.#rMac = Buffer.from(initialRMac);
    this.#cMac = Buffer.alloc(16);
  }

  /** Builds the bytes of a command under this session (SCS_17 with data, SCS_15 without) and advances the chain. */
  sealCommand(init: Omit<OsdpFrameInit, 'securityBlock' | 'mac' | 'isReply'>): Buffer {
    const { bytes, mac } = this.#seal({ ...init, isReply: false }, this.#rMac, Scs.COMMAND_ENCRYPTED, Scs.COMMAND_MAC);
    this.#cMac = mac;
    return bytes;
  }

  /** Builds the bytes of a reply under this session (SCS_18 / SCS_16) and advances the chain. */
  sealReply(init: Omit<OsdpFrameInit, 'securityBlock' | 'mac' | 'isReply'>): Buffer {
    const { bytes, mac } = this.#seal({ ...init, isReply: true }, this.#cMac, Scs.REPLY_ENCRYPTED, Scs.REPLY_MAC);
    this.#rMac = mac;
    return bytes;
  }

  /** Checks a reply's MAC, decrypts its data, advances the chain; returns the plain frame. Throws `OsdpSecureChannelError`. */
  openReply(frame: OsdpFrame): OsdpFrame {
    const { plain, mac } = this.#open(frame, this.#cMac, Scs.REPLY_ENCRYPTED, Scs.REPLY_MAC, 'reply');
    this.#rMac = mac;
    return plain;
  }

  /** Checks a command's MAC, decrypts its data, advances the chain; returns the plain frame. Throws `OsdpSecureChannelError`. */
  openCommand(frame: OsdpFrame): OsdpFrame {
    const { plain, mac } = this.#open(frame, this.#rMac, Scs.COMMAND_ENCRYPTED, Scs.COMMAND_MAC, 'command');
    this.#cMac = mac;
    return plain;
  }

  #seal(init: OsdpFrameInit, chain: Buffer, encryptedType: number, macType: number) {
    const data = Buffer.from(init.data ?? []);
    const encrypted = data.length > 0;
    const parts = {
      ...init,
      data: encrypted ? encryptData(this.keys.sEnc, chain, data) : Buffer.alloc(0),
      securityBlock: { type: encrypted ? encryptedType : macType, data: Buffer.alloc(0) },
    };
    // The MAC covers 0x53 … the last data byte with LEN already counting the MAC and the check.
    const unsealed = new OsdpFrame({ ...parts, mark: false, mac: Buffer.alloc(OSDP_MAC_LENGTH) }).toBuffer();
    const macAt = unsealed.length - (parts.integrity === 'checksum' ? 1 : 2) - OSDP_MAC_LENGTH;
    const mac = osdpMac(this.keys, chain, unsealed.subarray(0, macAt));
    const bytes = new OsdpFrame({ ...parts, mac: mac.subarray(0, OSDP_MAC_LENGTH) }).toBuffer();
    return { bytes, mac };
  }

  #open(frame: OsdpFrame, chain: Buffer, encryptedType: number, macType: number, what: string) {
    const type = frame.securityBlock?.type;
    if (type === undefined || !frame.mac) {
      throw new OsdpSecureChannelError('plaintext', `a ${what} without the secure channel's MAC during a session`);
    }
    if (type !== encryptedType && type !== macType) {
      throw new OsdpSecureChannelError('protocol', `a ${what} with security block type 0x${type.toString(16)}`);
    }
    const bytes = new OsdpFrame({ ...frame, mark: false }).toBuffer();
    const macAt = bytes.length - (frame.integrity === 'crc16' ? 2 : 1) - OSDP_MAC_LENGTH;
    const mac = osdpMac(this.keys, chain, bytes.subarray(0, macAt));
    if (!sameSecret(mac.subarray(0, OSDP_MAC_LENGTH), frame.mac)) {
      throw new OsdpSecureChannelError('mac', `the ${what}'s MAC does not verify`);
    }
    let data: Buffer = Buffer.alloc(0);
    if (type === encryptedType) data = decryptData(this.keys.sEnc, chain, frame.data);
    else if (frame.data.length > 0) {
      throw new OsdpSecureChannelError('protocol', `a MAC-only ${what} carries ${frame.data.length} data bytes`);
    }
    const plain = new OsdpFrame({
      address: frame.address,
      isReply: frame.isReply,
      sequence: frame.sequence,
      code: frame.code,
      data,
      integrity: frame.integrity,
    });
    return { plain, mac };
  }
}

// ---- the handshake, as data (both sides) ----

/** osdp_CHLNG: SCS_11 with the key kind, RND.A as data. */
export function chlngFrame(address: number, sequence: OsdpFrameInit['sequence'], kind: ScKeyKind, rndA: Uint8Array) {
  return new OsdpFrame({
    address,
    sequence,
    code: 0x76,
    data: rndA,
    securityBlock: { type: Scs.CHLNG, data: Buffer.from([keyKindByte(kind)]) },
  });
}

/** osdp_SCRYPT: SCS_13 with the key kind, the server cryptogram as data. */
export function scryptFrame(address: number, sequence: OsdpFrameInit['sequence'], kind: ScKeyKind, crypto: Uint8Array) {
  return new OsdpFrame({
    address,
    sequence,
    code: 0x77,
    data: crypto,
    securityBlock: { type: Scs.SCRYPT, data: Buffer.from([keyKindByte(kind)]) },
  });
}

export function ccryptFrame(
  address: number,
  sequence: OsdpFrameInit['sequence'],
  kind: ScKeyKind,
  cuid: Uint8Array,
  rndB: Uint8Array,
  crypto: Uint8Array,
) {
  return new OsdpFrame({
    address,
    isReply: true,
    sequence,
    code: ScReply.CCRYPT,
    data: Buffer.concat([cuid, rndB, crypto]),
    securityBlock: { type: Scs.CCRYPT, data: Buffer.from([keyKindByte(kind)]) },
  });
}

export function rmacIFrame(address: number, sequence: OsdpFrameInit['sequence'], accepted: boolean, rmac: Uint8Array) {
  return new OsdpFrame({
    address,
    isReply: true,
    sequence,
    code: ScReply.RMAC_I,
    data: rmac,
    securityBlock: { type: Scs.RMAC_I, data: Buffer.from([accepted ? RMAC_I_ACCEPTED : RMAC_I_REFUSED]) },
  });
}

export interface Ccrypt {
  cuid: Buffer;
  rndB: Buffer;
  clientCryptogram: Buffer;
}

export function decodeCcrypt(frame: OsdpFrame): Ccrypt {
  if (frame.code !== ScReply.CCRYPT || frame.securityBlock?.type !== Scs.CCRYPT || frame.data.length !== 32) {
    throw new OsdpSecureChannelError('protocol', 'expected osdp_CCRYPT (SCS_12) with 32 data bytes');
  }
  return {
    cuid: Buffer.from(frame.data.subarray(0, 8)),
    rndB: Buffer.from(frame.data.subarray(8, 16)),
    clientCryptogram: Buffer.from(frame.data.subarray(16, 32)),
  };
}

/** osdp_KEYSET data: key type 1 (SCBK), length 16, the key. Sent only under an encrypting session. */
export function encodeKeyset(scbk: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([KEYSET_KEY_TYPE_SCBK, SCBK_LENGTH]), checkScbk(scbk, 'new SCBK')]);
}

export function decodeKeyset(data: Uint8Array): Buffer {
  if (data.length !== 2 + SCBK_LENGTH || data[0] !== KEYSET_KEY_TYPE_SCBK || data[1] !== SCBK_LENGTH) {
    throw new OsdpSecureChannelError('key', 'osdp_KEYSET must carry key type 1 and a 16-byte key');
  }
  return Buffer.from(data.subarray(2));
}
