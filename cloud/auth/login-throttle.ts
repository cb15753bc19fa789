/**
 * Login throttling (docs/security.md, "Login throttling"): failed sign-ins are counted per
 * username and per client address. After a few free failures each further one doubles a lock-out
 * (1 s, 2 s, 4 s … at most 15 min) during which every attempt on that key is answered 429 with
 * `Retry-After`, before any password is checked. Unknown usernames are counted exactly like known
 * ones, so the throttle does not tell which names exist. A success clears the username's count;
 * an address's count fades when it stops failing. Kept in memory, bounded: a restart forgets.
 */

export const FREE_FAILURES_PER_USER = 5;
export const FREE_FAILURES_PER_ADDRESS = 20;
const FIRST_LOCK_MS = 1000;
export const MAX_LOCK_MS = 15 * 60 * 1000;
/** A key with no failure for this long is forgotten. */
const FORGET_AFTER_MS = 60 * 60 * 1000;
const MAX_KEYS = 50_000;

interface Entry {
  failures: number;
  lastFailure: number;
  lockedUntil: number;
}

export type ThrottleVerdict = { ok: true } | { ok: false; retryAfterMs: number; key: 'username' | 'address' };

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly now: () => number) {}

  /** Whether an attempt for `username` from `address` may be checked now. */
  check(username: string, address: string): ThrottleVerdict {
    const now = this.now();
    for (const [kind, key] of [
      ['username', `u:${username}`],
      ['address', `a:${address}`],
    ] as const) {
      const entry = this.entries.get(key);
      if (entry && entry.lockedUntil > now) return { ok: false, retryAfterMs: entry.lockedUntil - now, key: kind };
    }
    return { ok: true };
  }

  /** Counts a failure; returns the keys that became locked by it. */
  failed(username: string, address: string): { username: number; address: number } {
    return {
      username: this.count(`u:${username}`, FREE_FAILURES_PER_USER),
      address: this.count(`a:${address}`, FREE_FAILURES_PER_ADDRESS),
    };
  }

  succeeded(username: string): void {
    this.entries.delete(`u:${username}`);
  }

  /** Adds a failure; returns the lock (ms) it set, 0 while failures are still free. */
  private count(key: string, free: number): number {
    const now = this.now();
    let entry = this.entries.get(key);
    if (entry && now - entry.lastFailure > FORGET_AFTER_MS) entry = undefined;
    if (!entry) {
      if (this.entries.size >= MAX_KEYS) this.evict(now);
      entry = { failures: 0, lastFailure: now, lockedUntil: 0 };
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    entry.failures += 1;
    entry.lastFailure = now;
    if (entry.failures <= free) return 0;
    const lock = Math.min(MAX_LOCK_MS, FIRST_LOCK_MS * 2 ** Math.min(30, entry.failures - free - 1));
    entry.lockedUntil = now + lock;
    return lock;
  }

  /** Drops forgotten keys, then the least recently failed ones, to stay within MAX_KEYS. */
  private evict(now: number): void {
    for (const [key, entry] of this.entries) {
      if (now - entry.lastFailure > FORGET_AFTER_MS && entry.lockedUntil <= now) this.entries.delete(key);
    }
    while (this.entries.size >= MAX_KEYS) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }
}
