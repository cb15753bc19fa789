/**
 * Every statement the SQLite cloud runs on `events` reads it through an index: each statement
 * prepared on the connection while the store, the statistics writer, the trace reads and the
 * resident side are set up and used is recorded, and its `EXPLAIN QUERY PLAN` must not scan the
 * table. `events` has no per-compound index (store migration 8) and no index on ts alone
 * (migration 2); this is where a query that needed one would show.
 */
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteAnalyticsStore } from '../../../cloud/analytics/analytics-store.ts';
import { RollupWriter } from '../../../cloud/analytics/rollup-writer.ts';
import { SqliteResidentSideStore } from '../../../cloud/me/sqlite-resident-side-store.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import { entryEvent } from '../fixtures.ts';

const prepared = new Set<string>();
const originalPrepare = BetterSqlite3.prototype.prepare;
let store: SqliteCloudStore;

beforeAll(async () => {
  BetterSqlite3.prototype.prepare = function (this: BetterSqlite3.Database, sql: string) {
    prepared.add(sql);
    return originalPrepare.call(this, sql);
  } as typeof originalPrepare;
  store = new SqliteCloudStore({ path: ':memory:' });
  await store.createCompound({ id: 'c-a', name: 'A', timeZone: 'Asia/Shanghai' }, 1);
  await store.createGate({ id: 'g-a1', compoundId: 'c-a', name: 'g', antiPassback: false }, 1);
  const writer = new RollupWriter({ db: store.db });
  writer.start();
  new SqliteAnalyticsStore(store.db).start();
  new SqliteResidentSideStore(store.db);
  const event = (seq: number) => ({ ...entryEvent('g-a1', seq), compoundId: 'c-a', receivedAt: seq });
  await store.insertEvents([event(1), event(3)], writer);
  await store.insertEvents([event(2)], writer); // fills a gap: the ack walks over stored seqs
  writer.rebuild();
  for (const query of [
    {},
    { compoundId: 'c-a' },
    { compoundId: 'c-a', result: 'denied' as const },
    { compoundId: 'c-a', from: 0, to: 10 },
    { gateId: 'g-a1' },
    { personId: 'p-1', compoundId: 'c-a', from: 0, to: 10 },
  ]) {
    const first = await store.queryEvents({ ...query, limit: 1 });
    if (first.nextCursor) await store.queryEvents({ ...query, limit: 1, cursor: first.nextCursor });
  }
  await store.purgeBefore(Date.now(), 100);
});

afterAll(async () => {
  BetterSqlite3.prototype.prepare = originalPrepare;
  await store.close();
});

/** The plan of `sql`, every parameter bound to null. */
function plan(sql: string): string {
  const parameters = sql.match(/\?/g)?.length ?? 0;
  const explain = originalPrepare.call(store.db, `EXPLAIN QUERY PLAN ${sql}`) as BetterSqlite3.Statement<unknown[]>;
  const rows = explain.all(...new Array<null>(parameters).fill(null));
  return (rows as { detail: string }[]).map((r) => r.detail).join('\n');
}

const onEvents = () => [...prepared].filter((sql) => /\b(FROM|JOIN|INTO|UPDATE)\s+events\b/i.test(sql));

describe('statements on events', () => {
  it('were all seen: the list, trace, statistics, resident, retention and ack statements', () => {
    const all = onEvents().join('\n');
    for (const part of [
      'ORDER BY ts DESC, id DESC',
      'WHERE person_id = ? AND ts BETWEEN',
      'WHERE gate_id = ? AND ts BETWEEN',
      'JOIN events e',
      'DELETE FROM events',
      'WHERE gate_id = ? AND seq > ?',
      'WHERE id > ? ORDER BY id',
    ]) {
      expect(all).toContain(part);
    }
  });

  it('none scans the table', () => {
    const scans = onEvents()
      .filter((sql) => !/^\s*INSERT INTO events\b/i.test(sql))
      .map((sql) => ({ sql, plan: plan(sql) }))
      .filter(({ plan }) => /\bSCAN (events|e)\b(?! USING)/.test(plan));
    expect(scans).toEqual([]);
  });

  it("a compound's list reads each gate's newest rows over events_by_gate_ts", () => {
    const perGate = onEvents().find((sql) => /WHERE gate_id = \? AND compound_id = \?\s+ORDER BY ts DESC/.test(sql));
    expect(perGate).toBeDefined();
    expect(plan(perGate!)).toMatch(/SEARCH events USING INDEX events_by_gate_ts \(gate_id=\?\)/);
  });

  it("a resident's own passages read events_by_person_ts", () => {
    const own = onEvents().find((sql) => /person_id = \?.*ORDER BY ts DESC/s.test(sql));
    expect(own).toBeDefined();
    expect(plan(own!)).toMatch(/SEARCH events USING INDEX events_by_person_ts \(person_id=\? AND ts>\? AND ts<\?\)/);
  });
});
