import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type QrLineParserOptions, QrLineParser, type QrScan } from '../../../firmware-bridge/qr/line-parser.ts';

/** Feeds the chunks, ends the stream and returns every scan (end flushes a pending read like a timeout). */
async function parse(chunks: Buffer[], options: QrLineParserOptions = {}) {
  const parser = new QrLineParser({ interByteTimeoutMs: 0, ...options });
  const scans: QrScan[] = [];
  parser.on('data', (scan: QrScan) => scans.push(scan));
  const ended = new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('error', reject);
  });
  for (const chunk of chunks) parser.write(chunk);
  parser.end();
  await ended;
  return { texts: scans.map((s) => s.text), scans, counters: { ...parser.counters } };
}

const bytes = (text: string) => Buffer.from(text, 'utf8');
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A stream exercising every rule at once: all terminators, AIM, multi-byte UTF-8, noise, an over-long line. */
const MIXED = Buffer.concat([
  bytes('ANXIN1:resident:abc\r'),
  bytes('second\n'),
  bytes('third\r\n'),
  bytes('fourth\t'),
  bytes(']Q1with-aim\r'),
  bytes('通行证-中文\r\n'),
  Buffer.from([0xff, 0xfe, 0x41, 0x0d]),
  bytes('ctrl\u0001char\r'),
  bytes(`${'x'.repeat(40)}\r`),
  bytes('\r\n'),
  bytes('last'),
]);
const MIXED_TEXTS = ['ANXIN1:resident:abc', 'second', 'third', 'fourth', 'with-aim', '通行证-中文', 'last'];

describe('QrLineParser: terminators', () => {
  it("'auto' accepts CR, LF, CRLF (once) and TAB", async () => {
    const { texts, counters } = await parse([bytes('A\rB\nC\r\nD\tE\r\n\r\n')]);
    expect(texts).toEqual(['A', 'B', 'C', 'D', 'E']);
    expect(counters.empty).toBe(1);
  });

  it("'cr' ends only at CR; an LF inside a line is a control character", async () => {
    const { texts, counters } = await parse([bytes('A\rB\tC\rD\nE\r')], { terminator: 'cr' });
    expect(texts).toEqual(['A']);
    expect(counters.controlCharacters).toBe(2);
  });

  it("'lf' ends only at LF", async () => {
    expect((await parse([bytes('A\nB\n')], { terminator: 'lf' })).texts).toEqual(['A', 'B']);
  });

  it("'tab' ends only at TAB", async () => {
    expect((await parse([bytes('A\tB\t')], { terminator: 'tab' })).texts).toEqual(['A', 'B']);
  });

  it("'crlf' needs both bytes; a lone CR stays in the line and spoils it", async () => {
    const { texts, counters } = await parse([bytes('A\r\nB\rC\r\nD\r'), bytes('\n')], { terminator: 'crlf' });
    expect(texts).toEqual(['A', 'D']);
    expect(counters.controlCharacters).toBe(1);
  });

  it("'none' relies on the stream end or the inter-byte timeout", async () => {
    const { scans } = await parse([bytes('ABC')], { terminator: 'none', interByteTimeoutMs: 50 });
    expect(scans).toMatchObject([{ text: 'ABC', endedBy: 'timeout' }]);
  });

  it('reports which kind of end a read had and stamps the arrival time of its last chunk', async () => {
    let clock = 100n;
    const parser = new QrLineParser({ now: () => clock++ });
    const scans: QrScan[] = [];
    parser.on('data', (scan: QrScan) => scans.push(scan));
    parser.write(bytes('AB'));
    parser.write(bytes('C\r'));
    await tick();
    expect(scans).toEqual([{ text: 'ABC', lastByteAt: 101n, endedBy: 'terminator' }]);
    parser.destroy();
  });
});

describe('QrLineParser: AIM prefix, decoding, length cap', () => {
  it('strips an AIM symbology identifier and reports it', async () => {
    const { scans } = await parse([bytes(']Q1HELLO\r]E0123456\r]d2X\r')]);
    expect(scans.map((s) => [s.text, s.symbology])).toEqual([
      ['HELLO', ']Q1'],
      ['123456', ']E0'],
      ['X', ']d2'],
    ]);
  });

  it('keeps the prefix when stripAim is false, and leaves look-alikes alone', async () => {
    expect((await parse([bytes(']Q1HELLO\r')], { stripAim: false })).texts).toEqual([']Q1HELLO']);
    expect((await parse([bytes(']Q\r]-1x\r')])).texts).toEqual([']Q', ']-1x']);
  });

  it('counts an AIM identifier with nothing after it as empty', async () => {
    const { texts, counters } = await parse([bytes(']Q1\r')]);
    expect(texts).toEqual([]);
    expect(counters.empty).toBe(1);
  });

  it('decodes UTF-8 and drops invalid UTF-8 and control characters, counting each', async () => {
    const { texts, counters } = await parse([
      bytes('张三丰\r'),
      Buffer.from([0xc3, 0x28, 0x0d]),
      Buffer.from([0xed, 0xa0, 0x80, 0x0d]), // an encoded surrogate half: not valid UTF-8
      bytes('a\u0000b\rc\u007fd\re\u0085f\r'),
    ]);
    expect(texts).toEqual(['张三丰']);
    expect(counters).toMatchObject({ scans: 1, invalidUtf8: 2, controlCharacters: 3 });
  });

  it('drops an over-long line, counts it once and resyncs at the next terminator', async () => {
    const { texts, counters } = await parse([bytes('123456789'), bytes('0123\rOK\r12345678\r')], { maxLength: 8 });
    expect(texts).toEqual(['OK', '12345678']);
    expect(counters.overLong).toBe(1);
  });

  it('keeps its buffer bounded by maxLength however long the noise', async () => {
    const noise = Buffer.alloc(1_000_000, 0x41);
    const { texts, counters } = await parse([noise, noise, bytes('\rafter\r')], { maxLength: 512 });
    expect(texts).toEqual(['after']);
    expect(counters.overLong).toBe(1);
  });

  it('rejects bad options with a TypeError naming the option', () => {
    expect(() => new QrLineParser({ terminator: 'nul' as never })).toThrow(/terminator/);
    expect(() => new QrLineParser({ maxLength: 0 })).toThrow(/maxLength/);
    expect(() => new QrLineParser({ interByteTimeoutMs: -1 })).toThrow(/interByteTimeoutMs/);
    expect(() => new QrLineParser({ terminator: 'none', interByteTimeoutMs: 0 })).toThrow(/interByteTimeoutMs/);
  });
});

describe('QrLineParser: chunking never changes the result', () => {
  it('gives the same scans and counters for the mixed stream split at every offset', async () => {
    const options = { maxLength: 32 };
    const whole = await parse([MIXED], options);
    expect(whole.texts).toEqual(MIXED_TEXTS);
    expect(whole.counters).toMatchObject({ invalidUtf8: 1, controlCharacters: 1, overLong: 1, empty: 1 });
    for (let offset = 1; offset < MIXED.length; offset++) {
      const split = await parse([MIXED.subarray(0, offset), MIXED.subarray(offset)], options);
      expect(split.texts, `split at ${offset}`).toEqual(whole.texts);
      expect(split.counters, `split at ${offset}`).toEqual(whole.counters);
    }
    const byteByByte = await parse(
      [...MIXED].map((b) => Buffer.from([b])),
      options,
    );
    expect(byteByByte.texts).toEqual(whole.texts);
    expect(byteByByte.counters).toEqual(whole.counters);
  });

  it("gives the same result split at every offset in 'crlf' mode", async () => {
    const stream = bytes('one\r\ntwo\rbad\r\n]Q1three\r\n');
    const whole = await parse([stream], { terminator: 'crlf' });
    expect(whole.texts).toEqual(['one', 'three']);
    for (let offset = 1; offset < stream.length; offset++) {
      const split = await parse([stream.subarray(0, offset), stream.subarray(offset)], { terminator: 'crlf' });
      expect(split.texts, `split at ${offset}`).toEqual(whole.texts);
    }
  });
});

// Valid scans: non-empty, well-formed, no control characters, no AIM look-alike at the start, within the cap.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const validText = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 60 })
  .filter(
    (s) =>
      Buffer.from(s, 'utf8').toString('utf8') === s &&
      !CONTROL.test(s) &&
      !/^\][A-Za-z][0-9A-Za-z]/.test(s) &&
      Buffer.byteLength(s) <= 200,
  );
const terminator = fc.constantFrom('\r', '\n', '\r\n', '\t');
const validLine = fc.tuple(validText, terminator);
/** Noise that must be dropped: terminator-free bytes with a poison byte (control char or invalid UTF-8), then a terminator. */
const garbageLine = fc
  .tuple(
    fc.uint8Array({ maxLength: 40 }).map((a) => a.filter((b) => b !== 0x0d && b !== 0x0a && b !== 0x09)),
    // ASCII controls are never part of a multi-byte sequence; C0 and FF never occur in UTF-8 at all.
    fc.constantFrom(0x00, 0x01, 0x08, 0x0b, 0x1b, 0x7f, 0xc0, 0xff),
    fc.nat(),
    terminator,
  )
  .map(([body, poison, at, end]) => {
    const position = body.length === 0 ? 0 : at % (body.length + 1);
    return Buffer.concat([
      Buffer.from(body.subarray(0, position)),
      Buffer.from([poison]),
      Buffer.from(body.subarray(position)),
      bytes(end),
    ]);
  });
/** Cuts a buffer at the given offsets. */
function splitAt(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (data.length === 0 ? 0 : c % data.length)))].sort((x, y) => x - y);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const point of points) {
    if (point > from) pieces.push(data.subarray(from, point));
    from = Math.max(from, point);
  }
  pieces.push(data.subarray(from));
  return pieces;
}

describe('QrLineParser: properties', () => {
  it('returns exactly the lines sent, however the bytes are split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(validLine, { minLength: 1, maxLength: 20 }),
        fc.array(fc.nat()),
        async (lines, cuts) => {
          const data = Buffer.concat(lines.map(([text, end]) => bytes(text + end)));
          const { texts } = await parse(splitAt(data, cuts));
          expect(texts).toEqual(lines.map(([text]) => text));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('returns exactly the valid lines when noise is interleaved', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            validLine.map((l) => ({ valid: true as const, l })),
            garbageLine.map((g) => ({ valid: false as const, g })),
          ),
          {
            maxLength: 30,
          },
        ),
        fc.array(fc.nat()),
        async (items, cuts) => {
          const data = Buffer.concat(items.map((item) => (item.valid ? bytes(item.l[0] + item.l[1]) : item.g)));
          const { texts, counters } = await parse(splitAt(data, cuts), { maxLength: 256 });
          const expected = items.flatMap((item) => (item.valid ? [item.l[0]] : []));
          expect(texts).toEqual(expected);
          expect(counters.invalidUtf8 + counters.controlCharacters + counters.overLong).toBe(
            items.length - expected.length,
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

/**
 * The parser judges silence by when bytes arrived (its `now`), so the fake clock drives both its
 * timer and its arrival stamps; with the real clock a loaded machine made an on-time timer look late.
 */
const fakeNow = () => BigInt(Math.round(performance.now() * 1e6));

describe('QrLineParser: inter-byte timeout', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('ends a read without terminator after exactly interByteTimeoutMs of silence', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const parser = new QrLineParser({ terminator: 'none', interByteTimeoutMs: 50, now: fakeNow });
    const scans: QrScan[] = [];
    parser.on('data', (scan: QrScan) => scans.push(scan));
    parser.write(bytes('AB'));
    vi.advanceTimersByTime(30);
    parser.write(bytes('C')); // restarts the silence window
    vi.advanceTimersByTime(49);
    await tick();
    expect(scans).toEqual([]);
    vi.advanceTimersByTime(1);
    await tick();
    expect(scans).toMatchObject([{ text: 'ABC', endedBy: 'timeout' }]);
    expect(parser.counters.timeouts).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
    parser.destroy();
  });

  it("falls back to the timeout in 'auto' mode and sets no timer after a complete line", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const parser = new QrLineParser({ now: fakeNow });
    const scans: QrScan[] = [];
    parser.on('data', (scan: QrScan) => scans.push(scan));
    parser.write(bytes('done\r'));
    expect(vi.getTimerCount()).toBe(0);
    parser.write(bytes('no-terminator'));
    vi.advanceTimersByTime(50);
    await tick();
    expect(scans.map((s) => [s.text, s.endedBy])).toEqual([
      ['done', 'terminator'],
      ['no-terminator', 'timeout'],
    ]);
    parser.destroy();
  });

  it('resyncs after an over-long read that ends in silence', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const parser = new QrLineParser({ maxLength: 4, now: fakeNow });
    const scans: QrScan[] = [];
    parser.on('data', (scan: QrScan) => scans.push(scan));
    parser.write(bytes('123456'));
    vi.advanceTimersByTime(50);
    parser.write(bytes('ok\r'));
    await tick();
    expect(scans.map((s) => s.text)).toEqual(['ok']);
    expect(parser.counters.overLong).toBe(1);
    parser.destroy();
  });

  it('reset() forgets a partial read and its timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const parser = new QrLineParser({ now: fakeNow });
    const scans: QrScan[] = [];
    parser.on('data', (scan: QrScan) => scans.push(scan));
    parser.write(bytes('half-'));
    parser.reset();
    expect(vi.getTimerCount()).toBe(0);
    parser.write(bytes('whole\r'));
    await tick();
    expect(scans.map((s) => s.text)).toEqual(['whole']);
    parser.destroy();
  });
});
