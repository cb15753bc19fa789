/**
 * Issue #11, bad input: the three serial parsers fed random bytes and mutated valid frames (bit
 * flips, truncations, duplications, splices), cut into random chunks. Whatever arrives, a parser
 * never throws out of the stream, never emits a frame that would not re-validate on its own, keeps
 * its buffer bounded, and finds a clean frame sent after the noise (resync).
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
import { OsdpParser } from '../../firmware-bridge/osdp/parser.ts';
import { QrLineParser, type QrScan } from '../../firmware-bridge/qr/line-parser.ts';
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

        // Resync: SAM_V's 8-bit XOR lets one noise candidate in 256 validate and swallow the start
        // of what follows; the driver then times out and asks again, so the reply comes twice.
        const fresh = new SamvParser();
        const after = await run<SamvFrame>(fresh, [noise, Buffer.alloc(8), clean, clean]);
        expect(after.some((f) => f.toBuffer().equals(clean))).toBe(true);
      }),
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
        const parser = new OsdpParser({ interByteTimeoutMs: 0 });
        const frames = await run<OsdpFrame>(parser, chunked(noise, cuts));
        for (const f of frames) expect(() => OsdpFrame.fromBuffer(f.toBuffer())).not.toThrow();

        // Resync: an 8-bit checksum lets one noise candidate in 256 validate and swallow what
        // follows, so this half runs CRC-16 only (as a control panel that always sends CRC-16
        // may, `integrity: ['crc16']`) and sends the POLL twice, as the control panel's retry would.
        const fresh = new OsdpParser({ interByteTimeoutMs: 0, integrity: ['crc16'] });
        const after = await run<OsdpFrame>(fresh, [noise, poll, poll]);
        // A 0xFF just before it is a mark byte, so the POLL is recognised by its fields, not its bytes.
        expect(after.some((f) => f.code === 0x60 && f.address === 0 && f.sequence === 1 && f.data.length === 0)).toBe(
          true,
        );
      }),
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
});
