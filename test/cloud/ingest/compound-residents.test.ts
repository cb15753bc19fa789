/**
 * Admission's held compound sets (cloud/ingest/compound-residents.ts): what a read that fails, or a
 * compound too big to hold, costs afterwards — one read per hold, not one per message — and the
 * refresh-ahead: a reload never holds a message (the old set is served while a deliberately slow
 * read runs), one read per compound at a time, a failed reload keeps the old set and is retried,
 * and no set is served past its staleness bound; a retry is counted from the failure, however long
 * the read took. Time is a logical clock (the `now` passed in is the module's clock); reads are
 * promises the test settles.
 */
import { describe, expect, it } from 'vitest';
import { CompoundResidents } from '../../../cloud/ingest/compound-residents.ts';
import { silentLogger } from '../../../shared/log.ts';

const MAX_AGE_MS = 60_000;
/** The defaults: 3 × maxAgeMs, maxAgeMs / 6. */
const MAX_STALE_MS = 3 * MAX_AGE_MS;
const RETRY_MS = MAX_AGE_MS / 6;

/** A read the test settles. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets a settled read's continuations run. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

/**
 * The module under a logical clock: `held.of(c, t)` moves the clock to `t` first (the caller's clock
 * and the module's are one, as in admission); `clock.t` moves it alone, e.g. while a read runs.
 */
function residents(read: (compoundId: string, limit: number) => Promise<string[] | undefined>, maxTotal = 100) {
  let reads = 0;
  const clock = { t: 0 };
  const module = new CompoundResidents({
    personIdsOfCompound: (compoundId, limit) => {
      reads += 1;
      return read(compoundId, limit);
    },
    maxAgeMs: MAX_AGE_MS,
    maxPerCompound: 3,
    maxTotal,
    now: () => clock.t,
    logger: silentLogger,
  });
  const held = {
    of(compoundId: string, t: number) {
      clock.t = t;
      return module.of(compoundId, t);
    },
  };
  return { held, clock, reads: () => reads };
}

describe('CompoundResidents', () => {
  it('holds a set for maxAgeMs, then reads it again', async () => {
    const { held, reads } = residents(async () => ['p-1', 'p-2']);
    expect([...((await held.of('c-1', 0)) ?? [])]).toEqual(['p-1', 'p-2']);
    expect(held.of('c-1', MAX_AGE_MS - 1)).toBeInstanceOf(Set);
    expect(reads()).toBe(1);
    expect(held.of('c-1', MAX_AGE_MS)).toBeInstanceOf(Set);
    expect(reads()).toBe(2);
  });

  it('a failed first read is held as "one by one" for maxAgeMs: no read per message while the database is in trouble', async () => {
    const { held, reads } = residents(async () => {
      throw new Error('connection refused');
    });
    expect(await held.of('c-1', 0)).toBeUndefined();
    for (let t = 1; t < 100; t++) expect(held.of('c-1', t)).toBeUndefined();
    expect(reads()).toBe(1);
    // Read again in the background: one by one meanwhile, which is always right.
    expect(held.of('c-1', MAX_AGE_MS)).toBeUndefined();
    expect(reads()).toBe(2);
  });

  it('a compound too big to hold is read again only after ten times maxAgeMs', async () => {
    const { held, reads } = residents(async (_compoundId, limit) => (limit >= 3 ? undefined : []));
    expect(await held.of('c-1', 0)).toBeUndefined();
    expect(held.of('c-1', 10 * MAX_AGE_MS - 1)).toBeUndefined();
    expect(reads()).toBe(1);
    expect(held.of('c-1', 10 * MAX_AGE_MS)).toBeUndefined();
    expect(reads()).toBe(2);
  });

  it('a reload holds no message: the old set is served while a slow read runs, one read at a time, then replaced', async () => {
    const slow = deferred<string[]>();
    let call = 0;
    const { held, reads } = residents(async () => (++call === 1 ? ['p-1', 'p-2'] : slow.promise));
    await held.of('c-1', 0);
    for (let t = MAX_AGE_MS; t < MAX_AGE_MS + 100; t++) {
      const now = held.of('c-1', t);
      expect(now).toBeInstanceOf(Set);
      expect([...(now as Set<string>)]).toEqual(['p-1', 'p-2']);
    }
    expect(reads()).toBe(2);
    slow.resolve(['p-1', 'p-3']);
    await settled();
    expect([...(held.of('c-1', MAX_AGE_MS + 100) as Set<string>)]).toEqual(['p-1', 'p-3']);
    // Current again from when its read began: no further read within maxAgeMs of that.
    expect(held.of('c-1', 2 * MAX_AGE_MS - 1)).toBeInstanceOf(Set);
    expect(reads()).toBe(2);
  });

  it('a failed reload keeps the old set and is tried again retryMs later', async () => {
    let call = 0;
    const { held, reads } = residents(async () => {
      call += 1;
      if (call === 1) return ['p-1'];
      if (call === 4) return ['p-2'];
      throw new Error('database is locked');
    });
    await held.of('c-1', 0);
    expect([...(held.of('c-1', MAX_AGE_MS) as Set<string>)]).toEqual(['p-1']);
    await settled();
    expect(reads()).toBe(2);
    // The old set, no read per message until the retry is due.
    for (let t = MAX_AGE_MS + 1; t < MAX_AGE_MS + RETRY_MS; t += 1000) {
      expect([...(held.of('c-1', t) as Set<string>)]).toEqual(['p-1']);
    }
    expect(reads()).toBe(2);
    expect([...(held.of('c-1', MAX_AGE_MS + RETRY_MS) as Set<string>)]).toEqual(['p-1']);
    await settled();
    expect(reads()).toBe(3);
    expect(held.of('c-1', MAX_AGE_MS + 2 * RETRY_MS)).toBeInstanceOf(Set);
    await settled();
    expect(reads()).toBe(4);
    expect([...(held.of('c-1', MAX_AGE_MS + 2 * RETRY_MS + 1) as Set<string>)]).toEqual(['p-2']);
  });

  it('a reload failing after more than retryMs (a statement timeout) is retried retryMs after the failure, not at once', async () => {
    const slow = deferred<string[]>();
    let call = 0;
    const { held, clock, reads } = residents(async () => (++call === 1 ? ['p-1'] : slow.promise));
    await held.of('c-1', 0);
    expect(held.of('c-1', MAX_AGE_MS)).toBeInstanceOf(Set);
    expect(reads()).toBe(2);
    // The read hangs for 3 × retryMs of logical time, then fails.
    const failedAt = MAX_AGE_MS + 3 * RETRY_MS;
    clock.t = failedAt;
    slow.reject(new Error('canceling statement due to statement timeout'));
    await settled();
    for (let t = failedAt; t < failedAt + RETRY_MS; t += 1000) {
      expect([...(held.of('c-1', t) as Set<string>)]).toEqual(['p-1']);
    }
    expect(reads()).toBe(2);
    expect(held.of('c-1', failedAt + RETRY_MS)).toBeInstanceOf(Set);
    expect(reads()).toBe(3);
  });

  it('a first read failing late is held as "one by one" for maxAgeMs from the failure', async () => {
    const slow = deferred<string[]>();
    const { held, clock, reads } = residents(() => slow.promise);
    const first = held.of('c-1', 0);
    const failedAt = 2 * MAX_AGE_MS;
    clock.t = failedAt;
    slow.reject(new Error('connection timeout'));
    expect(await first).toBeUndefined();
    expect(held.of('c-1', failedAt + MAX_AGE_MS - 1)).toBeUndefined();
    expect(reads()).toBe(1);
    expect(held.of('c-1', failedAt + MAX_AGE_MS)).toBeUndefined();
    expect(reads()).toBe(2);
  });

  it('no set is served past maxStaleMs after its read began: the message waits for the read, and a failed one means one by one', async () => {
    let call = 0;
    const { held, reads } = residents(async () => {
      call += 1;
      if (call === 1) return ['p-removed'];
      throw new Error('connection refused');
    });
    await held.of('c-1', 0);
    for (let t = MAX_AGE_MS; t < MAX_STALE_MS; t += RETRY_MS) {
      expect(held.of('c-1', t)).toBeInstanceOf(Set);
      await settled();
    }
    const due = held.of('c-1', MAX_STALE_MS);
    expect(due).toBeInstanceOf(Promise);
    // The old list is gone: its persons are looked up one by one (a removed one is refused).
    expect(await due).toBeUndefined();
    expect(held.of('c-1', MAX_STALE_MS + 1)).toBeUndefined();
    expect(reads()).toBeGreaterThan(2);
  });

  it('past maxStaleMs a slow read is waited for, and its set replaces the old one', async () => {
    const slow = deferred<string[]>();
    let call = 0;
    const { held, reads } = residents(async () => (++call === 1 ? ['p-1'] : slow.promise));
    await held.of('c-1', 0);
    expect(held.of('c-1', MAX_AGE_MS)).toBeInstanceOf(Set);
    // The same read, still running, is what a message past the bound waits for: not a second one.
    const waiting = held.of('c-1', MAX_STALE_MS);
    expect(waiting).toBeInstanceOf(Promise);
    expect(reads()).toBe(2);
    slow.resolve(['p-2']);
    expect([...((await waiting) as Set<string>)]).toEqual(['p-2']);
  });

  it('past maxTotal a further compound is looked up one by one; no current set is evicted and read again', async () => {
    const { held, reads } = residents(async (compoundId) => [`${compoundId}-a`, `${compoundId}-b`], 4);
    await held.of('c-1', 0);
    await held.of('c-2', 0);
    expect(await held.of('c-3', 0)).toBeUndefined();
    for (let t = 1; t < 100; t++) {
      for (const c of ['c-1', 'c-2']) expect(held.of(c, t)).toBeInstanceOf(Set);
      expect(held.of('c-3', t)).toBeUndefined();
    }
    expect(reads()).toBe(3);
  });
});
