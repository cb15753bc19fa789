import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decodeReadReplyData,
  encodeReadReplyData,
  SAMV_MAX_LENGTH,
  SamvCommand,
  type SamvCommandName,
  SamvFrame,
  SamvFrameError,
  SamvStatusError,
  samvChecksum,
  SW3,
  sw3Status,
} from '../../../firmware-bridge/idreader/frame.ts';

const hex = (text: string): Buffer => Buffer.from(text.replaceAll(' ', ''), 'hex');

// Every frame marked ✓ in docs/devices.md §1.
const COMMANDS: [SamvCommandName, string][] = [
  ['resetSam', 'AA AA AA 96 69 00 03 10 FF EC'],
  ['samStatus', 'AA AA AA 96 69 00 03 11 FF ED'],
  ['readSamId', 'AA AA AA 96 69 00 03 12 FF EE'],
  ['findCard', 'AA AA AA 96 69 00 03 20 01 22'],
  ['selectCard', 'AA AA AA 96 69 00 03 20 02 21'],
  ['readTextPhoto', 'AA AA AA 96 69 00 03 30 01 32'],
  ['readTextPhotoFingerprint', 'AA AA AA 96 69 00 03 30 10 23'],
];

const REPLIES: [string, number, string, number][] = [
  ['status OK', 0x90, 'AA AA AA 96 69 00 04 00 00 90 94', 0],
  ['find OK with zero data', 0x9f, 'AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97', 4],
  ['find failed (no card)', 0x80, 'AA AA AA 96 69 00 04 00 00 80 84', 0],
  ['select failed', 0x81, 'AA AA AA 96 69 00 04 00 00 81 85', 0],
  ['read failed', 0x41, 'AA AA AA 96 69 00 04 00 00 41 45', 0],
];

describe('SamvFrame against docs/devices.md §1', () => {
  it.each(COMMANDS)('builds the %s command byte for byte', (name, wire) => {
    expect(SamvFrame.namedCommand(name).toBuffer()).toEqual(hex(wire));
  });

  it.each(COMMANDS)('parses the %s command', (name, wire) => {
    const frame = SamvFrame.fromBuffer(hex(wire));
    expect(frame.isCommand(name)).toBe(true);
    expect([frame.cmd, frame.para]).toEqual([...SamvCommand[name]]);
    expect(frame.commandData.length).toBe(0);
  });

  it.each(REPLIES)('builds and parses the %s reply', (_name, sw3, wire, dataLength) => {
    expect(SamvFrame.reply(sw3, Buffer.alloc(dataLength)).toBuffer()).toEqual(hex(wire));
    const frame = SamvFrame.fromBuffer(hex(wire));
    expect(frame.sw3).toBe(sw3);
    expect(frame.replyData).toEqual(Buffer.alloc(dataLength));
  });

  it('frames a text+photo read reply as 1295 bytes with the documented offsets', () => {
    const text = Buffer.alloc(256, 0x20);
    const photo = Buffer.alloc(1024, 0x5a);
    const wire = SamvFrame.reply(0x90, encodeReadReplyData({ text, photo })).toBuffer();
    expect(wire.length).toBe(1295);
    expect(wire.subarray(5, 7)).toEqual(hex('05 08'));
    expect(wire.subarray(7, 10)).toEqual(hex('00 00 90'));
    expect(wire.subarray(10, 14)).toEqual(hex('01 00 04 00'));
    expect(wire.subarray(14, 270)).toEqual(text);
    expect(wire.subarray(270, 1294)).toEqual(photo);
  });

  it('frames a text+photo+fingerprint reply with the text at offset 16', () => {
    const text = Buffer.alloc(256, 0x31);
    const photo = Buffer.alloc(1024, 0x32);
    const fingerprint = Buffer.alloc(1024, 0x33);
    const frame = SamvFrame.reply(0x90, encodeReadReplyData({ text, photo, fingerprint }));
    const wire = frame.toBuffer();
    expect(wire.readUInt16BE(5)).toBe(3 + 6 + 256 + 1024 + 1024 + 1);
    expect(wire.subarray(10, 16)).toEqual(hex('01 00 04 00 04 00'));
    expect(wire.subarray(16, 272)).toEqual(text);
    expect(decodeReadReplyData(SamvFrame.fromBuffer(wire).replyData)).toEqual({ text, photo, fingerprint });
    expect(decodeReadReplyData(frame.replyData, 'text-photo-fingerprint').fingerprint).toEqual(fingerprint);
  });

  it('refuses read data whose lengths do not add up instead of guessing', () => {
    const data = encodeReadReplyData({ text: Buffer.alloc(256), photo: Buffer.alloc(1024) });
    expect(() => decodeReadReplyData(data.subarray(0, data.length - 1))).toThrow(SamvFrameError);
    expect(() => decodeReadReplyData(data, 'text-photo-fingerprint')).toThrow(/does not match/);
  });

  it('builds the 60 nn baud command for each documented rate and refuses others', () => {
    expect(SamvFrame.setBaudCommand(115200).toBuffer()).toEqual(hex('AA AA AA 96 69 00 03 60 00 63'));
    expect(SamvFrame.setBaudCommand(9600).body).toEqual(hex('60 04'));
    expect(() => SamvFrame.setBaudCommand(4800)).toThrow(/baudRate/);
  });
});

describe('SamvFrame.fromBuffer errors', () => {
  const problem = (bytes: Buffer): string => {
    try {
      SamvFrame.fromBuffer(bytes);
      return 'none';
    } catch (err) {
      expect(err).toBeInstanceOf(SamvFrameError);
      return (err as SamvFrameError).problem;
    }
  };

  it('names each problem', () => {
    expect(problem(hex('AA AA AA 96'))).toBe('truncated');
    expect(problem(hex('AA AA AA 96 68 00 03 10 FF EC'))).toBe('preamble');
    expect(problem(hex('AA AA AA 96 69 00 03 10 FF ED'))).toBe('checksum');
    expect(problem(hex('AA AA AA 96 69 00 03 10 FF'))).toBe('truncated');
    expect(problem(hex('AA AA AA 96 69 00 03 10 FF EC 00'))).toBe('length');
    expect(problem(hex('AA AA AA 96 69 00 02 10 12'))).toBe('length');
    expect(problem(hex('AA AA AA 96 69 10 01 00'))).toBe('length');
  });
});

describe('SW3 statuses', () => {
  it('maps every documented code to a named, typed result', () => {
    const codes = Object.keys(SW3).map(Number);
    expect(codes.length).toBe(18);
    for (const code of codes) {
      const status = sw3Status(code);
      expect(status.name).not.toBe('unrecognised');
      expect(status.ok).toBe(code === 0x90 || code === 0x9f);
      expect(status.message.length).toBeGreaterThan(0);
    }
    expect(sw3Status(0x80).name).toBe('no-card');
    expect(sw3Status(0x10).name).toBe('checksum-error');
  });

  it('maps unknown codes to "unrecognised" with the code in the message', () => {
    expect(sw3Status(0x55)).toEqual({
      code: 0x55,
      name: 'unrecognised',
      ok: false,
      message: 'unrecognised status 0x55',
    });
  });

  it('SamvStatusError carries a stable code and the status', () => {
    const err = new SamvStatusError('select', sw3Status(0x81));
    expect(err.code).toBe('samv-status');
    expect(err.status.name).toBe('select-failed');
    expect(err.message).toContain('0x81');
  });
});

describe('SamvFrame properties', () => {
  const body = fc.uint8Array({ minLength: 2, maxLength: 300 }).map((bytes) => Buffer.from(bytes));

  it('round-trips any body through toBuffer/fromBuffer', () => {
    fc.assert(
      fc.property(body, (b) => {
        const wire = new SamvFrame(b).toBuffer();
        expect(wire.length).toBe(7 + b.length + 1);
        expect(samvChecksum(wire, 5, wire.length - 1)).toBe(wire[wire.length - 1]);
        expect(SamvFrame.fromBuffer(wire).body).toEqual(b);
      }),
    );
  });

  it('detects any single corrupted byte after the preamble', () => {
    fc.assert(
      fc.property(body, fc.nat(), fc.integer({ min: 1, max: 255 }), (b, at, flip) => {
        const wire = new SamvFrame(b).toBuffer();
        const index = 7 + (at % (wire.length - 7));
        wire[index] = wire[index]! ^ flip;
        expect(() => SamvFrame.fromBuffer(wire)).toThrow(SamvFrameError);
      }),
    );
  });

  it('refuses bodies that make LEN exceed the cap', () => {
    expect(() => new SamvFrame(Buffer.alloc(SAMV_MAX_LENGTH))).toThrow(SamvFrameError);
    expect(new SamvFrame(Buffer.alloc(SAMV_MAX_LENGTH - 1)).length).toBe(SAMV_MAX_LENGTH);
  });

  it('prints a short hex form', () => {
    expect(SamvFrame.namedCommand('findCard').toString()).toBe('SamvFrame<AA AA AA 96 69 00 03 | 20 01 | 22>');
  });
});
