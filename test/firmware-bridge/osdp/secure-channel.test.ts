/**
 * The OSDP secure channel against vectors from outside this repository, so the implementation
 * does not only agree with itself (docs/devices.md §8):
 *
 * 1. OSDP 2.2 (SIA) Annex E, "Examples": SCBK-D, RND.A = B0…B7, RND.B = A0…A7 → S-ENC, S-MAC1,
 *    S-MAC2, both cryptograms and the initial R-MAC. The same values are checked by libosdp
 *    (github.com/goToMain/libosdp, tests/unit-tests/test-sc-sia-vectors.c).
 * 2. NIST SP 800-38A F.2.1 (AES-128-CBC) for the MAC chaining and the data encryption, with the
 *    OSDP padding cases (15, 16 and 0 bytes) as libosdp's tests/unit-tests/test-sc.c derives them.
 * 3. A captured session: frames recorded on a bus by libosdp-conformance 1.38-4 (the SIA's
 *    conformance tool) as published in github.com/Z-bit-Systems-LLC/OSDP-Embedded,
 *    tests/captures/sc-monitor-current.osdpcap: a handshake with SCBK-D, osdp_KEYSET of a new key,
 *    a second handshake with that key, then encrypted and MAC-only traffic. We recompute every
 *    cryptogram, decrypt the key from the KEYSET, verify every MAC of the chain, and rebuild the
 *    CP's frames byte for byte.
 *
 * The bytes below are facts copied into this file (hex); nothing is fetched when the tests run.
 */
import { describe, expect, it } from 'vitest';
import { OsdpFrame } from '../../../firmware-bridge/osdp/frame.ts';
import {
  clientCryptogram,
  decodeCcrypt,
  decodeKeyset,
  decryptData,
  deriveSessionKeys,
  encryptData,
  initialRmac,
  OsdpSecureChannelError,
  osdpMac,
  SCBK_DEFAULT,
  Scs,
  SecureSession,
  serverCryptogram,
} from '../../../firmware-bridge/osdp/secure-channel.ts';

const hex = (text: string) => Buffer.from(text.replace(/[\s-]/g, ''), 'hex');

describe('OSDP 2.2 Annex E secure-channel example (SCBK-D)', () => {
  const rndA = hex('B0 B1 B2 B3 B4 B5 B6 B7');
  const rndB = hex('A0 A1 A2 A3 A4 A5 A6 A7');
  const keys = deriveSessionKeys(SCBK_DEFAULT, rndA);

  it('SCBK-D is 30 31 … 3F', () => {
    expect(SCBK_DEFAULT.toString('hex')).toBe('303132333435363738393a3b3c3d3e3f');
  });

  it('derives S-ENC, S-MAC1 and S-MAC2', () => {
    expect(keys.sMac1).toEqual(hex('5E 86 C6 76 60 3B DE E2 D8 BE AF E1 78 63 73 32'));
    expect(keys.sMac2).toEqual(hex('6F DA 86 E8 57 77 7E 81 13 20 35 75 82 39 17 2E'));
    expect(keys.sEnc).toEqual(hex('BF 8D C2 A8 32 9A CB 8C 67 C6 D0 CD 9A 45 16 82'));
  });

  it('computes the client (PD) and server (CP) cryptograms and the initial R-MAC', () => {
    expect(clientCryptogram(keys.sEnc, rndA, rndB)).toEqual(hex('FD E5 D2 F4 28 EC 16 31 24 71 EA 3C 02 BD 77 96'));
    const server = serverCryptogram(keys.sEnc, rndA, rndB);
    expect(server).toEqual(hex('26 D3 35 6E 07 76 2D 26 28 01 FC 8E 66 65 A8 91'));
    expect(initialRmac(keys, server)).toEqual(hex('B2 A3 00 57 EB 98 BA 22 29 EC 1F 87 56 62 B5 24'));
  });
});

describe('MAC chaining and data blocks (NIST SP 800-38A F.2.1 key and IV)', () => {
  const key = hex('2b7e151628aed2a6abf7158809cf4f3c');
  const iv = hex('000102030405060708090a0b0c0d0e0f');
  const plain4 = hex(
    '6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710',
  );
  // With S-MAC1 = S-MAC2 the OSDP MAC is plain CBC-MAC: the last CBC block.
  const keys = { sEnc: key, sMac1: key, sMac2: key };
  const notIv = Buffer.from(iv.map((b) => ~b & 0xff));

  it('MACs one block, four blocks and a padded partial block', () => {
    expect(osdpMac(keys, iv, plain4.subarray(0, 16))).toEqual(hex('7649abac8119b246cee98e9b12e9197d'));
    expect(osdpMac(keys, iv, plain4)).toEqual(hex('3ff1caa1681fac09120eca307586e1a7'));
    expect(osdpMac(keys, iv, hex('000102030405060708090a0b0c0d0e'))).toEqual(hex('c5311f3d23d086ea86f5ee7f85247b40'));
  });

  it('uses S-MAC1 for every block but the last and S-MAC2 for the last', () => {
    const split = { sEnc: key, sMac1: key, sMac2: hex('000102030405060708090a0b0c0d0e0f') };
    expect(osdpMac(split, iv, plain4)).not.toEqual(osdpMac(keys, iv, plain4));
    expect(osdpMac(split, iv, plain4.subarray(0, 16))).not.toEqual(hex('7649abac8119b246cee98e9b12e9197d'));
  });

  it('encrypts data with IV = NOT(chain MAC), always padding with 0x80 then zeros', () => {
    // The chain MAC whose complement is the NIST IV.
    expect(encryptData(key, notIv, hex('000102030405060708090a0b0c0d0e'))).toEqual(
      hex('c5311f3d23d086ea86f5ee7f85247b40'),
    );
    expect(encryptData(key, notIv, hex('000102030405060708090a0b0c0d0e0f'))).toEqual(
      hex('7df76b0c1ab899b33e42f047b91b546f e2fe5bd6c1dfcdd19124f03e1a134d3b'),
    );
    expect(encryptData(key, notIv, Buffer.alloc(0))).toEqual(hex('4c08220c79d9191022dc6674874ceaf8'));
  });

  it('decrypts and strips the padding; refuses partial blocks and a missing 0x80', () => {
    expect(decryptData(key, notIv, hex('c5311f3d23d086ea86f5ee7f85247b40'))).toEqual(
      hex('000102030405060708090a0b0c0d0e'),
    );
    expect(decryptData(key, notIv, hex('7df76b0c1ab899b33e42f047b91b546f e2fe5bd6c1dfcdd19124f03e1a134d3b'))).toEqual(
      hex('000102030405060708090a0b0c0d0e0f'),
    );
    expect(() => decryptData(key, notIv, Buffer.alloc(15))).toThrow(OsdpSecureChannelError);
    expect(() => decryptData(key, notIv, encryptData(key, notIv, Buffer.alloc(15)).subarray(0, 16).fill(0))).toThrow(
      /padding/,
    );
  });
});

/**
 * libosdp-conformance 1.38-4, sc-monitor-current.osdpcap (see the file comment), records 5 onward.
 * PD at address 0, cUID 0a 00 17 03 00 ca fe de, its random fixed to "abcdefgh".
 */
const CAPTURE = {
  pdid: '53 80 14 00 04 45 0a 00 17 03 00 ca fe de ed 01 50 02 04 3b',
  chlng1: '53 00 13 00 0d 03 11 00 76 cd cd 92 12 12 d3 ee 6a 8c 8b',
  ccrypt1:
    '53 80 2b 00 0d 03 12 00 76 0a 00 17 03 00 ca fe de 61 62 63 64 65 66 67 68 4b 7e 2f 98 ad 79 bd 96 81 19 a8 d1 d3 db da ee 8e fd',
  scrypt1: '53 00 1b 00 0e 03 13 00 77 a2 30 f5 d3 3b 25 f4 34 34 92 9a b2 08 de 90 a7 41 03',
  rmacI1: '53 80 1b 00 0e 03 14 01 78 d8 f5 43 e2 07 ac 5d 2e 30 be 9f ac 3a a0 4b ea 95 85',
  keyset:
    '53 00 2e 00 0f 02 17 75 ea 64 e3 51 74 e3 09 d6 6a d2 80 73 54 cd de 65 9e b5 22 6f 32 56 63 90 91 5e d7 79 87 bf 51 7c 41 25 ec 77 64 96',
  keysetAck: '53 80 0e 00 0f 02 16 40 b1 89 2d fe 52 95',
  chlng2: '53 00 13 00 0d 03 11 01 76 63 6e 34 78 f7 08 5c 57 5c e0',
  ccrypt2:
    '53 80 2b 00 0d 03 12 01 76 0a 00 17 03 00 ca fe de 61 62 63 64 65 66 67 68 59 7b 84 67 ad 2b 55 72 96 e1 23 4e 37 9d c3 11 2f 55',
  scrypt2: '53 00 1b 00 0e 03 13 01 77 db d8 cb 35 c8 11 88 cb dc f5 60 52 1e c8 44 69 35 64',
  rmacI2: '53 80 1b 00 0e 03 14 01 78 b1 e1 99 8a 99 22 92 28 c5 b1 1a 3d 39 22 cc 8d 65 f1',
  /** Command/reply pairs of the second session, in order. */
  session: [
    [
      '53 00 1e 00 0f 02 17 62 4c bd ac e6 60 da 28 f9 08 0d 31 67 04 be 7a e0 3a e5 5c 71 97 fc',
      '53 80 3e 00 0f 02 18 46 d9 8f 68 df 2d 3b 69 a8 d0 e0 d7 ec 43 d9 b3 2e 2a be d1 f5 77 34 c4 ba a3 17 0b 80 63 90 35 88 c4 b2 bf 14 a7 20 36 1c 56 a2 ff 97 a6 f6 c7 a4 38 56 37 7d aa 32',
    ],
    [
      '53 00 1e 00 0d 02 17 69 02 45 f0 90 72 01 28 b1 d0 0b fe 54 c7 a9 ef 58 1e da e7 70 59 d2',
      '53 80 0e 00 0d 02 16 40 d6 6d 22 2c fb 95',
    ],
    [
      '53 00 3e 00 0e 02 17 6b 0e 1a d8 d9 f7 f7 b7 3e 7b 59 0c f3 b5 fa 65 1d 6a e3 df 83 c7 14 86 d8 ae 48 8e 73 09 d8 a2 1b d1 74 4d 9f 87 8a 3f 85 8a cb 7c ab a8 1c 29 de 36 fc 2f 80 fc bd',
      '53 80 0e 00 0e 02 16 40 ca 21 17 1b 03 dd',
    ],
    [
      '53 00 1e 00 0f 02 17 64 7c ba 29 1c 20 39 20 b5 4c 9e ed 44 62 36 3c e8 c5 c8 98 8f 1e ef',
      '53 80 1e 00 0f 02 18 48 db 34 e7 e8 1c 61 f1 2f f4 5f cb 76 02 f6 de 2f 1a 52 32 df 33 d4',
    ],
    [
      '53 00 1e 00 0d 02 17 67 6b 5d 29 0a 89 9f 39 d3 70 3c f8 54 f2 10 7d 17 6b c0 27 9c 59 41',
      '53 80 1e 00 0d 02 18 4b f2 44 42 0c 17 89 36 17 8c bc 2a 26 e3 6d 2d 0d f7 0b 4c 76 0e 32',
    ],
    [
      '53 00 1e 00 0e 02 17 7b 75 cb fe 2a 39 51 c6 16 60 54 15 38 e3 4a 8f dd 47 f6 e1 97 b8 df',
      '53 80 0e 00 0e 02 16 40 58 03 38 f6 09 24',
    ],
    ['53 00 0e 00 0f 02 15 60 98 10 8d 64 b0 c7', '53 80 0e 00 0f 02 16 40 b3 92 15 54 34 53'],
    ['53 00 0e 00 0d 02 15 60 7c b5 47 fe 0d 8b', '53 80 0e 00 0d 02 16 40 a2 82 05 f7 18 74'],
    ['53 00 0e 00 0e 02 15 60 d1 5b 4d 23 a3 de', '53 80 0e 00 0e 02 16 40 8c c6 2c 32 83 dd'],
  ],
} as const;

const frame = (text: string) => OsdpFrame.fromBuffer(hex(text));

/** Replays one handshake as the CP would check it; returns the session both sides then share. */
function replayHandshake(scbk: Buffer, chlng: string, ccrypt: string, scrypt: string, rmacI: string) {
  const rndA = frame(chlng).data;
  const reply = decodeCcrypt(frame(ccrypt));
  const keys = deriveSessionKeys(scbk, rndA);
  expect(reply.cuid).toEqual(hex('0a 00 17 03 00 ca fe de'));
  expect(reply.rndB.toString()).toBe('abcdefgh');
  expect(clientCryptogram(keys.sEnc, rndA, reply.rndB)).toEqual(reply.clientCryptogram);
  const server = serverCryptogram(keys.sEnc, rndA, reply.rndB);
  expect(frame(scrypt).data).toEqual(server);
  const rmac = initialRmac(keys, server);
  expect(frame(rmacI).data).toEqual(rmac);
  return { keys, rmac };
}

describe('a session captured from libosdp-conformance', () => {
  it('frames round-trip byte for byte, security block and MAC included', () => {
    const all = [
      CAPTURE.pdid,
      CAPTURE.chlng1,
      CAPTURE.ccrypt1,
      CAPTURE.scrypt1,
      CAPTURE.rmacI1,
      CAPTURE.keyset,
      CAPTURE.keysetAck,
      ...CAPTURE.session.flat(),
    ];
    for (const text of all) expect(frame(text).toBuffer()).toEqual(hex(text));
    expect(frame(CAPTURE.chlng1).securityBlock).toEqual({ type: Scs.CHLNG, data: hex('00') });
    expect(frame(CAPTURE.keyset)).toMatchObject({ code: 0x75, sequence: 3, mac: hex('41 25 ec 77') });
    expect(frame(CAPTURE.keyset).toString()).not.toMatch(/ea 64/); // no ciphertext (let alone keys) in logs
  });

  it('SCBK-D handshake → KEYSET (decrypted) → handshake with the new key → every MAC of the session verifies', () => {
    const first = replayHandshake(SCBK_DEFAULT, CAPTURE.chlng1, CAPTURE.ccrypt1, CAPTURE.scrypt1, CAPTURE.rmacI1);
    const monitor1 = new SecureSession(first.keys, first.rmac);
    const keyset = monitor1.openCommand(frame(CAPTURE.keyset));
    const newKey = decodeKeyset(keyset.data);
    expect(newKey).toHaveLength(16);
    expect(newKey).not.toEqual(SCBK_DEFAULT);
    expect(monitor1.openReply(frame(CAPTURE.keysetAck)).code).toBe(0x40);

    const second = replayHandshake(newKey, CAPTURE.chlng2, CAPTURE.ccrypt2, CAPTURE.scrypt2, CAPTURE.rmacI2);
    const monitor = new SecureSession(second.keys, second.rmac);
    const cp = new SecureSession(second.keys, second.rmac);
    const opened: OsdpFrame[] = [];
    for (const [command, reply] of CAPTURE.session) {
      const wire = frame(command);
      const plain = monitor.openCommand(wire);
      opened.push(plain);
      // What our CP builds for the same command in the same chain state is what was on the wire;
      // the capture's tool sends osdp_LSTAT/RSTAT/… with an all-padding SCS_17 where we send SCS_15.
      const rebuilt = cp.sealCommand({ address: 0, sequence: wire.sequence, code: wire.code, data: plain.data });
      if (plain.data.length > 0 || wire.securityBlock!.type === Scs.COMMAND_MAC) expect(rebuilt).toEqual(hex(command));
      else cp.openCommand(wire); // keep our chain where the capture's is
      opened.push(monitor.openReply(frame(reply)));
      cp.openReply(frame(reply));
    }
    expect(opened[0]).toMatchObject({ code: 0x62, data: hex('00') }); // osdp_CAP
    expect(opened[1]!.code).toBe(0x46); // osdp_PDCAP, 3-byte records
    expect(opened[1]!.data.length % 3).toBe(0);
    expect(opened.slice(-2).map((f) => f.code)).toEqual([0x60, 0x40]); // POLL / ACK, MAC only
  });

  it('refuses a captured frame with one bit flipped in the MAC or in the ciphertext, and a plaintext reply', () => {
    const first = replayHandshake(SCBK_DEFAULT, CAPTURE.chlng1, CAPTURE.ccrypt1, CAPTURE.scrypt1, CAPTURE.rmacI1);
    const flip = (text: string, at: number) => {
      const f = frame(text);
      const bytes = f.toBuffer();
      bytes[at]! ^= 0x01;
      const tampered = new OsdpFrame({ ...f, data: bytes.subarray(8, bytes.length - 6), mac: bytes.subarray(-6, -2) });
      return tampered;
    };
    expect(() => new SecureSession(first.keys, first.rmac).openCommand(flip(CAPTURE.keyset, 10))).toThrow(
      expect.objectContaining({ problem: 'mac' }),
    );
    expect(() => new SecureSession(first.keys, first.rmac).openCommand(flip(CAPTURE.keyset, 41))).toThrow(
      expect.objectContaining({ problem: 'mac' }),
    );
    const session = new SecureSession(first.keys, first.rmac);
    session.openCommand(frame(CAPTURE.keyset));
    expect(() => session.openReply(new OsdpFrame({ address: 0, isReply: true, sequence: 3, code: 0x40 }))).toThrow(
      expect.objectContaining({ problem: 'plaintext' }),
    );
  });
});
