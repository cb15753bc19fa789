import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SAMV_PREAMBLE, SamvFrame, samvChecksum } from '../../../firmware-bridge/idreader/frame.ts';
import { type SamvDiscardReason, SamvParser } from '../../../firmware-bridge/idreader/parser.ts';
import { encodeReadReplyData } from '../../../firmware-bridge/idreader/frame.ts';

const hex = (text: string): Buffer => Buffer.from(text.replaceAll(' ', ''), 'hex');

/** Feeds chunks synchronously and collects the frames (the Transform pushes synchronously in _transform). */
function run(chunks: Buffer[], parser = new SamvParser()): { bodies: string[]; parser: SamvParser } {
  const bodies: string[] = [];
  parser.on('data', (frame: SamvFrame) => bodies.push(frame.body.toString('hex')));
  for (const chunk of chunks) parser.write(chunk);
  return { bodies, parser };
}

function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let last = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(last, point));
    last = point;
  }
  chunks.push(bytes.subarray(last));
  return chunks.filter((c) => c.length > 0);
}

const READ_REPLY = SamvFrame.reply(
  0x90,
  encodeReadReplyData({ text: Buffer.alloc(256, 0x20), photo: Buffer.alloc(1024, 0x77) }),
).toBuffer();
const FIND = hex('AA AA AA 96 69 00 03 20 01 22');
const NO_CARD = hex('AA AA AA 96 69 00 04 00 00 80 84');

const frameArb = fc
  .uint8Array({ minLength: 2, maxLength: 64 })
  .map((body) => new SamvFrame(Buffer.from(body)).toBuffer());
/** Garbage that cannot hold a preamble (no 0x69) but is rich in preamble fragments. */
const garbageArb = fc
  .array(fc.oneof(fc.constantFrom(0xaa, 0x96, 0x00, 0xff), fc.integer({ min: 0, max: 255 })), { maxLength: 40 })
  .map((bytes) => Buffer.from(bytes.map((b) => (b === 0x69 ? 0x68 : b))));
/** A valid frame whose CHK was corrupted: must be dropped. */
const badChecksumArb = fc.tuple(frameArb, fc.integer({ min: 1, max: 255 })).map(([frame, flip]) => {
  const copy = Buffer.from(frame);
  copy[copy.length - 1] = copy[copy.length - 1]! ^ flip;
  return copy;
});

describe('SamvParser', () => {
  it('cuts frames out of one chunk and stamps receivedAt', () => {
    let clock = 41n;
    const parser = new SamvParser({ now: () => ++clock });
    const frames: SamvFrame[] = [];
    parser.on('data', (frame: SamvFrame) => frames.push(frame));
    parser.write(Buffer.concat([FIND, NO_CARD]));
    parser.write(READ_REPLY);
    expect(frames.map((f) => f.toBuffer())).toEqual([FIND, NO_CARD, READ_REPLY]);
    expect(frames.map((f) => f.receivedAt)).toEqual([42n, 42n, 43n]);
    expect(parser.stats).toMatchObject({ frames: 3, droppedBytes: 0 });
  });

  it('gives the same frames for the same bytes split at every offset', () => {
    const stream = Buffer.concat([hex('00 AA 11'), FIND, hex('AA AA AA'), NO_CARD, READ_REPLY, FIND]);
    const whole = run([stream]).bodies;
    expect(whole.length).toBe(4);
    for (let offset = 0; offset <= stream.length; offset++) {
      expect(run([stream.subarray(0, offset), stream.subarray(offset)]).bodies).toEqual(whole);
    }
    expect(run([...stream].map((b) => Buffer.from([b]))).bodies).toEqual(whole);
  });

  it('drops and counts garbage, bad checksums and oversized LEN, then resyncs', () => {
    const reasons: SamvDiscardReason[] = [];
    const parser = new SamvParser({ maxLength: 4096, onDiscard: (reason) => reasons.push(reason) });
    const badChecksum = Buffer.from(FIND);
    badChecksum[9] = 0x23;
    const oversized = hex('AA AA AA 96 69 10 01');
    const { bodies } = run([hex('01 02 03'), FIND, badChecksum, oversized, NO_CARD], parser);
    expect(bodies).toEqual([FIND, NO_CARD].map((f) => SamvFrame.fromBuffer(f).body.toString('hex')));
    expect(reasons).toEqual(['garbage', 'checksum', 'garbage', 'length', 'garbage']);
    expect(parser.stats).toMatchObject({ frames: 2, checksum: 1, length: 1 });
    expect(parser.stats.droppedBytes).toBe(3 + badChecksum.length + oversized.length);
    expect(parser.pendingBytes).toBe(0);
  });

  it('refuses LEN below 3 (no room for CMD PARA)', () => {
    const { bodies, parser } = run([hex('AA AA AA 96 69 00 02 20 22'), FIND]);
    expect(bodies.length).toBe(1);
    expect(parser.stats.length).toBe(1);
  });

  it('waits for a truncated frame and emits it when the rest comes', () => {
    const parser = new SamvParser();
    const { bodies } = run([READ_REPLY.subarray(0, 700)], parser);
    expect(bodies).toEqual([]);
    expect(parser.pendingBytes).toBe(700);
    parser.write(READ_REPLY.subarray(700));
    expect(bodies.length).toBe(1);
  });

  it('does not let a false preamble with a large LEN hold back a real reply behind it', () => {
    // The tail of a frame cut by an unplug, then the reply to the next command.
    const { bodies, parser } = run([hex('AA AA AA 96 69 0F 00 00 00'), NO_CARD]);
    expect(bodies).toEqual([SamvFrame.fromBuffer(NO_CARD).body.toString('hex')]);
    expect(parser.stats.superseded).toBe(1);
    expect(parser.pendingBytes).toBe(0);
  });

  it('reset() drops a partial frame and counts it', () => {
    const parser = new SamvParser();
    const { bodies } = run([READ_REPLY.subarray(0, 100)], parser);
    parser.reset();
    expect(parser.pendingBytes).toBe(0);
    expect(parser.stats.droppedBytes).toBe(100);
    parser.write(FIND);
    expect(bodies.length).toBe(1);
  });

  it('keeps a bounded buffer on endless garbage and on endless pseudo-frames', () => {
    const parser = new SamvParser();
    for (let i = 0; i < 200; i++) parser.write(Buffer.alloc(1000, i % 2 ? 0xaa : 0x42));
    expect(parser.pendingBytes).toBeLessThan(SAMV_PREAMBLE.length);
    const pseudo = hex('AA AA AA 96 69 0F FF');
    for (let i = 0; i < 2000; i++) parser.write(pseudo);
    expect(parser.pendingBytes).toBeLessThanOrEqual(7 + 0x0fff);
  });

  it('validates its options', () => {
    expect(() => new SamvParser({ maxLength: 2 })).toThrow(/maxLength/);
    expect(() => new SamvParser({ maxLength: 70000 })).toThrow(/maxLength/);
  });

  it('returns to flowing with pipeline semantics: end() flushes and finishes', async () => {
    const parser = new SamvParser();
    const frames: SamvFrame[] = [];
    parser.on('data', (f: SamvFrame) => frames.push(f));
    const finished = new Promise<void>((resolve) => parser.on('end', resolve));
    parser.end(Buffer.concat([FIND, FIND.subarray(0, 4)]));
    await finished;
    expect(frames.length).toBe(1);
  });
});

describe('SamvParser properties', () => {
  it('random splits of valid frames give exactly those frames', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (frames, cuts) => {
          const stream = Buffer.concat(frames);
          const expected = frames.map((f) => SamvFrame.fromBuffer(f).body.toString('hex'));
          const { bodies, parser } = run(splitAt(stream, cuts));
          expect(bodies).toEqual(expected);
          expect(parser.stats.droppedBytes).toBe(0);
        },
      ),
    );
  });

  it('garbage and corrupted frames interleaved with valid frames: exactly the valid frames come out', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.oneof(garbageArb, badChecksumArb), frameArb), { minLength: 1, maxLength: 6 }),
        garbageArb,
        fc.array(fc.nat(), { maxLength: 20 }),
        (pairs, tail, cuts) => {
          const stream = Buffer.concat([...pairs.flat(), tail]);
          const expected = pairs.map(([, frame]) => SamvFrame.fromBuffer(frame).body.toString('hex'));
          expect(run([stream]).bodies).toEqual(expected);
          expect(run(splitAt(stream, cuts)).bodies).toEqual(expected);
        },
      ),
    );
  });

  it('the same bytes split at every offset give the same output as one chunk', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(frameArb, garbageArb, badChecksumArb, fc.uint8Array({ maxLength: 12 }).map(Buffer.from)), {
          maxLength: 5,
        }),
        (parts) => {
          const stream = Buffer.concat(parts);
          const whole = run([stream]).bodies;
          for (let offset = 1; offset < stream.length; offset++) {
            expect(run([stream.subarray(0, offset), stream.subarray(offset)]).bodies).toEqual(whole);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a truncated frame followed by valid frames loses only the truncated one', () => {
    fc.assert(
      fc.property(frameArb, fc.nat(), fc.array(frameArb, { minLength: 1, maxLength: 3 }), (cut, at, frames) => {
        const truncated = cut.subarray(0, 7 + (at % (cut.length - 7)));
        const stream = Buffer.concat([truncated, ...frames]);
        // Inherent to SAM_V: if the truncated header plus the bytes after it happen to carry a
        // matching CHK (1 in 256), they ARE a frame; nothing in the bytes says otherwise.
        const claimed = stream.readUInt16BE(5);
        fc.pre(!(stream.length >= 7 + claimed && samvChecksum(stream, 5, 6 + claimed) === stream[6 + claimed]));
        const expected = frames.map((f) => SamvFrame.fromBuffer(f).body.toString('hex'));
        // Whatever the truncated frame's LEN claims, the valid frames behind it are found.
        const bodies = run([stream]).bodies;
        expect(bodies.slice(-expected.length)).toEqual(expected);
        expect(bodies.length).toBe(expected.length);
      }),
    );
  });
});
