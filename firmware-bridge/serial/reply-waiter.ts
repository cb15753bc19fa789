/**
 * Request/response over a serial line: a caller sends a request, then waits for the first incoming
 * message that matches a predicate, or fails with a named timeout (zigbee-herdsman's "waitress").
 * Matching is first-come: a message resolves at most one waiter, the oldest that accepts it.
 */
import { ReplyCancelledError, ReplyTimeoutError } from './errors.ts';
import { systemTimers, type Timers } from './timers.ts';

interface PendingWait<T> {
  predicate: (message: T) => boolean;
  resolve: (message: T) => void;
  reject: (err: Error) => void;
  timer: unknown;
}

export class ReplyWaiter<T> {
  readonly #timers: Timers;
  readonly #pending: PendingWait<T>[] = [];

  constructor(timers: Timers = systemTimers) {
    this.#timers = timers;
  }

  /** How many waits are outstanding. */
  get pending(): number {
    return this.#pending.length;
  }

  /** Resolves with the first offered message accepted by `predicate`; rejects with `ReplyTimeoutError` naming `what`. */
  waitFor<U extends T>(predicate: (message: T) => message is U, timeoutMs: number, what: string): Promise<U>;
  waitFor(predicate: (message: T) => boolean, timeoutMs: number, what: string): Promise<T>;
  waitFor(predicate: (message: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new TypeError(`timeoutMs must be a non-negative number, got ${timeoutMs}`);
    }
    return new Promise<T>((resolve, reject) => {
      const wait: PendingWait<T> = {
        predicate,
        resolve,
        reject,
        timer: this.#timers.setTimeout(() => {
          this.#remove(wait);
          reject(new ReplyTimeoutError(what, timeoutMs));
        }, timeoutMs),
      };
      this.#pending.push(wait);
    });
  }

  /** Hands a message to the oldest matching waiter. Returns whether one took it. A throwing predicate counts as no match. */
  offer(message: T): boolean {
    for (const wait of this.#pending) {
      let matches = false;
      try {
        matches = wait.predicate(message);
      } catch {
        matches = false;
      }
      if (matches) {
        this.#remove(wait);
        this.#timers.clearTimeout(wait.timer);
        wait.resolve(message);
        return true;
      }
    }
    return false;
  }

  /** Rejects every outstanding wait (the line closed, the component stopped). */
  cancelAll(err: Error = new ReplyCancelledError('cancelled')): void {
    const waits = this.#pending.splice(0);
    for (const wait of waits) {
      this.#timers.clearTimeout(wait.timer);
      wait.reject(err);
    }
  }

  #remove(wait: PendingWait<T>): void {
    const index = this.#pending.indexOf(wait);
    if (index >= 0) this.#pending.splice(index, 1);
  }
}
