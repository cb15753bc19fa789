/**
 * Bad input (docs/security.md, "Bad input"): the three serial parsers fed random bytes and mutated valid frames (bit
 * flips, truncations, duplications, splices), cut into random chunks. Whatever arrives, a parser
 * never throws out of the stream, never emits a frame that would not re-validate on its own, keeps
 * its buffer bounded, and finds a clean frame sent after the noise (resync). And each bad input is
 * counted ("each gets a clear error, a counter goes up"): every byte fed ends up in an emitted frame
 * or in the parser's drop statistics, so bad bytes always make a counter go up, and a targeted
 * property per parser checks that a corrupted frame, noise or a bad line raises the right counter.
 *
 * Seeds are fixed for CI (a failure reproduces); `ANXIN_FUZZ_RUNS` sets the number of runs
 * (default 200) and `ANXIN_FUZZ_SEED` the seed, which `npm run soak` varies.
 */
import { once } from 'node:events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SamvFrame } from '../../firmware-bridge/idreader/frame.ts';
import { SamvParser } from '../../firmware-bridge/idreader/parser.ts';
import { decodeTextBlock, encodeTextBlock, TEXT_BLOCK_LENGTH } from '../../firmware-bridge/idreader/text-block.ts';
import { OsdpFrame, type OsdpSequence } from '../../firmware-bridge/osdp/frame.ts';
import { type OsdpDrop, OsdpParser } from '../../firmware-bridge/osdp/parser.ts';
import { type QrLineCounters, QrLineParser, type QrScan } from '../../firmware-bridge/qr/line-parser.ts';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';
import { verifyPass } from '../../shared/pass.ts';

const RUNS = Math.max(1, Number(process.env.ANXIN_FUZZ_RUNS ?? 200));
const SEED = Number(process.env.ANXIN_FUZZ_SEED ?? 20_240_611);
const params = { numRuns: RUNS, seed: SEED, endOnFailure: true };

/** A mutation of valid bytes: flip bits, drop a range, duplicate a range, or splice in noise. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({
    kind: fc.constant('splice' as const),
    at: fc.nat(),
    noise: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(bytes: Buffer, mutations: readonly Mutation[]): Buffer {
  let out = Buffer.from(bytes);
  for (const m of mutations) {
    if (out.length === 0) break;
    const at = m.at % out.length;
    switch (m.kind) {
      case 'flip':
        out[at] = out[at]! ^ (1 << m.bit);
        break;
      case 'drop':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.length)]);
        break;
      case 'dup':
        out = Buffer.concat([out.subarray(0, at + m.length), out.subarray(at)]);
        break;
      case 'splice':
        out = Buffer.concat([out.subarray(0, at), Buffer.from(m.noise), out.subarray(at)]);
        break;
    }
  }
  return out;
}

/** Cuts `bytes` into chunks at the given (wrapped) offsets, as a serial port delivers them. */
function chunked(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    if (p > from) chunks.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  chunks.push(bytes.subarray(from));
  return chunks.filter((c) => c.length > 0);
}

async function run<T>(parser: NodeJS.ReadWriteStream, chunks: readonly Buffer[]): Promise<T[]> {
  const out: T[] = [];
  parser.on('data', (item: T) => out.push(item));
  let streamError: unknown;
  parser.on('error', (err) => {
    streamError = err;
  });
  for (const chunk of chunks) parser.write(chunk);
  parser.end();
  await once(parser, 'end');
  expect(streamError).toBeUndefined();
  return out;
}

/**
 * SAM_V: after the stream ended nothing is pending, and every byte fed is in an emitted frame or
 * counted in `droppedBytes`, each drop under a reason; bytes that are not frames always count.
 */
function expectSamvAccounting(parser: SamvParser, fed: Buffer, frames: readonly SamvFrame[]): void {
  const { stats } = parser;
  expect(parser.pendingBytes).toBe(0);
  expect(stats.frames).toBe(frames.length);
  const framed = Buffer.concat(frames.map((f) => f.toBuffer()));
  expect(framed.length + stats.droppedBytes).toBe(fed.length);
  const discards = stats.garbage + stats.length + stats.checksum + stats.superseded;
  expect(discards > 0).toBe(stats.droppedBytes > 0);
  expect(stats.droppedBytes).toBeGreaterThanOrEqual(discards);
  if (!framed.equals(fed)) expect(stats.droppedBytes).toBeGreaterThan(0);
}

/**
 * OSDP: frames emitted match `stats.frames`, each refusal is counted once under its reason (and
 * reported to `onDrop`), and every byte fed is in a frame (mark byte included) or in a drop (a
 * 0xFF mark byte right before a refused start byte is counted with it).
 */
function expectOsdpAccounting(parser: OsdpParser, fed: Buffer, frames: readonly OsdpFrame[], drops: OsdpDrop[]): void {
  const { stats } = parser;
  expect(parser.buffered).toBe(0);
  expect(stats.frames).toBe(frames.length);
  expect(Object.values(stats.dropped).reduce((a, b) => a + b, 0)).toBe(drops.length);
  for (const reason of Object.keys(stats.dropped) as OsdpDrop['reason'][]) {
    expect(stats.dropped[reason]).toBe(drops.filter((d) => d.reason === reason).length);
  }
  expect(stats.garbageBytes).toBe(drops.filter((d) => d.reason === 'garbage').reduce((n, d) => n + d.bytes, 0));
  expect(stats.onDropErrors).toBe(0);
  for (const d of drops) expect(d.bytes).toBeGreaterThan(0);
  const framed = Buffer.concat(frames.map((f) => f.toBuffer()));
  expect(framed.length).toBe(frames.reduce((n, f) => n + f.length + (f.mark ? 1 : 0), 0));
  expect(framed.length + drops.reduce((n, d) => n + d.bytes, 0)).toBe(fed.length);
  if (!framed.equals(fed)) expect(drops.length).toBeGreaterThan(0);
}

const CR = 0x0d;
const LF = 0x0a;
const TAB = 0x09;

/**
 * QR ('auto' terminator, no inter-byte timeout): every line — each CR, TAB or LF not right after
 * a CR ends one, and what is left at the end is one more — is either a scan or counted under
 * exactly one reason.
 */
function expectQrAccounting(parser: QrLineParser, fed: Buffer, scans: readonly QrScan[]): QrLineCounters {
  let lines = 0;
  let trailing = 0;
  for (let i = 0; i < fed.length; i++) {
    const byte = fed[i]!;
    if (byte === LF && i > 0 && fed[i - 1] === CR) continue;
    if (byte === CR || byte === LF || byte === TAB) {
      lines++;
      trailing = 0;
    } else trailing++;
  }
  if (trailing > 0) lines++;
  const c = parser.counters;
  expect(c.scans).toBe(scans.length);
  const rejected = c.empty + c.overLong + c.invalidUtf8 + c.controlCharacters;
  expect(c.scans + rejected).toBe(lines);
  // Without an inter-byte timeout only the end of the stream ends a line without a terminator.
  expect(c.timeouts).toBeLessThanOrEqual(trailing > 0 ? 1 : 0);
  expect(scans.filter((scan) => scan.endedBy === 'timeout').length).toBe(c.timeouts);
  return { ...c };
}

const samvFrameArb = fc
  .record({ sw3: fc.integer({ min: 0, max: 0xff }), data: fc.uint8Array({ maxLength: 300 }) })
  .map(({ sw3, data }) => SamvFrame.reply(sw3, data).toBuffer());

const osdpFrameArb = fc
  .record({
    address: fc.integer({ min: 0, max: 0x7f }),
    isReply: fc.boolean(),
    sequence: fc.constantFrom<OsdpSequence>(0, 1, 2, 3),
    code: fc.integer({ min: 0, max: 0xff }),
    data: fc.uint8Array({ maxLength: 64 }),
    integrity: fc.constantFrom('crc16' as const, 'checksum' as const),
  })
  .map((init) => new OsdpFrame(init).toBuffer());

/** Random bytes, or valid frames mutated, in any order. */
function streamArb(frame: fc.Arbitrary<Buffer>) {
  return fc.array(
    fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      fc.tuple(frame, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([f, ms]) => mutate(f, ms)),
    ),
    { maxLength: 8 },
  );
}

describe('serial parser fuzzing (fixed seed)', () => {
  it('SAM_V (ID-card reader): random and mutated frames never break the parser; a clean frame after them is found', async () => {
    const clean = SamvFrame.reply(0x90, Buffer.from('resync')).toBuffer();
    await fc.assert(
      fc.asyncProperty(streamArb(samvFrameArb), fc.array(fc.nat(), { maxLength: 20 }), async (parts, cuts) => {
        const parser = new SamvParser();
        // Idle silence on a real line ends any partial frame; the driver resets the parser then.
        const noise = Buffer.concat(parts);
        const frames = await run<SamvFrame>(parser, chunked(noise, cuts));
        for (const f of frames) expect(() => SamvFrame.fromBuffer(f.toBuffer())).not.toThrow();
        expect(parser.pendingBytes).toBe(0);
        expectSamvAccounting(parser, noise, frames);

        // Resync: SAM_V's 8-bit XOR lets one noise candidate in 256 validate and swallow the start
        // of what follows; the driver then times out and asks again, so the reply comes twice.
        const fresh = new SamvParser();
        const after = await run<SamvFrame>(fresh, [noise, Buffer.alloc(8), clean, clean]);
        expect(after.some((f) => f.toBuffer().equals(clean))).toBe(true);
        expectSamvAccounting(fresh, Buffer.concat([noise, Buffer.alloc(8), clean, clean]), after);
      }),
      params,
    );
  });

  it('SAM_V: noise, a corrupted frame or a cut frame each make a drop counter go up, by the right reason', async () => {
    await fc.assert(
      fc.asyncProperty(
        samvFrameArb,
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        async (frame, at, bit, rawNoise, cuts) => {
          // A bit flipped after LEN: the XOR check fails, the frame is refused by its checksum.
          const flipped = Buffer.from(frame);
          const position = 7 + (at % (frame.length - 7));
          flipped[position] = flipped[position]! ^ (1 << bit);
          const p1 = new SamvParser();
          const f1 = await run<SamvFrame>(p1, chunked(flipped, cuts));
          expectSamvAccounting(p1, flipped, f1);
          expect(f1.some((f) => f.toBuffer().equals(flipped))).toBe(false);
          expect(p1.stats.checksum).toBeGreaterThanOrEqual(1);

          // A bit flipped anywhere (preamble and LEN included): never accepted as it is, always counted.
          const anywhere = Buffer.from(frame);
          anywhere[at % frame.length] = anywhere[at % frame.length]! ^ (1 << bit);
          const p2 = new SamvParser();
          const f2 = await run<SamvFrame>(p2, chunked(anywhere, cuts));
          expectSamvAccounting(p2, anywhere, f2);
          expect(f2.some((f) => f.toBuffer().equals(anywhere))).toBe(false);
          expect(p2.stats.droppedBytes).toBeGreaterThan(0);

          // Noise without a preamble byte: all of it is garbage.
          const noise = Buffer.from(rawNoise.map((b) => (b === 0xaa ? 0x55 : b)));
          const p3 = new SamvParser();
          expect(await run<SamvFrame>(p3, chunked(noise, cuts))).toEqual([]);
          expect(p3.stats).toMatchObject({ frames: 0, droppedBytes: noise.length, length: 0, checksum: 0 });
          expect(p3.stats.garbage).toBeGreaterThanOrEqual(1);

          // A frame cut short and then the stream ends: the partial frame is counted, not held or emitted.
          const cut = frame.subarray(0, 1 + (at % (frame.length - 1)));
          const p4 = new SamvParser();
          expect(await run<SamvFrame>(p4, chunked(cut, cuts))).toEqual([]);
          expect(p4.stats.droppedBytes).toBe(cut.length);

          // And a clean frame after all of it is still one frame on a parser that counted the rest.
          const p5 = new SamvParser();
          const all = Buffer.concat([noise, flipped, Buffer.alloc(8), frame]);
          const f5 = await run<SamvFrame>(p5, chunked(all, cuts));
          expectSamvAccounting(p5, all, f5);
          expect(f5.at(-1)?.toBuffer().equals(frame)).toBe(true);
          expect(p5.stats.droppedBytes).toBeGreaterThanOrEqual(noise.length + 8);
        },
      ),
      params,
    );
  });

  it('ID-card text blocks: any 256 bytes decode to a card or a reason, never an exception', () => {
    const valid = encodeTextBlock({
      name: '张三明',
      sex: 'male',
      nationCode: '01',
      birthDate: '1990-03-07',
      address: '北京市东城区',
      idNumber: '110101199003070011',
      authority: '北京市公安局',
      validFrom: '2015-01-01',
      validTo: null,
    });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: TEXT_BLOCK_LENGTH, maxLength: TEXT_BLOCK_LENGTH }).map((b) => Buffer.from(b)),
          fc.array(mutation, { minLength: 1, maxLength: 6 }).map((ms) => mutate(valid, ms)),
        ),
        (block) => {
          const result = decodeTextBlock(block);
          if (result.ok) expect(typeof result.card.idNumber).toBe('string');
          else expect(result.reason.length).toBeGreaterThan(0);
        },
      ),
      params,
    );
  });

  it('OSDP (turnstile bus): random and mutated frames never break the parser; every frame re-validates; a clean POLL is found', async () => {
    const poll = new OsdpFrame({ address: 0, sequence: 1, code: 0x60 }).toBuffer();
    await fc.assert(
      fc.asyncProperty(streamArb(osdpFrameArb), fc.array(fc.nat(), { maxLength: 20 }), async (parts, cuts) => {
        const noise = Buffer.concat(parts);
        const drops: OsdpDrop[] = [];
        const parser = new OsdpParser({ interByteTimeoutMs: 0, onDrop: (d) => drops.push(d) });
        const frames = await run<OsdpFrame>(parser, chunked(noise, cuts));
        for (const f of frames) expect(() => OsdpFrame.fromBuffer(f.toBuffer())).not.toThrow();
        expectOsdpAccounting(parser, noise, frames, drops);

        // Resync: an 8-bit checksum lets one noise candidate in 256 validate and swallow what
        // follows, so this half runs CRC-16 only (as a control panel that always sends CRC-16
        // may, `integrity: ['crc16']`) and sends the POLL twice, as the control panel's retry would.
        const freshDrops: OsdpDrop[] = [];
        const fresh = new OsdpParser({
          interByteTimeoutMs: 0,
          integrity: ['crc16'],
          onDrop: (d) => freshDrops.push(d),
        });
        const after = await run<OsdpFrame>(fresh, [noise, poll, poll]);
        expectOsdpAccounting(fresh, Buffer.concat([noise, poll, poll]), after, freshDrops);
        // A 0xFF just before it is a mark byte, so the POLL is recognised by its fields, not its bytes.
        expect(after.some((f) => f.code === 0x60 && f.address === 0 && f.sequence === 1 && f.data.length === 0)).toBe(
          true,
        );
      }),
      params,
    );
  });

  it('OSDP: noise, a corrupted frame or a cut frame each make a drop counter go up, by the right reason', async () => {
    await fc.assert(
      fc.asyncProperty(
        osdpFrameArb,
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        async (frame, at, bit, rawNoise, cuts) => {
          const parse = async (bytes: Buffer) => {
            const drops: OsdpDrop[] = [];
            const parser = new OsdpParser({ interByteTimeoutMs: 0, onDrop: (d) => drops.push(d) });
            const frames = await run<OsdpFrame>(parser, chunked(bytes, cuts));
            expectOsdpAccounting(parser, bytes, frames, drops);
            return { parser, frames, drops };
          };

          // A bit flipped after CTRL (code, data or check characters): refused by its CRC/checksum.
          const flipped = Buffer.from(frame);
          const position = 5 + (at % (frame.length - 5));
          flipped[position] = flipped[position]! ^ (1 << bit);
          const r1 = await parse(flipped);
          expect(r1.frames.some((f) => f.toBuffer().equals(flipped))).toBe(false);
          expect(r1.parser.stats.dropped.integrity).toBeGreaterThanOrEqual(1);

          // A bit flipped anywhere (start, address, LEN, CTRL included): never accepted as it is, always
          // counted. Except CTRL bit 2 (CRC-16 ↔ checksum): the same bytes then read as a frame of the
          // other mode, with one data byte more or less, which passes its check 1 time in 256 (hence
          // `integrity: ['crc16']` for a control panel that always sends CRC-16).
          const anywhere = Buffer.from(frame);
          anywhere[at % frame.length] = anywhere[at % frame.length]! ^ (1 << bit);
          const r2 = await parse(anywhere);
          const whole = r2.frames.filter((f) => f.toBuffer().equals(anywhere));
          if (at % frame.length === 4 && bit === 2) {
            for (const f of whole) expect(f.integrity).not.toBe(OsdpFrame.fromBuffer(frame).integrity);
          } else {
            expect(whole).toEqual([]);
            expect(r2.drops.length).toBeGreaterThan(0);
          }

          // Noise without a start byte: all of it is counted as garbage (0xFF too, as no frame follows).
          const noise = Buffer.from(rawNoise.map((b) => (b === 0x53 ? 0x35 : b)));
          const r3 = await parse(noise);
          expect(r3.frames).toEqual([]);
          expect(r3.parser.stats.garbageBytes).toBe(noise.length);
          expect(r3.parser.stats.dropped.garbage).toBeGreaterThanOrEqual(1);

          // A frame cut short and then the stream ends: its start byte is refused as truncated.
          const cut = frame.subarray(0, 1 + (at % (frame.length - 1)));
          const r4 = await parse(cut);
          expect(r4.frames.some((f) => f.toBuffer().equals(frame))).toBe(false);
          expect(r4.drops[0]).toMatchObject({ reason: 'truncated', bytes: 1 });
          expect(r4.parser.stats.dropped.truncated).toBeGreaterThanOrEqual(1);
        },
      ),
      params,
    );
  });

  it('QR scanner lines: any bytes give only bounded, control-free text; a pass check on it never throws', async () => {
    const ring = parseKeysFile(createKeysFile()).ring;
    const terminator = fc.constantFrom(Buffer.from('\r'), Buffer.from('\n'), Buffer.from('\r\n'), Buffer.from('\t'));
    const line = fc.oneof(
      fc.uint8Array({ maxLength: 700 }).map((b) => Buffer.from(b)),
      fc.string({ unit: 'binary', maxLength: 300 }).map((s) => Buffer.from(`AX1:${s}`)),
      fc.string({ maxLength: 300 }).map((s) => Buffer.from(`]Q1${s}`)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(line, terminator), { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        async (lines, cuts) => {
          const parser = new QrLineParser({ interByteTimeoutMs: 0, maxLength: 512 });
          const bytes = Buffer.concat(lines.flat());
          const scans = await run<QrScan>(parser, chunked(bytes, cuts));
          expectQrAccounting(parser, bytes, scans);
          for (const scan of scans) {
            expect(Buffer.byteLength(scan.text)).toBeLessThanOrEqual(512);
            expect(scan.text).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
            expect(scan.text.length).toBeGreaterThan(0);
            const check = verifyPass(scan.text, ring, Date.now());
            expect(check.ok).toBe(false);
          }
        },
      ),
      params,
    );
  });

  it('QR: each bad line (control character, invalid UTF-8, over-long, empty) makes its counter go up by one', async () => {
    // Printable ASCII, not starting with ']' (an AIM prefix would be stripped).
    const text = fc
      .string({
        unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
        minLength: 1,
        maxLength: 100,
      })
      .map((t) => (t.startsWith(']') ? `x${t}` : t));
    const control = fc.constantFrom(0x00, 0x01, 0x07, 0x08, 0x0b, 0x0c, 0x0e, 0x1b, 0x1f, 0x7f);
    const invalid = fc.constantFrom([0xff], [0xc0, 0xaf], [0xe2, 0x82], [0x80], [0xed, 0xa0, 0x80]);
    const bad = fc.oneof(
      fc.tuple(text, fc.nat(), control).map(([t, at, c]) => {
        const b = Buffer.from(t);
        const i = at % (b.length + 1);
        return {
          reason: 'controlCharacters' as const,
          line: Buffer.concat([b.subarray(0, i), Buffer.from([c]), b.subarray(i)]),
        };
      }),
      fc.tuple(text, fc.nat(), invalid).map(([t, at, bytes]) => {
        const b = Buffer.from(t);
        const i = at % (b.length + 1);
        return {
          reason: 'invalidUtf8' as const,
          line: Buffer.concat([b.subarray(0, i), Buffer.from(bytes), b.subarray(i)]),
        };
      }),
      fc.integer({ min: 129, max: 600 }).map((n) => ({ reason: 'overLong' as const, line: Buffer.alloc(n, 0x41) })),
      fc.constantFrom(Buffer.alloc(0), Buffer.from(']Q1')).map((line) => ({ reason: 'empty' as const, line })),
    );
    const terminator = fc.constantFrom(Buffer.from('\r'), Buffer.from('\n'), Buffer.from('\r\n'), Buffer.from('\t'));
    await fc.assert(
      fc.asyncProperty(
        fc
          .array(
            fc.tuple(
              fc.oneof(
                bad,
                text.map((t) => ({ reason: 'scans' as const, line: Buffer.from(t) })),
              ),
              terminator,
            ),
            {
              minLength: 1,
              maxLength: 8,
            },
          )
          // A CR, then an empty line ended by LF, is one CRLF: that empty line does not exist on the wire.
          .filter((lines) =>
            lines.every(
              ([{ line }, t], i) =>
                i === 0 || line.length > 0 || t[0] !== LF || !lines[i - 1]![1].equals(Buffer.from('\r')),
            ),
          ),
        fc.array(fc.nat(), { maxLength: 20 }),
        async (lines, cuts) => {
          const parser = new QrLineParser({ interByteTimeoutMs: 0, maxLength: 128 });
          const bytes = Buffer.concat(lines.flatMap(([{ line }, t]) => [line, t]));
          const scans = await run<QrScan>(parser, chunked(bytes, cuts));
          const counters = expectQrAccounting(parser, bytes, scans);
          const expected = { scans: 0, empty: 0, overLong: 0, invalidUtf8: 0, controlCharacters: 0 };
          for (const [{ reason }] of lines) expected[reason]++;
          expect(counters).toEqual({ ...expected, timeouts: 0, stalls: 0 });
          expect(scans.map((s) => s.text)).toEqual(
            lines.filter(([l]) => l.reason === 'scans').map(([{ line }]) => line.toString()),
          );
        },
      ),
      params,
    );
  });
});
