/**
 * One budget for the bytes the broker has read from its clients and aedes has not taken yet, across
 * every connection (docs/deploy.md, "Limits per connection"). What is counted is what holding them
 * costs: each held chunk's bytes plus `HELD_CHUNK_OVERHEAD_BYTES` (below), so many tiny reads fill
 * it as their memory does, not as their bytes do.
 *
 * Each connection's guard reads up to `maxUnreadBytes` (2 MiB) ahead of aedes, so the PINGREQs of a
 * gate held back behind a full cloud are still answered (broker/connection-guard.ts, "Keepalive").
 * That bounds one connection, not the broker: a thousand connections could each hold 2 MiB. The
 * budget bounds the sum. A connection that would hold more while the budget is used up stops
 * reading its socket (`pause`) — backpressure onto that client over TCP, never a drop, never a
 * disconnect — and waits in line; as aedes takes bytes and the budget frees, the connections waiting
 * resume in the order they stopped. Like the per-connection limit it is checked before the next
 * read, so the sum exceeds the budget by at most one socket read (≤ 64 KiB, plus its per-chunk
 * charge) per connection reading at that moment. Every stop is counted (`unreadBudgetWaits`), the sum is a gauge
 * (`unreadBytes`, and its high-water mark `unreadPeakBytes`).
 *
 * The default follows the fleet the broker expects: a gate keeps at most `journal.maxInFlight` (4)
 * messages in flight, so what one holds unread is a few batches — `UNREAD_BYTES_PER_GATE` each.
 */

/**
 * What holding one chunk costs beyond its bytes, charged for every chunk a guard holds unread, to its
 * own `maxUnreadBytes` and to the budget alike (`heldCost`). A socket read is one Buffer — a JS
 * object, its ArrayBuffer and a native backing store — whatever its length, so a client sending its
 * stream as 1-byte TCP segments made the guard hold one such object per byte: a limit on bytes
 * alone bounded the bytes, not the memory (2 MiB of 1-byte reads: ~2 GiB). Measured
 * with `process.memoryUsage()` after `gc()`, holding every chunk of a socket fed one byte per segment
 * in lock-step (`node --expose-gc bench/held-chunk-cost.mjs`, Node 20.20): 614–1013 bytes of RSS per
 * held chunk (150 000 to 20 000 chunks; ~200 of it JS heap, the rest the native backing store and
 * allocator), rounded up to 1 KiB. A chunk of a gate's 64 KiB socket read pays 1.6 % on top.
 */
export const HELD_CHUNK_OVERHEAD_BYTES = 1024;

/** What holding `chunk` unread costs: its bytes and the per-chunk floor. */
export function heldCost(chunk: Buffer): number {
  return chunk.length + HELD_CHUNK_OVERHEAD_BYTES;
}

/** What one gate is expected to have unread at most: 4 messages in flight of up to 128 KiB. */
export const UNREAD_BYTES_PER_GATE = 512 * 1024;
/** The fleet the default budget is sized for (`--expected-gates`). */
export const DEFAULT_EXPECTED_GATES = 256;
/**
 * What a connection resumed from the line is assumed to read before it checks again: one socket
 * read. Only as many as the free budget holds are resumed at once, not the whole line.
 */
const ONE_READ_BYTES = 64 * 1024;

/** The budget for `expectedGates` gates (never below one connection's own limit, or it could never fill that). */
export function defaultUnreadBudget(expectedGates: number, maxUnreadBytes: number): number {
  return Math.max(expectedGates * UNREAD_BYTES_PER_GATE, maxUnreadBytes);
}

export class UnreadBudget {
  #used = 0;
  #peak = 0;
  /** Connections stopped for the budget, in the order they stopped (a Set keeps insertion order). */
  readonly #waiting = new Set<() => void>();

  constructor(
    readonly limit: number,
    private readonly onWait: () => void = () => {},
  ) {}

  /** What is held read from clients that aedes has not taken yet, across every connection (`heldCost` each chunk). */
  get used(): number {
    return this.#used;
  }

  /** The most `used` has been since start: what sizing the budget needs to know. */
  get peak(): number {
    return this.#peak;
  }

  /** No connection may read ahead of aedes now. */
  get full(): boolean {
    return this.#used >= this.limit;
  }

  take(bytes: number): void {
    this.#used += bytes;
    if (this.#used > this.#peak) this.#peak = this.#used;
  }

  /** aedes took `bytes` (or their connection is gone): connections in line resume as far as the room allows. */
  give(bytes: number): void {
    this.#used -= bytes;
    let room = this.limit - this.#used;
    for (const resume of this.#waiting) {
      if (room <= 0) break;
      this.#waiting.delete(resume);
      room -= ONE_READ_BYTES;
      resume();
    }
  }

  /** A connection stopped reading for the budget; `resume` is called once when its turn comes. */
  wait(resume: () => void): void {
    if (this.#waiting.has(resume)) return;
    this.#waiting.add(resume);
    this.onWait();
  }

  /** The connection no longer waits (it resumed on its own, or closed). */
  leave(resume: () => void): void {
    this.#waiting.delete(resume);
  }
}
