/**
 * Cuts SAM_V frames (docs/devices.md §1) out of a byte stream: bytes in, `SamvFrame` objects out.
 *
 * Finds the `AA AA AA 96 69` preamble, reads LEN, waits for 7 + LEN bytes and verifies CHK.
 * Garbage before a preamble, a LEN outside 3..maxLength and a wrong CHK are dropped and counted;
 * the parser then resyncs on the next preamble, one byte further, so a valid frame that started
 * inside the dropped bytes is still found. It never throws out of the stream.
 *
 * A false preamble with a plausible LEN (noise, or the tail of a frame cut by an unplug) would hold
 * back everything behind it until LEN bytes arrived — on a request/response line, possibly for
 * minutes. So a candidate is superseded by any complete, valid frame that starts inside it. The
 * same rule applies whether or not the candidate has completed, which keeps the output identical
 * however the bytes are split into chunks. (A real frame whose payload happens to contain a whole
 * valid frame — preamble, LEN and matching CHK — would be misparsed; with a 5-byte preamble plus a
 * checksum that is below 2^-48 per byte position.)
 *
 * Memory: one growing buffer with a start offset; bytes are copied once on arrival and compacted
 * in place, never `Buffer.concat`-ed per chunk. What it keeps between chunks is bounded by
 * 7 + maxLength bytes. Time: O(n) per chunk in the common case.
 */
import { Transform, type TransformCallback, type TransformOptions } from 'node:stream';
import {
  SAMV_HEADER_LENGTH,
  SAMV_MAX_LENGTH,
  SAMV_MIN_BODY_LENGTH,
  SAMV_PREAMBLE,
  SamvFrame,
  samvChecksum,
} from './frame.ts';

/** Why bytes were dropped: before any preamble, a LEN out of range, a wrong CHK, or a candidate superseded by a valid frame inside it. */
export type SamvDiscardReason = 'garbage' | 'length' | 'checksum' | 'superseded';

export interface SamvParserStats {
  frames: number;
  droppedBytes: number;
  garbage: number;
  length: number;
  checksum: number;
  superseded: number;
}

export interface SamvParserOptions extends TransformOptions {
  /** Largest LEN accepted; bigger ones are dropped as line noise. Default 4096 (SAMV_MAX_LENGTH). */
  maxLength?: number;
  /** Called for every discard with the number of bytes dropped (the simulator answers a bad CHK with SW3 10). */
  onDiscard?: (reason: SamvDiscardReason, bytes: number) => void;
  /** Clock for `SamvFrame.receivedAt`. Default `process.hrtime.bigint`. */
  now?: () => bigint;
}

const INITIAL_CAPACITY = 8192;
const PREAMBLE_LENGTH = SAMV_PREAMBLE.length;
const MIN_LENGTH = SAMV_MIN_BODY_LENGTH + 1;

export class SamvParser extends Transform {
  readonly stats: SamvParserStats = { frames: 0, droppedBytes: 0, garbage: 0, length: 0, checksum: 0, superseded: 0 };
  readonly #maxLength: number;
  readonly #onDiscard: ((reason: SamvDiscardReason, bytes: number) => void) | undefined;
  readonly #now: () => bigint;
  #buffer = Buffer.alloc(INITIAL_CAPACITY);
  #start = 0;
  #end = 0;
  /**
   * Look-ahead state for the current candidate (see the header comment): preambles inside it were
   * searched for up to `#innerScanned`; `#innerPending` are those whose frame is not complete yet,
   * to be looked at again once the buffer reaches `#innerPendingEnd` (the earliest of their ends).
   * This keeps noise dense with preambles from costing O(n²).
   */
  #innerScanned = 0;
  #innerPending: number[] = [];
  #innerPendingEnd = Number.POSITIVE_INFINITY;

  constructor(options: SamvParserOptions = {}) {
    const { maxLength = SAMV_MAX_LENGTH, onDiscard, now = process.hrtime.bigint, ...transformOptions } = options;
    if (!Number.isInteger(maxLength) || maxLength < MIN_LENGTH || maxLength > 0xffff) {
      throw new TypeError(`maxLength must be an integer ${MIN_LENGTH}..65535, got ${maxLength}`);
    }
    super({ ...transformOptions, readableObjectMode: true });
    this.#maxLength = maxLength;
    this.#onDiscard = onDiscard;
    this.#now = now;
  }

  /** Bytes held back waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.#end - this.#start;
  }

  /** Drops a partial frame (e.g. after the line was re-opened: its tail will never come). */
  reset(): void {
    if (this.#end > this.#start) this.#discard('garbage', this.#end - this.#start);
    this.#start = 0;
    this.#end = 0;
    this.#forgetInner();
    if (this.#buffer.length > INITIAL_CAPACITY) this.#buffer = Buffer.alloc(INITIAL_CAPACITY);
  }

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
      const at = this.#now();
      this.#append(bytes);
      this.#cut(at);
    } catch {
      // Nothing above should throw; if it does, lose (and count) the buffered bytes rather than the stream.
      this.reset();
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.reset();
    callback();
  }

  #append(bytes: Buffer): void {
    if (this.#end + bytes.length > this.#buffer.length) {
      const pending = this.#end - this.#start;
      if (pending + bytes.length <= this.#buffer.length) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = Buffer.alloc(Math.max(this.#buffer.length * 2, pending + bytes.length));
        this.#buffer.copy(grown, 0, this.#start, this.#end);
        this.#buffer = grown;
      }
      const shift = this.#start;
      this.#innerScanned = Math.max(0, this.#innerScanned - shift);
      this.#innerPending = this.#innerPending.map((at) => at - shift);
      this.#innerPendingEnd -= shift;
      this.#start = 0;
      this.#end = pending;
    }
    bytes.copy(this.#buffer, this.#end);
    this.#end += bytes.length;
  }

  #discard(reason: SamvDiscardReason, bytes: number): void {
    if (bytes <= 0) return;
    this.stats[reason] += 1;
    this.stats.droppedBytes += bytes;
    this.#onDiscard?.(reason, bytes);
  }

  /** Drops `count` bytes from the front. */
  #drop(reason: SamvDiscardReason, count: number): void {
    this.#discard(reason, count);
    this.#start += count;
    this.#forgetInner();
  }

  #forgetInner(): void {
    this.#innerScanned = 0;
    this.#innerPending = [];
    this.#innerPendingEnd = Number.POSITIVE_INFINITY;
  }

  #indexOfPreamble(from: number, to: number): number {
    if (to - from < PREAMBLE_LENGTH) return -1;
    const index = this.#buffer.subarray(from, to).indexOf(SAMV_PREAMBLE);
    return index < 0 ? -1 : from + index;
  }

  /** LEN at `at`, or undefined when the header is not complete yet. */
  #lengthAt(at: number): number | undefined {
    if (this.#end - at < SAMV_HEADER_LENGTH) return undefined;
    return (this.#buffer[at + 5]! << 8) | this.#buffer[at + 6]!;
  }

  #lengthOk(length: number): boolean {
    return length >= MIN_LENGTH && length <= this.#maxLength;
  }

  #checksumOk(at: number, length: number): boolean {
    const last = at + SAMV_HEADER_LENGTH + length - 1;
    return samvChecksum(this.#buffer, at + 5, last) === this.#buffer[last];
  }

  /** Whether a frame starting at `at` is valid and ends by `limit`, invalid, or not complete yet (with its end so far known). */
  #innerState(at: number, limit: number): 'valid' | 'invalid' | number {
    if (at + SAMV_HEADER_LENGTH > limit) return at + SAMV_HEADER_LENGTH;
    const length = (this.#buffer[at + 5]! << 8) | this.#buffer[at + 6]!;
    if (!this.#lengthOk(length)) return 'invalid';
    const end = at + SAMV_HEADER_LENGTH + length;
    if (end > limit) return end;
    return this.#checksumOk(at, length) ? 'valid' : 'invalid';
  }

  /** The first complete, valid frame that starts after `candidate` and ends by `limit`, or -1. */
  #validFrameInside(candidate: number, limit: number): number {
    if (limit >= this.#innerPendingEnd) {
      const still: number[] = [];
      let earliestEnd = Number.POSITIVE_INFINITY;
      for (const inner of this.#innerPending) {
        const state = this.#innerState(inner, limit);
        if (state === 'valid') return inner;
        if (state !== 'invalid') {
          still.push(inner);
          earliestEnd = Math.min(earliestEnd, state);
        }
      }
      this.#innerPending = still;
      this.#innerPendingEnd = earliestEnd;
    }
    let from = Math.max(candidate + 1, this.#innerScanned);
    for (;;) {
      const inner = this.#indexOfPreamble(from, limit);
      if (inner < 0) break;
      const state = this.#innerState(inner, limit);
      if (state === 'valid') return inner;
      if (state !== 'invalid') {
        this.#innerPending.push(inner);
        this.#innerPendingEnd = Math.min(this.#innerPendingEnd, state);
      }
      from = inner + 1;
    }
    this.#innerScanned = Math.max(candidate + 1, limit - PREAMBLE_LENGTH + 1);
    return -1;
  }

  #cut(receivedAt: bigint): void {
    while (this.#end > this.#start) {
      const preamble = this.#indexOfPreamble(this.#start, this.#end);
      if (preamble < 0) {
        // Keep a tail that could be the start of a preamble split across chunks.
        this.#drop('garbage', this.#end - this.#start - this.#partialPreambleTail());
        break;
      }
      if (preamble > this.#start) this.#drop('garbage', preamble - this.#start);
      const length = this.#lengthAt(this.#start);
      if (length === undefined) break;
      if (!this.#lengthOk(length)) {
        this.#drop('length', 1);
        continue;
      }
      const frameEnd = this.#start + SAMV_HEADER_LENGTH + length;
      const inner = this.#validFrameInside(this.#start, Math.min(frameEnd, this.#end));
      if (inner >= 0) {
        this.#drop('superseded', inner - this.#start);
        continue;
      }
      if (frameEnd > this.#end) break;
      if (!this.#checksumOk(this.#start, length)) {
        this.#drop('checksum', 1);
        continue;
      }
      const frame = new SamvFrame(
        Buffer.from(this.#buffer.subarray(this.#start + SAMV_HEADER_LENGTH, frameEnd - 1)),
        receivedAt,
      );
      this.#start = frameEnd;
      this.#forgetInner();
      this.stats.frames += 1;
      this.push(frame);
    }
    if (this.#start === this.#end) {
      this.#start = 0;
      this.#end = 0;
      this.#forgetInner();
      if (this.#buffer.length > INITIAL_CAPACITY) this.#buffer = Buffer.alloc(INITIAL_CAPACITY);
    }
  }

  /** Length of the longest suffix of the pending bytes that is a proper prefix of the preamble. */
  #partialPreambleTail(): number {
    const pending = this.#end - this.#start;
    for (let keep = Math.min(PREAMBLE_LENGTH - 1, pending); keep > 0; keep--) {
      let matches = true;
      for (let i = 0; i < keep; i++) {
        if (this.#buffer[this.#end - keep + i] !== SAMV_PREAMBLE[i]) {
          matches = false;
          break;
        }
      }
      if (matches) return keep;
    }
    return 0;
  }
}
