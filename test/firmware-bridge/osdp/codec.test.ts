import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checksum8, crc16 } from '../../../firmware-bridge/osdp/crc.ts';
import { OsdpCommand, OsdpReply, osdpCodeName, osdpNakReasonName } from '../../../firmware-bridge/osdp/codes.ts';
import { nextOsdpSequence, OsdpFrame, type OsdpSequence } from '../../../firmware-bridge/osdp/frame.ts';
import { OsdpFrameError } from '../../../firmware-bridge/osdp/errors.ts';
import {
  decodeBuz,
  decodeLed,
  decodeOut,
  encodeBuz,
  encodeLed,
  encodeOut,
  LED_RECORD_LENGTH,
  OutputControl,
} from '../../../firmware-bridge/osdp/commands.ts';
import {
  decodeInputStates,
  decodeKeypad,
  decodeNak,
  decodePdCap,
  decodePdId,
  decodeRaw,
  encodeInputStates,
  encodeKeypad,
  encodeNak,
  encodePdCap,
  encodePdId,
  encodeRaw,
} from '../../../firmware-bridge/osdp/replies.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('OSDP check characters (docs/devices.md §5)', () => {
  it('CRC-16/AUG-CCITT of "123456789" is the ✓ check value 0xE5CC', () => {
    expect(crc16(Buffer.from('123456789', 'ascii'))).toBe(0xe5cc);
  });

  it('CRC-16 of nothing is the init value 0x1D0F', () => {
    expect(crc16(Buffer.alloc(0))).toBe(0x1d0f);
  });

  it('the checksum makes the 8-bit sum of the covered bytes plus itself zero', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const sum = bytes.reduce((s, b) => s + b, 0) + checksum8(bytes);
        expect(sum & 0xff).toBe(0);
      }),
    );
  });

  it('CRC-16 over a range equals CRC-16 over the sliced bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 64 }), fc.nat(), (bytes, cut) => {
        const start = cut % bytes.length;
        expect(crc16(bytes, start, bytes.length)).toBe(crc16(bytes.subarray(start)));
      }),
    );
  });
});

describe('OsdpFrame', () => {
  it('builds the ✓ POLL example: address 0, sequence 0 → 53 00 08 00 04 60 EB AA', () => {
    const poll = new OsdpFrame({ address: 0, sequence: 0, code: OsdpCommand.POLL });
    expect(poll.toBuffer().toString('hex')).toBe('5300080004' + '60' + 'ebaa');
  });

  it('reads the ✓ POLL example back', () => {
    const frame = OsdpFrame.fromBuffer(hex('53 00 08 00 04 60 EB AA'));
    expect(frame).toMatchObject({
      address: 0,
      isReply: false,
      sequence: 0,
      code: 0x60,
      integrity: 'crc16',
      mark: false,
    });
    expect(frame.data.length).toBe(0);
    expect(frame.toString()).toBe('OSDP cmd addr=0 seq=0 POLL');
  });

  it('sets the reply bit on the address of a reply and reads it back', () => {
    const ack = new OsdpFrame({ address: 5, isReply: true, sequence: 2, code: OsdpReply.ACK });
    const bytes = ack.toBuffer();
    expect(bytes[1]).toBe(0x85);
    expect(OsdpFrame.fromBuffer(bytes)).toMatchObject({ address: 5, isReply: true, sequence: 2, code: 0x40 });
  });

  it('writes and accepts the optional 0xFF mark byte, which LEN does not count', () => {
    const bytes = new OsdpFrame({ address: 0, sequence: 0, code: OsdpCommand.POLL, mark: true }).toBuffer();
    expect(bytes.toString('hex')).toBe('ff' + '53000800046' + '0ebaa');
    expect(OsdpFrame.fromBuffer(bytes).mark).toBe(true);
  });

  it('uses the 8-bit checksum when CTRL bit 2 is clear', () => {
    const frame = new OsdpFrame({ address: 1, sequence: 1, code: OsdpCommand.POLL, integrity: 'checksum' });
    const bytes = frame.toBuffer();
    expect(bytes.length).toBe(7);
    expect(bytes[4]! & 0x04).toBe(0);
    expect(OsdpFrame.fromBuffer(bytes).integrity).toBe('checksum');
  });

  it('round-trips random frames', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x7f }),
        fc.boolean(),
        fc.constantFrom<OsdpSequence>(0, 1, 2, 3),
        fc.integer({ min: 0, max: 0xff }),
        fc.uint8Array({ maxLength: 200 }),
        fc.constantFrom('crc16' as const, 'checksum' as const),
        fc.boolean(),
        (address, isReply, sequence, code, data, integrity, mark) => {
          const frame = new OsdpFrame({ address, isReply, sequence, code, data, integrity, mark });
          const back = OsdpFrame.fromBuffer(frame.toBuffer());
          expect(back).toEqual(frame);
        },
      ),
    );
  });

  it('refuses a wrong CRC, a wrong LEN, a wrong start byte and reserved CTRL bits with typed errors', () => {
    const good = hex('53 00 08 00 04 60 EB AA');
    const badCrc = Buffer.from(good);
    badCrc[7] = badCrc[7]! ^ 1;
    expect(() => OsdpFrame.fromBuffer(badCrc)).toThrow(
      expect.objectContaining({ code: 'osdp-bad-frame', problem: 'integrity' }),
    );
    expect(() => OsdpFrame.fromBuffer(good.subarray(0, 7))).toThrow(expect.objectContaining({ problem: 'length' }));
    expect(() => OsdpFrame.fromBuffer(hex('54 00 08 00 04 60 EB AA'))).toThrow(
      expect.objectContaining({ problem: 'start' }),
    );
    const reserved = Buffer.from(good);
    reserved[4] = 0x14;
    expect(() => OsdpFrame.fromBuffer(reserved)).toThrow(OsdpFrameError);
  });

  it('reads a security block (and a session MAC) instead of taking it for data', () => {
    // 53 ADDR LEN CTRL(seq 0, CRC, SCB) | SCB: length 2, type 0x15 | POLL | MAC ×4 | CRC
    const frame = Buffer.concat([hex('53 02 0E 00 0C 02 15 60 01 02 03 04'), Buffer.alloc(2)]);
    frame.writeUInt16LE(crc16(frame, 0, 12), 12);
    const parsed = OsdpFrame.fromBuffer(frame);
    expect(parsed).toMatchObject({ address: 2, code: 0x60, securityBlock: { type: 0x15 }, mac: hex('01 02 03 04') });
    expect(parsed.data).toHaveLength(0);
    expect(parsed.toBuffer()).toEqual(frame);
  });

  it('refuses a security block that does not fit its frame', () => {
    // SCB length 9 in a frame with room for 2.
    const frame = Buffer.concat([hex('53 02 0A 00 0C 09 11 60'), Buffer.alloc(2)]);
    frame.writeUInt16LE(crc16(frame, 0, 8), 8);
    let caught: unknown;
    try {
      OsdpFrame.fromBuffer(frame);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(OsdpFrameError);
    expect(caught).toMatchObject({ problem: 'security-block', header: { address: 2, sequence: 0 } });
  });

  it('refuses out-of-range fields when building', () => {
    expect(() => new OsdpFrame({ address: 0x80, sequence: 0, code: 0x60 })).toThrow(RangeError);
    expect(() => new OsdpFrame({ address: 0, sequence: 4 as OsdpSequence, code: 0x60 })).toThrow(RangeError);
    expect(() => new OsdpFrame({ address: 0, sequence: 0, code: 0x100 })).toThrow(RangeError);
  });

  it('sequences the control panel way: 0 once, then 1, 2, 3, 1, 2, 3', () => {
    const seen: OsdpSequence[] = [0];
    for (let i = 0; i < 6; i++) seen.push(nextOsdpSequence(seen[seen.length - 1]!));
    expect(seen).toEqual([0, 1, 2, 3, 1, 2, 3]);
  });

  it('names codes and NAK reasons', () => {
    expect(osdpCodeName(0x53, true)).toBe('KEYPAD');
    expect(osdpCodeName(0x53, false)).toBe('0x53');
    expect(osdpNakReasonName(4)).toBe('sequence');
    expect(osdpNakReasonName(9)).toBe('reason-0x09');
  });
});

describe('command payloads', () => {
  it('osdp_OUT: temporary on of output 0 for 2 s is 00 05 14 00', () => {
    expect(encodeOut([{ output: 0, control: OutputControl.TEMPORARY_ON, timer: 20 }]).toString('hex')).toBe('00051400');
  });

  it('osdp_OUT round-trips several records and refuses a ragged length', () => {
    const outs = [
      { output: 0, control: OutputControl.TEMPORARY_ON, timer: 300 },
      { output: 1, control: OutputControl.PERMANENT_OFF_ABORT_TIMER, timer: 0 },
    ] as const;
    expect(decodeOut(encodeOut(outs))).toEqual(outs);
    expect(() => decodeOut(Buffer.alloc(5))).toThrow(expect.objectContaining({ code: 'osdp-bad-payload' }));
    expect(() => encodeOut([{ output: 0, control: 5, timer: 70_000 }])).toThrow(RangeError);
  });

  it('osdp_LED is 14 bytes per LED and round-trips', () => {
    const led = {
      reader: 0,
      led: 0,
      temporary: { control: 2 as const, onTime: 5, offTime: 0, onColour: 2, offColour: 0, timer: 0x0123 },
      permanent: { control: 1 as const, onTime: 1, offTime: 0, onColour: 1, offColour: 0 },
    };
    const bytes = encodeLed([led]);
    expect(bytes.length).toBe(LED_RECORD_LENGTH);
    expect(bytes.toString('hex')).toBe('0000020500020023010101000100');
    expect(decodeLed(bytes)).toEqual([led]);
    expect(() => decodeLed(Buffer.alloc(13))).toThrow(expect.objectContaining({ code: 'osdp-bad-payload' }));
  });

  it('osdp_BUZ is reader, tone, on, off, count', () => {
    const buz = { reader: 0, tone: 2, onTime: 1, offTime: 1, count: 3 };
    expect(encodeBuz(buz).toString('hex')).toBe('0002010103');
    expect(decodeBuz(encodeBuz(buz))).toEqual(buz);
    expect(() => decodeBuz(Buffer.alloc(4))).toThrow(expect.objectContaining({ code: 'osdp-bad-payload' }));
  });
});

describe('reply payloads', () => {
  it('NAK carries its reason byte', () => {
    expect(decodeNak(encodeNak(4))).toEqual({ reason: 4 });
    expect(() => decodeNak(Buffer.alloc(0))).toThrow(expect.objectContaining({ code: 'osdp-bad-payload' }));
  });

  it('PDID is 12 bytes and round-trips', () => {
    const id = {
      vendorCode: Buffer.from([0x0a, 0x0b, 0x0c]),
      model: 7,
      version: 2,
      serialNumber: 0xdeadbeef,
      firmware: { major: 1, minor: 4, build: 9 },
    };
    const bytes = encodePdId(id);
    expect(bytes.length).toBe(12);
    expect(decodePdId(bytes)).toEqual(id);
    expect(() => decodePdId(bytes.subarray(0, 11))).toThrow(expect.objectContaining({ code: 'osdp-bad-payload' }));
  });

  it('PDCAP is a list of (function, compliance, count)', () => {
    const caps = [
      { function: 1, compliance: 1, count: 5 },
      { function: 2, compliance: 1, count: 2 },
    ];
    expect(decodePdCap(encodePdCap(caps))).toEqual(caps);
    expect(() => decodePdCap(Buffer.alloc(4))).toThrow(expect.objectContaining({ code: 'osdp-bad-payload' }));
  });

  it('ISTATR is one 0/1 byte per input', () => {
    expect(encodeInputStates([true, false, true]).toString('hex')).toBe('010001');
    expect(decodeInputStates(Buffer.from([0, 1]))).toEqual([false, true]);
    expect(() => decodeInputStates(Buffer.from([2]))).toThrow(expect.objectContaining({ code: 'osdp-bad-payload' }));
  });

  it('RAW is reader, format, bit count LE, ⌈bits/8⌉ bytes', () => {
    const raw = { reader: 0, format: 1, bitCount: 26, data: Buffer.from([1, 2, 3, 0x40]) };
    expect(encodeRaw(raw).toString('hex')).toBe('00011a0001020340');
    expect(decodeRaw(encodeRaw(raw))).toEqual(raw);
    expect(() => decodeRaw(Buffer.from([0, 1, 26, 0, 1, 2]))).toThrow(
      expect.objectContaining({ code: 'osdp-bad-payload' }),
    );
  });

  it('KEYPAD maps 7F to * and 0D to #', () => {
    const bytes = encodeKeypad({ reader: 0, keys: '12*#' });
    expect(bytes.toString('hex')).toBe('000431327f0d');
    expect(decodeKeypad(bytes)).toEqual({ reader: 0, keys: '12*#' });
    expect(() => decodeKeypad(Buffer.from([0, 3, 0x31]))).toThrow(
      expect.objectContaining({ code: 'osdp-bad-payload' }),
    );
  });
});
