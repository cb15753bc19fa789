/**
 * Analytics on SQLite only: its migrations and its query plans. Tracing and statistics over the
 * scenario, on both engines: analytics.integration.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import BetterSqlite3 from 'better-sqlite3';
import { ANALYTICS_MIGRATIONS, migrateAnalytics } from '../../../cloud/analytics/analytics-migrations.ts';
import { SqliteAnalyticsStore, TRACE_SQL } from '../../../cloud/analytics/analytics-store.ts';
import { RollupWriter } from '../../../cloud/analytics/rollup-writer.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import { MIN, seedScenario } from './scenario.ts';

const H = 60 * MIN;

let store: SqliteCloudStore;
let analytics: SqliteAnalyticsStore;
let writer: RollupWriter;

beforeEach(async () => {
  store = new SqliteCloudStore({ path: ':memory:' });
  writer = new RollupWriter({ db: store.db });
  writer.start();
  analytics = new SqliteAnalyticsStore(store.db);
  analytics.start();
  await seedScenario(store, writer);
});

afterEach(async () => {
  await store.close();
});

describe('analytics migrations', () => {
  it('version 2 fills the compound-wide counters from the per-gate ones', () => {
    const db = new BetterSqlite3(':memory:');
    try {
      migrateAnalytics(db, ANALYTICS_MIGRATIONS.slice(0, 1));
      const add = db.prepare(
        `INSERT INTO stats_hourly VALUES ('c', 0, ?, 'in', 'qr', 'granted', 'ok', 1, 0, 'l', 'd', ?)`,
      );
      add.run('g1', 2);
      add.run('g2', 3);
      expect(migrateAnalytics(db, ANALYTICS_MIGRATIONS.slice(0, 2))).toEqual({ before: 1, after: 2 });
      expect(db.prepare('SELECT compound_id, count FROM stats_hourly_compound').all()).toEqual([
        { compound_id: 'c', count: 5 },
      ]);
      expect(migrateAnalytics(db, ANALYTICS_MIGRATIONS.slice(0, 2))).toEqual({ before: 2, after: 2 });
    } finally {
      db.close();
    }
  });

  it('version 3 fills the daily counters and the day spans from the compound-wide hours', () => {
    const db = new BetterSqlite3(':memory:');
    try {
      migrateAnalytics(db, ANALYTICS_MIGRATIONS.slice(0, 2));
      const add = db.prepare(
        `INSERT INTO stats_hourly_compound VALUES ('c', ?, 'in', 'qr', 'granted', 'ok', 1, 0, 'l', ?, ?)`,
      );
      add.run(16 * H, '2026-03-02', 2);
      add.run(20 * H, '2026-03-02', 3);
      add.run(40 * H, '2026-03-03', 4);
      expect(migrateAnalytics(db, ANALYTICS_MIGRATIONS.slice(0, 3))).toEqual({ before: 2, after: 3 });
      expect(db.prepare('SELECT day, count FROM stats_daily_compound ORDER BY day').all()).toEqual([
        { day: '2026-03-02', count: 5 },
        { day: '2026-03-03', count: 4 },
      ]);
      expect(db.prepare('SELECT day, first_bucket, last_bucket FROM stats_day_span ORDER BY day').all()).toEqual([
        { day: '2026-03-02', first_bucket: 16 * H, last_bucket: 20 * H },
        { day: '2026-03-03', first_bucket: 40 * H, last_bucket: 40 * H },
      ]);
    } finally {
      db.close();
    }
  });
});

describe('query plans', () => {
  const plan = (sql: string) =>
    (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all('x', 0, 1) as { detail: string }[]).map((r) => r.detail);

  it('the contact scan is a range scan of events(gate_id, ts), already in order', () => {
    expect(plan(TRACE_SQL.gatePassages).join('\n')).not.toMatch(/TEMP B-TREE/);
    expect(plan(TRACE_SQL.gatePassages).join('\n')).toMatch(
      /SEARCH events USING INDEX events_by_gate_ts \(gate_id=\? AND ts>\? AND ts<\?\)/,
    );
  });

  it('contact and exposure scans are index-only range scans of events(gate_id, ts…), already in order', () => {
    const detail = plan(TRACE_SQL.gateScan).join('\n');
    expect(detail).not.toMatch(/TEMP B-TREE/);
    // Store migration 3 made events_by_gate_ts carry every column the scan reads.
    expect(detail).toMatch(/SEARCH events USING COVERING INDEX events_by_gate_ts \(gate_id=\? AND ts>\? AND ts<\?\)/);
  });

  it('masked names come from the covering residents index, one query for the whole list', async () => {
    const detail = (
      store.db.prepare(`EXPLAIN QUERY PLAN ${TRACE_SQL.maskedNames}`).all('[]') as { detail: string }[]
    ).map((r) => r.detail);
    expect(detail.join('\n')).toMatch(/SEARCH residents USING COVERING INDEX residents_masked_names \(person_id=\?\)/);
    expect(await analytics.maskedNames(['idx', 'nobody', 'e', 'idx'])).toEqual(
      new Map([
        ['idx', '张*明'],
        ['e', '孙*奶'],
      ]),
    );
    expect(await analytics.maskedNames([])).toEqual(new Map());
  });

  it("a person's timeline is a range scan of events(person_id, ts)", () => {
    expect(plan(TRACE_SQL.personPassages).join('\n')).toMatch(
      /SEARCH events USING INDEX events_by_person_ts \(person_id=\? AND ts>\? AND ts<\?\)/,
    );
  });
});
