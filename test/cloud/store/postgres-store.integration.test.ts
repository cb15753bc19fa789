/**
 * What only the PostgreSQL store does (the contract itself runs on every backend in
 * store.integration.test.ts): month partitions made on demand and dropped whole by retention,
 * the indexes, one migration across instances starting together, and exactly-once ingest with
 * the ack computed in the database when two instances take the same gates' batches at once.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { listPartitions, monthOf } from '../../../cloud/store/postgres/pg-partitions.ts';
import { PostgresCloudStore } from '../../../cloud/store/postgres/postgres-store.ts';
import type { StoredEvent } from '../../../cloud/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../../testkit/postgres.ts';
import { entryEvent } from '../fixtures.ts';

const NOV = Date.UTC(2026, 10, 15);
const DEC = Date.UTC(2026, 11, 2);

const event = (gateId: string, seq: number, ts: number): StoredEvent => ({
  ...entryEvent(gateId, seq, { ts }),
  compoundId: 'c-1',
  receivedAt: ts + 5,
});

async function rows<T extends pg.QueryResultRow>(db: TestDatabase, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('PostgresCloudStore', () => {
  let db: TestDatabase;
  const stores: PostgresCloudStore[] = [];
  const open = async () => {
    const store = await PostgresCloudStore.open({ url: db.url, max: 4 });
    stores.push(store);
    return store;
  };
  beforeEach(async () => {
    db = await createTestDatabase('pgstore');
  });
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    await db.drop();
  });

  it('migrates once when several instances start together, events partitioned by month with the indexes', async () => {
    const [a] = await Promise.all([open(), open(), open()]);
    expect(await rows(db, 'SELECT version FROM schema_migrations ORDER BY version')).toEqual([
      { version: 1 },
      { version: 2 },
    ]);
    const [parent] = await rows<{ strategy: string; key: string }>(
      db,
      `SELECT partstrat AS strategy, pg_get_partkeydef('events'::regclass) AS key FROM pg_partitioned_table
       WHERE partrelid = 'events'::regclass`,
    );
    expect(parent).toEqual({ strategy: 'r', key: 'RANGE (ts)' });
    const indexes = await rows<{ name: string; def: string }>(
      db,
      "SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE tablename = 'events' ORDER BY indexname",
    );
    expect(indexes.map((i) => i.name)).toEqual([
      'events_by_compound_ts',
      'events_by_gate_ts',
      'events_by_person_ts',
      'events_by_ts_brin',
      'events_gate_id_seq_ts_key',
    ]);
    expect(indexes.find((i) => i.name === 'events_by_gate_ts')?.def).toMatch(
      /\(gate_id, ts, id\) INCLUDE \(person_id, result, passed, method, direction, seq\)/,
    );
    await a!.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
  });

  it('creates the month partitions ingest needs, and retention drops whole months', async () => {
    const store = await open();
    await store.insertEvents([event('g-1', 1, NOV), event('g-1', 2, NOV + 1), event('g-1', 3, DEC)]);
    const names = (await listPartitions(store.pool)).map((p) => p.name);
    expect(names).toEqual([monthOf(NOV).name, monthOf(DEC).name]);
    expect(names).toEqual(['events_p2026_11', 'events_p2026_12']);
    // All of November is older than this; December only partly: its old rows go row by row.
    const before = DEC + 1;
    expect(await store.purgeBefore(before, 100)).toBe(3);
    expect((await listPartitions(store.pool)).map((p) => p.name)).toEqual(['events_p2026_12']);
    expect((await store.queryEvents({ limit: 10 })).events).toEqual([]);
    // The ack mark survives retention: a replay of a purged passage is not taken for a gap.
    expect(await store.ackedUpTo('g-1')).toBe(3);
  });

  it('recreates a month another instance’s retention dropped meanwhile', async () => {
    const a = await open();
    const b = await open();
    await a.insertEvents([event('g-1', 1, NOV)]);
    expect(await b.purgeBefore(DEC, 100)).toBe(1);
    // a still believes in November's partition; the insert finds it gone, makes it again and succeeds.
    const late = await a.insertEvents([event('g-1', 2, NOV + 10)]);
    expect(late.inserted.map((e) => e.seq)).toEqual([2]);
    expect(late.acks.get('g-1')).toBe(2);
  });

  it('reports a batch stored but unacked when its marks cannot be moved after the COMMIT; the resend moves them', async () => {
    const store = await open();
    const lost = new Error('connection terminated');
    // The database goes away between the COMMIT and the marks: the first statement after it fails.
    const query = store.pool.query.bind(store.pool);
    const spy = vi
      .spyOn(store.pool, 'query')
      .mockImplementation(((config: unknown, ...rest: unknown[]) =>
        (config as { name?: string }).name === 'anxin_advance_acks'
          ? Promise.reject(lost)
          : (query as (...a: unknown[]) => unknown)(config, ...rest)) as typeof store.pool.query);
    const first = await store.insertEvents([event('g-1', 1, DEC), event('g-1', 2, DEC + 1)]);
    spy.mockRestore();
    expect(first.inserted.map((e) => e.seq)).toEqual([1, 2]);
    expect(first.acks.size).toBe(0);
    expect(first.ackError).toBe(lost);
    expect(await store.ackedUpTo('g-1')).toBe(0);
    // The gate, unacked, resends: its copies are skipped and the mark moves over them.
    const resend = await store.insertEvents([event('g-1', 1, DEC), event('g-1', 2, DEC + 1)]);
    expect(resend.inserted).toEqual([]);
    expect(resend.acks.get('g-1')).toBe(2);
    expect(resend.ackError).toBeUndefined();
    expect(await store.ackedUpTo('g-1')).toBe(2);
  });

  it('keeps (gateId, seq) unique across months: a replay with another ts is a duplicate', async () => {
    const store = await open();
    await store.insertEvents([event('g-1', 1, NOV)]);
    const replay = await store.insertEvents([event('g-1', 1, DEC), event('g-1', 2, DEC), event('g-1', 2, DEC + 1)]);
    expect(replay.inserted.map((e) => [e.seq, e.ts])).toEqual([[2, DEC]]);
    expect((await store.queryEvents({ limit: 10 })).events.map((e) => [e.seq, e.ts])).toEqual([
      [2, DEC],
      [1, NOV],
    ]);
  });

  it('stores each passage once and acks from the database when two instances ingest the same gates at once', async () => {
    const a = await open();
    const b = await open();
    const gates = ['g-1', 'g-2', 'g-3'];
    const all = gates.flatMap((g) => Array.from({ length: 300 }, (_, i) => event(g, i + 1, DEC + i)));
    // Overlapping batches in different orders, as after a reconnect moved gates between instances.
    const batches = Array.from({ length: 12 }, (_, k) =>
      all.filter((_, i) => (i + k) % 3 !== 0).slice(k * 40, k * 40 + 400),
    );
    // Instance b's copies carry another ts, so only the per-gate lock (not the unique index on
    // (gate_id, seq, ts)) keeps them out.
    const results = await Promise.all(
      batches.map((batch, k) =>
        k % 2 ? a.insertEvents(batch) : b.insertEvents(batch.map((e) => ({ ...e, ts: e.ts + 7 }))),
      ),
    );
    await a.insertEvents(all);
    const inserted = results.flatMap((r) => r.inserted);
    const keys = inserted.map((e) => `${e.gateId}/${e.seq}`);
    expect(new Set(keys).size).toBe(keys.length);
    const [count] = await rows<{ n: string; distinct: string }>(
      db,
      'SELECT count(*) AS n, count(DISTINCT (gate_id, seq)) AS distinct FROM events',
    );
    expect(count).toEqual({ n: '900', distinct: '900' });
    for (const g of gates) {
      expect(await a.ackedUpTo(g)).toBe(300);
      expect(await b.ackedUpTo(g)).toBe(300);
    }
    // Every mark a batch reported was true when it committed: never beyond what was stored.
    for (const r of results) for (const mark of r.acks.values()) expect(mark).toBeLessThanOrEqual(300);
  });
});
