/**
 * Ingest by two cloud instances on one PostgreSQL at once (cloud/store/postgres/pg-events.ts):
 * two `PostgresCloudStore`s, each with its own pool, write batches of the same gate while a third
 * session holds that gate's ingest lock — so both batches have written their rows and wait for the
 * lock together, the interleaving a scale-out deployment meets when a gate's messages alternate
 * between instances. Released, they settle one after the other: every seq stored once, the ack
 * mark over both, and a seq the two sent with different times (a gate that reused a seq) stored
 * once — the batch that settles second sees the first and takes its own copy out, however many
 * other batches keep doing so to it.
 * Batches of different seqs of the same gates lock different keys and do not wait on each other;
 * their marks, moved after COMMIT from committed rows, never cover a seq not yet committed.
 * Waits on the database's own state (pg_stat_activity), never on time.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MAX_SEQ_LOCKS } from '../../../cloud/store/postgres/pg-events.ts';
import { PostgresCloudStore } from '../../../cloud/store/postgres/postgres-store.ts';
import type { PgIngestHook, StoredEvent } from '../../../cloud/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../../testkit/postgres.ts';
import { EVENTS_T0, entryEvent, resident } from '../fixtures.ts';

let db: TestDatabase;
let a: PostgresCloudStore;
let b: PostgresCloudStore;
let admin: pg.Client;
const SWARM = ['s-1', 's-2', 's-3', 's-4', 's-5'];

const event = (gateId: string, seq: number, ts = EVENTS_T0 + seq * 1000): StoredEvent => ({
  ...entryEvent(gateId, seq, { personId: 'p-1', ts }),
  compoundId: 'c-1',
  receivedAt: Date.now(),
});

beforeAll(async () => {
  db = await createTestDatabase('ingest_instances');
  [a, b] = await Promise.all([
    PostgresCloudStore.open({ url: db.url, max: 3 }),
    PostgresCloudStore.open({ url: db.url, max: 3 }),
  ]);
  await a.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
  for (const id of ['g-1', 'g-2', 'g-3', 'g-4', 'g-5', 'g-6', 'g-7', 'g-8', ...SWARM])
    await a.createGate({ id, compoundId: 'c-1', name: id, antiPassback: false }, 1);
  await a.upsertResidents([resident('p-1', 'c-1')]);
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
});
afterAll(async () => {
  await admin?.end();
  await a?.close();
  await b?.close();
  await db?.drop();
});

/** Runs `writes` while `gateId`'s ingest lock is held elsewhere; releases it once they all wait for it. */
async function meetingAtTheLock<T>(gateId: string, writes: () => Promise<T>[]): Promise<T[]> {
  const lock = `hashtextextended('ingest:${gateId}', 0)`;
  await admin.query(`SELECT pg_advisory_lock(${lock})`);
  let pending: Promise<T[]>;
  try {
    const started = writes();
    pending = Promise.all(started);
    pending.catch(() => undefined);
    // Every write blocked on the lock: polled at an interval (not back to back, which would take
    // the database's CPU from the writes it waits for), and bounded, saying what it waited for.
    await vi.waitFor(
      async () => {
        const { rows } = await admin.query<{ n: number }>(
          `SELECT COUNT(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
        );
        expect(rows[0]!.n, 'writes waiting on the gate lock').toBeGreaterThanOrEqual(started.length);
      },
      { timeout: 60_000, interval: 20 },
    );
  } finally {
    await admin.query(`SELECT pg_advisory_unlock(${lock})`);
  }
  return pending;
}

const storedOf = async (gateId: string) =>
  (
    await admin.query<{ seq: number; ts: string }>('SELECT seq, ts FROM events WHERE gate_id = $1 ORDER BY seq, ts', [
      gateId,
    ])
  ).rows.map((r) => ({ seq: Number(r.seq), ts: Number(r.ts) }));

describe('two instances writing one gate at once', () => {
  it('store each seq once and ack over both batches, whichever settles first', async () => {
    const [first, second] = await meetingAtTheLock('g-1', () => [
      a.insertEvents([event('g-1', 1), event('g-1', 3)]),
      b.insertEvents([event('g-1', 2), event('g-1', 4)]),
    ]);
    expect([...first!.inserted, ...second!.inserted].map((e) => e.seq).sort()).toEqual([1, 2, 3, 4]);
    // The batch that settled second saw the first one's seqs: its mark covers all four.
    expect(Math.max(first!.acks.get('g-1')!, second!.acks.get('g-1')!)).toBe(4);
    expect(await a.ackedUpTo('g-1')).toBe(4);
    expect((await storedOf('g-1')).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
  });

  it('store a seq sent twice with different times once: the batch that settles second takes its copy out', async () => {
    const [first, second] = await meetingAtTheLock('g-2', () => [
      a.insertEvents([event('g-2', 1, EVENTS_T0 + 1000)]),
      b.insertEvents([event('g-2', 1, EVENTS_T0 + 5000), event('g-2', 2)]),
    ]);
    const rows = await storedOf('g-2');
    expect(rows.map((r) => r.seq)).toEqual([1, 2]);
    // Exactly one of the two passages under seq 1 was stored, and reported stored by its batch only.
    const one = [...first!.inserted, ...second!.inserted].filter((e) => e.seq === 1);
    expect(one).toHaveLength(1);
    expect(rows[0]!.ts).toBe(one[0]!.ts);
    // The one taken out is reported with both times, for ingest to log and count (`seq-clash`).
    const clashes = [...(first!.clashes ?? []), ...(second!.clashes ?? [])];
    const other = one[0]!.ts === EVENTS_T0 + 1000 ? EVENTS_T0 + 5000 : EVENTS_T0 + 1000;
    expect(clashes).toEqual([{ gateId: 'g-2', seq: 1, storedTs: one[0]!.ts, droppedTs: other }]);
    expect(await b.ackedUpTo('g-2')).toBe(2);
    expect(second!.acks.get('g-2')).toBe(2);
  });

  it('store a batch whose seqs other batches keep settling first with other times, however often', async () => {
    // Before each try of b's batch (`prepare`), a batch on a stores one of its seqs with another
    // time and holds that seq's lock, inside its transaction, until b's batch waits for it: b's
    // batch then finds that copy committed first, every try, on another seq each time (as with
    // many batches of the same gates at once). It used to roll back and try again, and fail at the
    // third; it keeps the copies committed first and stores the rest once.
    const contested = [1, 2, 3, 4];
    const rivals: ReturnType<typeof a.insertEvents>[] = [];
    const waitingForLock = async () => {
      const { rows } = await admin.query<{ n: number }>(
        `SELECT COUNT(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
      );
      expect(rows[0]!.n, "b's batch waiting on the rival's seq lock").toBeGreaterThanOrEqual(1);
    };
    const rivalFirst: PgIngestHook = {
      engine: 'postgres',
      async prepare() {
        const seq = contested[rivals.length];
        if (seq === undefined) return;
        let holding!: () => void;
        const held = new Promise<void>((resolve) => {
          holding = resolve;
        });
        const rival = a.insertEvents([event('g-8', seq, EVENTS_T0 + seq * 1000)], {
          engine: 'postgres',
          async onStored() {
            holding();
            await vi.waitFor(waitingForLock, { timeout: 60_000, interval: 20 });
          },
        });
        rival.catch(() => undefined);
        rivals.push(rival);
        await held;
      },
      async onStored() {},
    };
    const later = [...contested, 5].map((seq) => event('g-8', seq, EVENTS_T0 + seq * 1000 + 7));
    const batch = await b.insertEvents(later, rivalFirst);
    const rivalsStored = (await Promise.all(rivals)).flatMap((r) => r.inserted);
    // Each seq stored once: the rivals' copies where they settled first, b's for the rest.
    const rows = await storedOf('g-8');
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    const reported = [...rivalsStored, ...batch.inserted].sort((x, y) => x.seq - y.seq);
    expect(reported.map((e) => ({ seq: e.seq, ts: e.ts }))).toEqual(rows);
    expect(rivalsStored.length).toBeGreaterThanOrEqual(1);
    expect(await b.ackedUpTo('g-8')).toBe(5);
  });

  it('numbers a batch in its own order (ties in time list as sent), whatever order its rows are written in', async () => {
    const ts = EVENTS_T0 + 60_000;
    await a.insertEvents([event('g-3', 3, ts), event('g-3', 1, ts), event('g-3', 2, ts)]);
    const { rows } = await admin.query<{ seq: string }>("SELECT seq FROM events WHERE gate_id = 'g-3' ORDER BY id");
    expect(rows.map((r) => Number(r.seq))).toEqual([3, 1, 2]);
  });

  it('lets a batch of other seqs of the same gates commit while one waits, and acks only committed seqs', async () => {
    const held = "hashtextextended('ingest-seq:g-4', 1)";
    await admin.query(`SELECT pg_advisory_lock(${held})`);
    let waiting: ReturnType<typeof a.insertEvents> | undefined;
    try {
      waiting = a.insertEvents([event('g-4', 1), event('g-5', 1), event('g-4', 3), event('g-5', 3)]);
      waiting.catch(() => undefined);
      // b's batch of the same two gates commits while a's waits on seq 1's lock.
      const other = await b.insertEvents([event('g-4', 2), event('g-5', 2), event('g-4', 4), event('g-5', 4)]);
      expect(other.inserted.map((e) => e.seq)).toEqual([2, 2, 4, 4]);
      // Seq 1 of both gates is not committed: no mark moves over it.
      expect(other.acks.get('g-4')).toBe(0);
      expect(other.acks.get('g-5')).toBe(0);
      expect(await b.ackedUpTo('g-4')).toBe(0);
    } finally {
      await admin.query(`SELECT pg_advisory_unlock(${held})`);
    }
    const first = await waiting!;
    // Read after both commits, a's marks cover both batches.
    expect(first.acks.get('g-4')).toBe(4);
    expect(first.acks.get('g-5')).toBe(4);
    expect(await b.ackedUpTo('g-5')).toBe(4);
    expect((await storedOf('g-4')).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
  });

  it('store every seq once and end on the full mark when two stores ingest interleaved seqs at once', async () => {
    const seqs = 120;
    const batches: [PostgresCloudStore, StoredEvent[]][] = [];
    // Seq n of every gate goes to a or b as n's bits say (runs and alternations), in batches of
    // 12 rows across the five gates; every fifth batch is sent again to the other store (a resend).
    for (let from = 1; from <= seqs; from += 12) {
      const toA: StoredEvent[] = [];
      const toB: StoredEvent[] = [];
      for (let seq = from; seq < from + 12; seq++)
        for (const gateId of SWARM) ((seq * 7) % 5 < 2 ? toA : toB).push(event(gateId, seq));
      batches.push([a, toA], [b, toB]);
      if (from % 5 === 1) batches.push([b, toA]);
    }
    const results = await Promise.all(batches.map(([store, rows]) => store.insertEvents(rows)));
    const counted = new Map<string, number>();
    for (const r of results)
      for (const e of r.inserted) counted.set(`${e.gateId}/${e.seq}`, (counted.get(`${e.gateId}/${e.seq}`) ?? 0) + 1);
    expect(counted.size).toBe(SWARM.length * seqs);
    expect([...counted.values()].every((n) => n === 1)).toBe(true);
    for (const gateId of SWARM) {
      expect((await storedOf(gateId)).map((r) => r.seq)).toEqual(Array.from({ length: seqs }, (_, i) => i + 1));
      expect(await a.ackedUpTo(gateId)).toBe(seqs);
      expect(Math.max(...results.map((r) => r.acks.get(gateId) ?? 0))).toBe(seqs);
    }
  });

  it('keeps a seq once between a drain batch (gate locks) and a live batch (seq locks) of the same gate', async () => {
    const big = MAX_SEQ_LOCKS + 88;
    const clash = 300;
    const [drained, live] = await meetingAtTheLock('g-6', () => [
      a.insertEvents(Array.from({ length: big }, (_, i) => event('g-6', i + 1))),
      b.insertEvents([event('g-6', clash, EVENTS_T0 + 7), event('g-6', big + 1)]),
    ]);
    const rows = await storedOf('g-6');
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: big + 1 }, (_, i) => i + 1));
    const once = [...drained!.inserted, ...live!.inserted].filter((e) => e.seq === clash);
    expect(once).toHaveLength(1);
    expect(rows[clash - 1]!.ts).toBe(once[0]!.ts);
    expect(Math.max(drained!.acks.get('g-6')!, live!.acks.get('g-6')!)).toBe(big + 1);
    expect(await a.ackedUpTo('g-6')).toBe(big + 1);
  });
});

describe('the locks of a batch past MAX_SEQ_LOCKS', () => {
  it('lock only the gates with the most seqs whole; the others shared, with a lock per new seq', async () => {
    const heavy = Array.from({ length: MAX_SEQ_LOCKS + 1 }, (_, i) => event('g-7', i + 1));
    const light = [event('s-1', 1000), event('s-2', 1000), event('s-2', 1001)];
    let held: { key: string; mode: string }[] = [];
    // Inside the ingest transaction, after its locks: what this backend holds.
    const hook: PgIngestHook = {
      engine: 'postgres',
      async onStored(_events, _compoundOf, client) {
        const { rows } = await client.query<{ key: string; mode: string }>(
          `SELECT ((classid::int8 << 32) | objid::int8)::text AS key, mode FROM pg_locks
           WHERE locktype = 'advisory' AND pid = pg_backend_pid()`,
        );
        held = rows;
      },
    };
    const result = await a.insertEvents([...light, ...heavy], hook);
    expect(result.inserted).toHaveLength(light.length + heavy.length);
    const keyOf = async (name: string, n: number) =>
      (await admin.query<{ k: string }>('SELECT hashtextextended($1, $2)::text AS k', [name, n])).rows[0]!.k;
    const modes = new Map(held.map((h) => [h.key, h.mode]));
    expect(modes.get(await keyOf('ingest:g-7', 0))).toBe('ExclusiveLock');
    expect(modes.get(await keyOf('ingest:s-1', 0))).toBe('ShareLock');
    expect(modes.get(await keyOf('ingest:s-2', 0))).toBe('ShareLock');
    for (const e of light) expect(modes.get(await keyOf(`ingest-seq:${e.gateId}`, e.seq))).toBe('ExclusiveLock');
    // Three gate locks and one lock per seq of the light gates: none per seq of the heavy one.
    expect(held).toHaveLength(3 + light.length);
  });
});
