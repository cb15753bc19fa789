/**
 * Cuts scans out of a serial QR/barcode scanner's byte stream (docs/devices.md §3): the decoded text
 * followed by a terminator (CR, LF, CRLF or TAB), or nothing at all, in which case a silence of
 * `interByteTimeoutMs` ends the read. An optional AIM symbology identifier (`]Q1` …) is stripped.
 * Lines longer than `maxLength` are dropped and the parser resyncs at the next terminator; lines
 * that are not valid UTF-8 or contain control characters are dropped. Every drop is counted.
 *
 * Bytes in, `QrScan` objects out (readable side in object mode). Never errors, O(n) per chunk,
 * memory bounded by `maxLength` (one preallocated buffer and an offset; no concat per byte).
 *
 * The silence is judged by when bytes arrived, not by when the timer happened to run. A timer that
 * fires late means the event loop was frozen at the deadline (a GC pause, a busy neighbour): bytes
 * the scanner sent meanwhile may sit unread in the kernel, and the timers phase runs before the
 * poll phase that would read them. So a late timer does not end the read: it looks again after
 * another full `interByteTimeoutMs` of a live loop (at most `MAX_STALL_RECHECKS` times), and the
 * read ends only once the silence was observed on time. Without this, a ~50 ms stall cut one pass
 * into two `malformed` refusals (test/firmware-bridge/qr/stall.integration.test.ts).
 */
import { Transform, type TransformCallback, type TransformOptions } from 'node:stream';
import { systemTimers, type Timers } from '../serial/timers.ts';

const QR_TERMINATORS = ['auto', 'cr', 'lf', 'crlf', 'tab', 'none'] as const;
export type QrTerminator = (typeof QR_TERMINATORS)[number];

/** A read that has not seen its terminator ends after this much silence (a typical scanner sends a code in one burst). */
const DEFAULT_INTER_BYTE_TIMEOUT_MS = 50;
/** A timer this much later than its deadline means the loop was stalled; the silence is looked at again. */
const STALL_SLACK_MS = 2;
/** Rechecks after late timers before the silence is believed anyway (bounds the delay under constant load). */
const MAX_STALL_RECHECKS = 3;
/** Longer than any pass we issue (≈ 200 characters) with room to spare; longer input is noise or a wrong device. */
const DEFAULT_MAX_LENGTH = 512;

const CR = 0x0d;
const LF = 0x0a;
const TAB = 0x09;
/** AIM ISO/IEC 15424 symbology identifier: `]`, a code character, a modifier character. */
const AIM_FLAG = 0x5d;
const AIM_LENGTH = 3;
const AIM_PATTERN = /^\][A-Za-z][0-9A-Za-z]$/;
/** C0, DEL and C1 controls: a scanned pass never contains them; seeing one means line noise or a wrong baud rate. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

export interface QrLineParserOptions extends TransformOptions {
  /** What ends a scan. 'auto' (default): any of CR, LF, TAB; CRLF counts once. 'none': only the inter-byte timeout. */
  terminator?: QrTerminator;
  /** Silence that ends a read without a terminator, in ms. Default 50. 0 disables it (not allowed with 'none'). */
  interByteTimeoutMs?: number;
  /** Longest accepted line in bytes, AIM prefix included. Default 512. */
  maxLength?: number;
  /** Strip a leading AIM symbology identifier such as `]Q1`. Default true. */
  stripAim?: boolean;
  /** Timers for the inter-byte timeout (tests inject fake ones). */
  timers?: Timers;
  /** Clock stamped on each scan; default `process.hrtime.bigint`. */
  now?: () => bigint;
}

export interface QrScan {
  /** The decoded text, AIM prefix removed. */
  text: string;
  /** `process.hrtime.bigint()` when the chunk holding the last byte (or the terminator) arrived. */
  lastByteAt: bigint;
  /** The AIM identifier that was stripped, e.g. `]Q1`. */
  symbology?: string;
  /** Whether a terminator or the inter-byte timeout ended the read. */
  endedBy: 'terminator' | 'timeout';
}

export interface QrLineCounters {
  scans: number;
  /** Reads ended by silence rather than a terminator (many of them suggest a terminator misconfiguration). */
  timeouts: number;
  overLong: number;
  invalidUtf8: number;
  controlCharacters: number;
  /** Empty reads (two terminators in a row, or only an AIM prefix). */
  empty: number;
  /** Silence timers that fired late (a stalled event loop) and were looked at again instead of ending the read. */
  stalls: number;
}

export class QrLineParser extends Transform {
  readonly counters: QrLineCounters = {
    scans: 0,
    timeouts: 0,
    overLong: 0,
    invalidUtf8: 0,
    controlCharacters: 0,
    empty: 0,
    stalls: 0,
  };

  readonly #terminator: QrTerminator;
  readonly #timeoutMs: number;
  readonly #maxLength: number;
  readonly #stripAim: boolean;
  readonly #timers: Timers;
  readonly #now: () => bigint;
  readonly #decoder = new TextDecoder('utf-8', { fatal: true });

  readonly #line: Buffer;
  #length = 0;
  /** True while skipping the rest of an over-long line, until its terminator. */
  #discarding = false;
  /** 'auto': the previous byte was a CR ending a line, so an LF right after it is the second half of CRLF. */
  #afterCr = false;
  /** 'crlf': a CR was seen and the next byte decides whether it was a terminator. */
  #pendingCr = false;
  #lastByteAt = 0n;
  #timer: unknown;
  /** Late timers seen since the last byte. */
  #rechecks = 0;

  constructor(options: QrLineParserOptions = {}) {
    const { terminator, interByteTimeoutMs, maxLength, stripAim, timers, now, ...streamOptions } = options;
    super({ ...streamOptions, readableObjectMode: true, writableObjectMode: false });
    this.#terminator = terminator ?? 'auto';
    if (!QR_TERMINATORS.includes(this.#terminator)) {
      throw new TypeError(`terminator must be one of ${QR_TERMINATORS.join(', ')}, got ${JSON.stringify(terminator)}`);
    }
    this.#timeoutMs = interByteTimeoutMs ?? DEFAULT_INTER_BYTE_TIMEOUT_MS;
    if (!Number.isFinite(this.#timeoutMs) || this.#timeoutMs < 0) {
      throw new TypeError(`interByteTimeoutMs must be a non-negative number, got ${interByteTimeoutMs}`);
    }
    if (this.#timeoutMs === 0 && this.#terminator === 'none') {
      throw new TypeError("interByteTimeoutMs must be > 0 when terminator is 'none'");
    }
    this.#maxLength = maxLength ?? DEFAULT_MAX_LENGTH;
    if (!Number.isInteger(this.#maxLength) || this.#maxLength < 1) {
      throw new TypeError(`maxLength must be a positive integer, got ${maxLength}`);
    }
    this.#stripAim = stripAim ?? true;
    this.#timers = timers ?? systemTimers;
    this.#now = now ?? process.hrtime.bigint;
    this.#line = Buffer.allocUnsafe(this.#maxLength);
  }

  /** Forgets a partial read (called by the port after a reconnect: half a scan from before is garbage). */
  reset(): void {
    this.#cancelTimer();
    this.#length = 0;
    this.#discarding = false;
    this.#afterCr = false;
    this.#pendingCr = false;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length === 0) {
      callback();
      return;
    }
    this.#lastByteAt = this.#now();
    this.#rechecks = 0;
    this.#cancelTimer();
    let segmentStart = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      const ends = this.#endsLine(byte);
      if (ends === 'no') continue;
      this.#append(chunk, segmentStart, i);
      segmentStart = i + 1;
      if (ends === 'yes') this.#finishLine('terminator');
    }
    this.#append(chunk, segmentStart, chunk.length);
    if (this.#timeoutMs > 0 && (this.#length > 0 || this.#discarding || this.#pendingCr)) {
      this.#armSilenceTimer();
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.#cancelTimer();
    this.#onSilence();
    callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#cancelTimer();
    callback(err);
  }

  /**
   * Classifies one byte: 'yes' ends the line, 'skip' is swallowed (second half of CRLF, or a
   * CR held back in 'crlf' mode), 'no' is line content. Mutates the CR state.
   */
  #endsLine(byte: number): 'yes' | 'no' | 'skip' {
    switch (this.#terminator) {
      case 'auto': {
        const afterCr = this.#afterCr;
        this.#afterCr = byte === CR;
        if (byte === LF && afterCr) return 'skip';
        return byte === CR || byte === LF || byte === TAB ? 'yes' : 'no';
      }
      case 'cr':
        return byte === CR ? 'yes' : 'no';
      case 'lf':
        return byte === LF ? 'yes' : 'no';
      case 'tab':
        return byte === TAB ? 'yes' : 'no';
      case 'crlf':
        if (this.#pendingCr) {
          this.#pendingCr = false;
          if (byte === LF) return 'yes';
          // A lone CR is content (and will make the line fail the control-character check).
          this.#appendByte(CR);
        }
        if (byte === CR) {
          this.#pendingCr = true;
          return 'skip';
        }
        return 'no';
      case 'none':
        return 'no';
    }
  }

  #append(chunk: Buffer, start: number, end: number): void {
    if (end <= start || this.#discarding) return;
    const count = end - start;
    if (this.#length + count > this.#maxLength) {
      this.#startDiscarding();
      return;
    }
    chunk.copy(this.#line, this.#length, start, end);
    this.#length += count;
  }

  #appendByte(byte: number): void {
    if (this.#discarding) return;
    if (this.#length + 1 > this.#maxLength) {
      this.#startDiscarding();
      return;
    }
    this.#line[this.#length++] = byte;
  }

  #startDiscarding(): void {
    this.counters.overLong++;
    this.#discarding = true;
    this.#length = 0;
  }

  #armSilenceTimer(): void {
    this.#timer = this.#timers.setTimeout(() => this.#onTimer(), this.#timeoutMs);
  }

  /** The silence timer ran: believe it only if it ran on time (see the file comment). */
  #onTimer(): void {
    this.#timer = undefined;
    const lateMs = Number(this.#now() - this.#lastByteAt) / 1e6 - this.#timeoutMs;
    if (lateMs > STALL_SLACK_MS && this.#rechecks < MAX_STALL_RECHECKS) {
      this.#rechecks++;
      this.counters.stalls++;
      this.#armSilenceTimer();
      return;
    }
    this.#onSilence();
  }

  #onSilence(): void {
    this.#timer = undefined;
    // In 'crlf' mode a CR followed by silence is taken as the end of the line: lenient towards a scanner set to CR.
    this.#pendingCr = false;
    this.#afterCr = false;
    if (this.#length === 0 && !this.#discarding) return;
    this.#finishLine('timeout');
  }

  #finishLine(endedBy: QrScan['endedBy']): void {
    const length = this.#length;
    const discarded = this.#discarding;
    this.#length = 0;
    this.#discarding = false;
    if (discarded) return;
    if (endedBy === 'timeout') this.counters.timeouts++;
    let start = 0;
    let symbology: string | undefined;
    if (this.#stripAim && length >= AIM_LENGTH && this.#line[0] === AIM_FLAG) {
      const candidate = this.#line.toString('latin1', 0, AIM_LENGTH);
      if (AIM_PATTERN.test(candidate)) {
        symbology = candidate;
        start = AIM_LENGTH;
      }
    }
    if (start === length) {
      this.counters.empty++;
      return;
    }
    let text: string;
    try {
      text = this.#decoder.decode(this.#line.subarray(start, length));
    } catch {
      this.counters.invalidUtf8++;
      return;
    }
    if (CONTROL_CHARACTER.test(text)) {
      this.counters.controlCharacters++;
      return;
    }
    this.counters.scans++;
    const scan: QrScan = { text, lastByteAt: this.#lastByteAt, endedBy };
    if (symbology !== undefined) scan.symbology = symbology;
    this.push(scan);
  }

  #cancelTimer(): void {
    if (this.#timer === undefined) return;
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
