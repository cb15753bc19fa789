/**
 * Cuts OSDP frames out of a byte stream (docs/devices.md §5): a `Transform` with bytes in and
 * `OsdpFrame` objects out. It hunts for 0x53, reads LEN (little-endian, counted from 0x53 through
 * the check characters), waits for that many bytes and checks the CRC-16 or checksum.
 *
 * Resync: anything that is not a frame costs exactly its first byte — the hunt restarts one byte
 * after the refused 0x53 — so a noise byte that looks like a start never hides a real frame behind it.
 * A candidate still incomplete after `interByteTimeoutMs` of silence, or when the stream ends, is
 * refused the same way. Nothing is ever thrown out of the stream: refusals are counted in `stats`
 * and reported to `onDrop` (a PD answers some of them with osdp_NAK).
 *
 * Memory: one buffer of at most `maxFrameLength` plus the largest chunk written, read with an
 * offset and compacted, never `Buffer.concat` per chunk. O(n) per chunk in the common case.
 */
import { Transform, type TransformCallback, type TransformOptions } from 'node:stream';
import { systemTimers, type Timers } from '../serial/timers.ts';
import {
  CTRL_CRC16,
  CTRL_RESERVED_MASK,
  CTRL_SEQUENCE_MASK,
  minimumOsdpFrameLength,
  OSDP_DEFAULT_MAX_FRAME_LENGTH,
  OSDP_MARK,
  OSDP_REPLY_BIT,
  OSDP_START,
  OsdpFrame,
  type OsdpIntegrity,
} from './frame.ts';
import { OsdpFrameError, type OsdpFrameHeader } from './errors.ts';

/** A 8-byte frame takes 0.7 ms at 115200 and 8.3 ms at 9600: a 100 ms hole inside a frame means it was cut. */
const OSDP_INTER_BYTE_TIMEOUT_MS = 100;

export type OsdpDropReason =
  /** Bytes before a 0x53 that start nothing. */
  | 'garbage'
  /** LEN below the minimum or above `maxFrameLength`. */
  | 'length'
  /** Reserved CTRL bits set, or a check mode this parser was told not to accept. */
  | 'ctrl'
  /** CRC-16 or checksum mismatch. */
  | 'integrity'
  /** Incomplete when the line went quiet or the stream ended. */
  | 'truncated'
  /** Intact (check characters good) but its security block does not fit the frame. */
  | 'security-block';

export interface OsdpDrop {
  reason: OsdpDropReason;
  /** How many bytes were skipped (1 for a refused start byte). */
  bytes: number;
  /** Address/sequence/code when the header could be read: a PD uses them to NAK. */
  header?: OsdpFrameHeader;
  error?: Error;
}

export interface OsdpParserOptions extends TransformOptions {
  /** Largest LEN accepted; a longer LEN is taken as noise. Default `OSDP_DEFAULT_MAX_FRAME_LENGTH` (1440). */
  maxFrameLength?: number;
  /** Check modes accepted. Default both; a control panel that always sends CRC-16 may pass `['crc16']`. */
  integrity?: readonly OsdpIntegrity[];
  /** Silence after which a partial frame is abandoned; 0 = only when the stream ends. Default 100 ms. */
  interByteTimeoutMs?: number;
  /** Called for every refusal, synchronously. Must not throw (if it does, the error is counted and swallowed). */
  onDrop?: (drop: OsdpDrop) => void;
  timers?: Timers;
}

export interface OsdpParserStats {
  frames: number;
  dropped: Record<OsdpDropReason, number>;
  /** Garbage bytes skipped while hunting for 0x53 (0xFF mark bytes before a frame not counted). */
  garbageBytes: number;
  onDropErrors: number;
}

export class OsdpParser extends Transform {
  readonly stats: OsdpParserStats = {
    frames: 0,
    dropped: { garbage: 0, length: 0, ctrl: 0, integrity: 0, truncated: 0, 'security-block': 0 },
    garbageBytes: 0,
    onDropErrors: 0,
  };

  readonly #maxFrameLength: number;
  readonly #acceptCrc16: boolean;
  readonly #acceptChecksum: boolean;
  readonly #interByteTimeoutMs: number;
  readonly #onDrop: ((drop: OsdpDrop) => void) | undefined;
  readonly #timers: Timers;
  #buffer: Buffer;
  #start = 0;
  #end = 0;
  #timer: unknown;

  constructor(options: OsdpParserOptions = {}) {
    const { maxFrameLength, integrity, interByteTimeoutMs, onDrop, timers, ...transformOptions } = options;
    super({ ...transformOptions, readableObjectMode: true, writableObjectMode: false });
    this.#maxFrameLength = maxFrameLength ?? OSDP_DEFAULT_MAX_FRAME_LENGTH;
    if (
      !Number.isInteger(this.#maxFrameLength) ||
      this.#maxFrameLength < minimumOsdpFrameLength('crc16') ||
      this.#maxFrameLength > 0xffff
    ) {
      throw new TypeError(`maxFrameLength must be an integer from 8 to 65535, got ${maxFrameLength}`);
    }
    const modes = integrity ?? ['crc16', 'checksum'];
    if (modes.length === 0 || modes.some((m) => m !== 'crc16' && m !== 'checksum')) {
      throw new TypeError(`integrity must list 'crc16' and/or 'checksum', got ${JSON.stringify(integrity)}`);
    }
    this.#acceptCrc16 = modes.includes('crc16');
    this.#acceptChecksum = modes.includes('checksum');
    this.#interByteTimeoutMs = interByteTimeoutMs ?? OSDP_INTER_BYTE_TIMEOUT_MS;
    if (!Number.isFinite(this.#interByteTimeoutMs) || this.#interByteTimeoutMs < 0) {
      throw new TypeError(`interByteTimeoutMs must be ≥ 0, got ${interByteTimeoutMs}`);
    }
    this.#onDrop = onDrop;
    this.#timers = timers ?? systemTimers;
    this.#buffer = Buffer.alloc(Math.max(256, this.#maxFrameLength));
  }

  /** Bytes held while waiting for the rest of a frame. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Forgets a half-received frame (the serial port reconnected). */
  reset(): void {
    this.#clearTimer();
    if (this.#end > this.#start) this.#drop({ reason: 'truncated', bytes: this.#end - this.#start });
    this.#start = 0;
    this.#end = 0;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#clearTimer();
    this.#append(chunk);
    this.#scan(false);
    this.#armTimer();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.#clearTimer();
    this.#scan(true);
    callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#clearTimer();
    callback(err);
  }

  #append(chunk: Buffer): void {
    const held = this.#end - this.#start;
    if (this.#end + chunk.length > this.#buffer.length) {
      const needed = held + chunk.length;
      if (needed > this.#buffer.length) {
        const grown = Buffer.alloc(Math.max(needed, this.#buffer.length * 2));
        this.#buffer.copy(grown, 0, this.#start, this.#end);
        this.#buffer = grown;
      } else {
        this.#buffer.copy(this.#buffer, 0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = held;
    }
    chunk.copy(this.#buffer, this.#end);
    this.#end += chunk.length;
  }

  /**
   * Emits every complete frame held. With `final`, a candidate that cannot complete is refused
   * and the hunt continues after its start byte, until the buffer is empty.
   */
  #scan(final: boolean): void {
    const buf = this.#buffer;
    while (this.#start < this.#end) {
      const startAt = buf.indexOf(OSDP_START, this.#start);
      const found = startAt >= 0 && startAt < this.#end;
      if (!found) {
        // Keep a trailing 0xFF: it may be the mark byte of a frame whose 0x53 is in the next chunk.
        const keep = buf[this.#end - 1] === OSDP_MARK && !final ? 1 : 0;
        this.#skipGarbage(this.#end - this.#start - keep);
        if (keep === 0) {
          this.#start = 0;
          this.#end = 0;
        }
        return;
      }
      // A 0xFF right before 0x53 is that frame's mark byte, not garbage; it stays until the frame is taken.
      const marked = startAt > this.#start && buf[startAt - 1] === OSDP_MARK;
      this.#skipGarbage(startAt - this.#start - (marked ? 1 : 0));
      if (this.#tryFrameAt(startAt, marked, final) === 'wait') return;
    }
    this.#start = 0;
    this.#end = 0;
  }

  #skipGarbage(count: number): void {
    if (count <= 0) return;
    this.#start += count;
    this.stats.garbageBytes += count;
    this.#drop({ reason: 'garbage', bytes: count });
  }

  /** Looks at the candidate at `at` (a 0x53). Returns 'wait' when more bytes are needed. */
  #tryFrameAt(at: number, marked: boolean, final: boolean): 'wait' | 'next' {
    const buf = this.#buffer;
    const available = this.#end - at;
    const header = (): OsdpFrameHeader => ({
      address: buf[at + 1]! & ~OSDP_REPLY_BIT,
      isReply: (buf[at + 1]! & OSDP_REPLY_BIT) !== 0,
      sequence: buf[at + 4]! & CTRL_SEQUENCE_MASK,
    });
    if (available >= 4) {
      const length = buf[at + 2]! | (buf[at + 3]! << 8);
      if (length < minimumOsdpFrameLength('checksum') || length > this.#maxFrameLength) {
        return this.#refuseStart(at, marked, { reason: 'length', bytes: 1 });
      }
      if (available >= 5) {
        const ctrl = buf[at + 4]!;
        const crc = (ctrl & CTRL_CRC16) !== 0;
        if (ctrl & CTRL_RESERVED_MASK || (crc && !this.#acceptCrc16) || (!crc && !this.#acceptChecksum)) {
          return this.#refuseStart(at, marked, { reason: 'ctrl', bytes: 1, header: header() });
        }
        if (length < minimumOsdpFrameLength(crc ? 'crc16' : 'checksum')) {
          return this.#refuseStart(at, marked, { reason: 'length', bytes: 1, header: header() });
        }
      }
      if (available >= length) return this.#takeFrame(at, length, marked);
    }
    if (!final) return 'wait';
    return this.#refuseStart(at, marked, { reason: 'truncated', bytes: 1 });
  }

  #takeFrame(at: number, length: number, marked: boolean): 'next' {
    const bytes = this.#buffer.subarray(marked ? at - 1 : at, at + length);
    let frame: OsdpFrame;
    try {
      frame = OsdpFrame.fromBuffer(bytes);
    } catch (err) {
      if (err instanceof OsdpFrameError && err.problem === 'security-block') {
        // An intact frame (its CRC is good) with a nonsensical security block: skip it whole.
        this.#drop({ reason: 'security-block', bytes: length + (marked ? 1 : 0), header: err.header, error: err });
        this.#start = at + length;
        return 'next';
      }
      const header = err instanceof OsdpFrameError ? err.header : undefined;
      const reason: OsdpDropReason = err instanceof OsdpFrameError && err.problem !== 'start' ? err.problem : 'garbage';
      return this.#refuseStart(at, marked, { reason, bytes: 1, header, error: err as Error });
    }
    this.#start = at + length;
    this.stats.frames++;
    this.push(frame);
    return 'next';
  }

  /** Refuses the 0x53 at `at` (and its mark byte, counted with it) and resumes the hunt right after it. */
  #refuseStart(at: number, marked: boolean, drop: OsdpDrop): 'next' {
    this.#start = at + 1;
    this.#drop(marked ? { ...drop, bytes: drop.bytes + 1 } : drop);
    return 'next';
  }

  #drop(drop: OsdpDrop): void {
    this.stats.dropped[drop.reason]++;
    if (!this.#onDrop) return;
    try {
      this.#onDrop(drop);
    } catch {
      this.stats.onDropErrors++;
    }
  }

  #armTimer(): void {
    if (this.#interByteTimeoutMs === 0 || this.#end === this.#start) return;
    this.#timer = this.#timers.setTimeout(() => {
      this.#timer = undefined;
      if (!this.destroyed) this.#scan(true);
    }, this.#interByteTimeoutMs);
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
