import { once } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { crc16 } from '../../../firmware-bridge/osdp/crc.ts';
import { OsdpFrame, type OsdpSequence } from '../../../firmware-bridge/osdp/frame.ts';
import { type OsdpDrop, OsdpParser, type OsdpParserOptions } from '../../../firmware-bridge/osdp/parser.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const POLL = hex('53 00 08 00 04 60 EB AA');

/** Writes the chunks, ends the stream and returns every frame it produced. */
async function parseAll(chunks: Uint8Array[], options: OsdpParserOptions = {}) {
  const parser = new OsdpParser({ interByteTimeoutMs: 0, ...options });
  const frames: OsdpFrame[] = [];
  parser.on('data', (frame: OsdpFrame) => frames.push(frame));
  for (const chunk of chunks) parser.write(Buffer.from(chunk));
  parser.end();
  await once(parser, 'end');
  return { frames, parser };
}

const frameArb = fc
  .record({
    address: fc.integer({ min: 0, max: 0x7f }),
    isReply: fc.boolean(),
    sequence: fc.constantFrom<OsdpSequence>(0, 1, 2, 3),
    code: fc.integer({ min: 0, max: 0xff }),
    data: fc.uint8Array({ maxLength: 64 }),
    integrity: fc.constantFrom('crc16' as const, 'checksum' as const),
    mark: fc.boolean(),
  })
  .map((init) => new OsdpFrame(init));

/** Cuts `bytes` at the given offsets (taken modulo its length). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    parts.push(bytes.subarray(from, p));
    from = p;
  }
  parts.push(bytes.subarray(from));
  return parts.filter((p) => p.length > 0);
}

describe('OsdpParser', () => {
  it('emits the ✓ POLL example split at every offset', async () => {
    for (let cut = 0; cut <= POLL.length; cut++) {
      const { frames } = await parseAll([POLL.subarray(0, cut), POLL.subarray(cut)]);
      expect(frames.map((f) => f.toBuffer().toString('hex'))).toEqual([POLL.toString('hex')]);
    }
  });

  it('emits the same frames for any split of a stream of frames', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat()), async (sent, cuts) => {
        const bytes = Buffer.concat(sent.map((f) => f.toBuffer()));
        const { frames } = await parseAll(split(bytes, cuts));
        expect(frames).toEqual(sent);
      }),
    );
  });

  it('emits exactly the valid frames from random garbage interleaved with them', async () => {
    // CRC-16 only: with 26 bits of header plausibility plus 16 of CRC, garbage forming a frame by chance
    // is ~1e-8 per candidate; `fc.pre` removes the garbage that is itself a frame.
    const options: OsdpParserOptions = { integrity: ['crc16'] };
    const crcFrames = frameArb.map((f) => new OsdpFrame({ ...f, integrity: 'crc16' }));
    const garbageArb = fc.uint8Array({ maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(garbageArb, crcFrames), { minLength: 1, maxLength: 5 }),
        garbageArb,
        fc.array(fc.nat()),
        async (pairs, tail, cuts) => {
          for (const [garbage] of pairs) fc.pre((await parseAll([garbage], options)).frames.length === 0);
          const bytes = Buffer.concat([
            ...pairs.flatMap(([g, f]) => [Buffer.from(g), f.toBuffer()]),
            Buffer.from(tail),
          ]);
          const { frames } = await parseAll(split(bytes, cuts), options);
          // A mark byte is only recognisable as such when it directly precedes the 0x53.
          expect(frames.map((f) => f.toBuffer().subarray(f.mark ? 1 : 0))).toEqual(
            pairs.map(([, f]) => f.toBuffer().subarray(f.mark ? 1 : 0)),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('drops a frame with a wrong CRC, reports its header, and still finds the next frame', async () => {
    const bad = Buffer.from(POLL);
    bad[6] = bad[6]! ^ 0xff;
    const drops: OsdpDrop[] = [];
    const { frames, parser } = await parseAll([Buffer.concat([bad, POLL])], { onDrop: (d) => drops.push(d) });
    expect(frames).toHaveLength(1);
    expect(parser.stats.dropped.integrity).toBe(1);
    expect(drops[0]).toMatchObject({ reason: 'integrity', header: { address: 0, sequence: 0, code: 0x60 } });
  });

  it('drops a truncated frame followed by a good one, and a truncated frame at the end of the stream', async () => {
    const { frames, parser } = await parseAll([POLL.subarray(0, 6), POLL, POLL.subarray(0, 5)]);
    expect(frames).toHaveLength(1);
    expect(parser.stats.dropped.integrity + parser.stats.dropped.truncated).toBeGreaterThanOrEqual(2);
    expect(parser.stats.dropped.truncated).toBeGreaterThanOrEqual(1);
    expect(parser.buffered).toBe(0);
  });

  it('refuses an oversized LEN at once instead of waiting for it', async () => {
    const parser = new OsdpParser({ maxFrameLength: 64, interByteTimeoutMs: 0 });
    const frames: OsdpFrame[] = [];
    parser.on('data', (f: OsdpFrame) => frames.push(f));
    parser.write(Buffer.concat([hex('53 00 41 00 04'), POLL]));
    await new Promise((r) => setImmediate(r));
    expect(frames).toHaveLength(1);
    expect(parser.stats.dropped.length).toBe(1);
    parser.destroy();
  });

  it('drops LEN below the minimum and reserved CTRL bits', async () => {
    const { frames, parser } = await parseAll([hex('53 00 05 00 04'), hex('53 00 08 00 84 60 00 00'), POLL]);
    expect(frames).toHaveLength(1);
    expect(parser.stats.dropped.length).toBe(1);
    expect(parser.stats.dropped.ctrl).toBe(1);
  });

  it('refuses an intact frame whose security block does not fit, and skips it whole', async () => {
    const secure = Buffer.concat([hex('53 02 0A 00 0C 09 11 60'), Buffer.alloc(2)]);
    secure.writeUInt16LE(crc16(secure, 0, 8), 8);
    const drops: OsdpDrop[] = [];
    const { frames, parser } = await parseAll([secure, POLL], { onDrop: (d) => drops.push(d) });
    expect(frames).toHaveLength(1);
    expect(parser.stats.dropped['security-block']).toBe(1);
    expect(drops.find((d) => d.reason === 'security-block')).toMatchObject({
      bytes: 10,
      header: { address: 2, sequence: 0 },
      error: expect.objectContaining({ code: 'osdp-bad-frame', problem: 'security-block' }),
    });
  });

  it('recognises a mark byte even when 0xFF and 0x53 arrive in different chunks', async () => {
    const marked = new OsdpFrame({ address: 0, sequence: 0, code: 0x60, mark: true }).toBuffer();
    const { frames, parser } = await parseAll([hex('00 11'), marked.subarray(0, 1), marked.subarray(1)]);
    expect(frames).toHaveLength(1);
    expect(frames[0]!.mark).toBe(true);
    expect(parser.stats.garbageBytes).toBe(2);
  });

  it('abandons a partial frame after the inter-byte timeout so a frame behind a noise 0x53 comes out', async () => {
    vi.useFakeTimers();
    try {
      const parser = new OsdpParser({ interByteTimeoutMs: 100 });
      const frames: OsdpFrame[] = [];
      parser.on('data', (f: OsdpFrame) => frames.push(f));
      // A noise 0x53 whose "LEN" (0x0053 taken from the real frame's start) swallows the real frame.
      parser.write(Buffer.concat([hex('53 11'), POLL]));
      await vi.advanceTimersByTimeAsync(99);
      expect(frames).toHaveLength(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(frames).toHaveLength(1);
      expect(parser.stats.dropped.truncated).toBe(1);
      parser.destroy();
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps its buffer bounded under a flood of start bytes and counts instead of throwing', async () => {
    const parser = new OsdpParser({
      maxFrameLength: 128,
      interByteTimeoutMs: 0,
      onDrop: () => {
        throw new Error('a faulty listener');
      },
    });
    let maxBuffered = 0;
    for (let i = 0; i < 200; i++) {
      const chunk = Buffer.alloc(512, 0x53);
      chunk[3] = 0x7f;
      parser.write(chunk);
      maxBuffered = Math.max(maxBuffered, parser.buffered);
    }
    expect(maxBuffered).toBeLessThanOrEqual(128);
    expect(parser.stats.onDropErrors).toBeGreaterThan(0);
    parser.write(POLL);
    parser.end();
    const frames: OsdpFrame[] = [];
    parser.on('data', (f: OsdpFrame) => frames.push(f));
    await once(parser, 'end');
    expect(frames).toHaveLength(1);
  });

  it('reset() forgets a half-received frame', async () => {
    const parser = new OsdpParser({ interByteTimeoutMs: 0 });
    const frames: OsdpFrame[] = [];
    parser.on('data', (f: OsdpFrame) => frames.push(f));
    parser.write(POLL.subarray(0, 4));
    expect(parser.buffered).toBe(4);
    parser.reset();
    expect(parser.buffered).toBe(0);
    parser.write(POLL);
    await new Promise((r) => setImmediate(r));
    expect(frames).toHaveLength(1);
    parser.destroy();
  });

  it('refuses bad options with a TypeError naming the option', () => {
    expect(() => new OsdpParser({ maxFrameLength: 4 })).toThrow(/maxFrameLength/);
    expect(() => new OsdpParser({ integrity: [] })).toThrow(/integrity/);
    expect(() => new OsdpParser({ interByteTimeoutMs: -1 })).toThrow(/interByteTimeoutMs/);
  });
});
