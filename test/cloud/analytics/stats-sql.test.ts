/**
 * The statistics aggregate the rollup counters in SQL (analytics-store.ts `outcomeTotals`,
 * `hourTotals`, `peakHour`); the JS folds over the hourly rows (summary.ts) are the reference they
 * must equal exactly, on random counters — including an hour whose rows carry two labels (a
 * compound whose time zone changed while it was counted) and a second compound that must not leak.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANALYTICS_MIGRATIONS } from '../../../cloud/analytics/analytics-migrations.ts';
import { daysInside, SqliteAnalyticsStore } from '../../../cloud/analytics/analytics-store.ts';
import { RollupWriter } from '../../../cloud/analytics/rollup-writer.ts';
import { statsSummary } from '../../../cloud/analytics/statistics.ts';
import {
  type HourlyRow,
  hourlySeries,
  hourlySeriesOfTotals,
  hourTotalsOf,
  outcomeTotalsOf,
  peakHourOf,
  summarize,
  summarizeTotals,
} from '../../../cloud/analytics/summary.ts';
import type { LocalHour } from '../../../cloud/analytics/time-zone.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import type { StoredEvent } from '../../../cloud/store/store.ts';
import { DIRECTIONS, METHODS, REASONS, RESULTS } from '../../../shared/enums.ts';
import { seedRegistry } from './scenario.ts';

const H = 3_600_000;
const HOURS = 12;

let store: SqliteCloudStore;
let analytics: SqliteAnalyticsStore;

beforeAll(() => {
  store = new SqliteCloudStore({ path: ':memory:' });
  analytics = new SqliteAnalyticsStore(store.db);
  analytics.start();
});

afterAll(async () => {
  await store.close();
});

const counter = fc.record({
  compoundId: fc.constantFrom('c1', 'c2'),
  hour: fc.integer({ min: 0, max: HOURS - 1 }),
  direction: fc.constantFrom(...DIRECTIONS),
  method: fc.constantFrom(...METHODS),
  result: fc.constantFrom(...RESULTS),
  reason: fc.constantFrom(...REASONS.slice(0, 4)),
  crossed: fc.boolean(),
  elderly: fc.boolean(),
  /** Mostly the hour's own label; sometimes another zone's label for the same instant. */
  otherLabel: fc.nat({ max: 9 }).map((n) => n === 0),
  count: fc.integer({ min: 1, max: 1_000 }),
});

type Counter = typeof counter extends fc.Arbitrary<infer T> ? T : never;

function load(counters: readonly Counter[]): void {
  const add = store.db.prepare(`INSERT INTO stats_hourly_compound
    (compound_id, bucket_start, direction, method, result, reason, crossed, elderly, label, day, count)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (compound_id, bucket_start, direction, method, result, reason, crossed, elderly)
    DO UPDATE SET count = count + excluded.count`);
  store.db.transaction(() => {
    store.db.exec('DELETE FROM stats_hourly_compound');
    for (const c of counters) {
      const label = c.otherLabel ? `h${c.hour}+09:00` : `h${c.hour}+08:00`;
      // Days of four hours; a counter of "another zone" is labelled with the day two hours later.
      const day = `d${String(Math.floor((c.hour + (c.otherLabel ? 2 : 0)) / 4)).padStart(2, '0')}`;
      add.run(
        c.compoundId,
        c.hour * H,
        c.direction,
        c.method,
        c.result,
        c.reason,
        c.crossed ? 1 : 0,
        c.elderly ? 1 : 0,
        label,
        day,
        c.count,
      );
    }
    // The daily counters and spans as analytics migration 3 derives them from the hourly ones.
    store.db.exec(`DELETE FROM stats_daily_compound; DELETE FROM stats_day_span;
      INSERT INTO stats_daily_compound SELECT compound_id, day, direction, method, result, reason, crossed, elderly,
        SUM(count) FROM stats_hourly_compound GROUP BY compound_id, day, direction, method, result, reason, crossed, elderly;
      INSERT INTO stats_day_span SELECT compound_id, day, MIN(bucket_start), MAX(bucket_start) FROM stats_hourly_compound
        GROUP BY compound_id, day;`);
  })();
}

const sortedTotals = <T extends object>(list: T[]) =>
  list.map((t) => JSON.stringify(t)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

describe('statistics aggregated in SQL', () => {
  it('equal the JS folds over the hourly rows, for any counters and window', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(counter, { maxLength: 120 }),
        fc.integer({ min: 0, max: HOURS }),
        fc.integer({ min: 0, max: HOURS }),
        fc.uniqueArray(fc.integer({ min: 0, max: HOURS + 2 }), { maxLength: HOURS + 2 }),
        async (counters, a, b, listed) => {
          load(counters);
          const from = Math.min(a, b) * H;
          const to = Math.max(a, b) * H;
          const rows: HourlyRow[] = await analytics.hourlyRows('c1', from, to);

          expect(sortedTotals(await analytics.outcomeTotals('c1', from, to))).toEqual(
            sortedTotals(outcomeTotalsOf(rows)),
          );
          expect(await analytics.hourTotals('c1', from, to)).toEqual(hourTotalsOf(rows));
          expect(await analytics.peakHour('c1', from, to)).toEqual(peakHourOf(rows));

          const summaryInput = { uniquePersonsPerDay: [{ day: 'd', persons: 3 }], netBefore: 7 };
          const viaSql = summarizeTotals({
            ...summaryInput,
            totals: await analytics.outcomeTotals('c1', from, to),
            peakHour: await analytics.peakHour('c1', from, to),
          });
          expect(JSON.stringify(viaSql)).toBe(JSON.stringify(summarize({ ...summaryInput, rows })));

          const hours: LocalHour[] = [...listed]
            .sort((x, y) => x - y)
            .map((h) => ({ start: h * H, label: `listed ${h}`, day: 'd' }));
          expect(hourlySeriesOfTotals(hours, await analytics.hourTotals('c1', from, to))).toEqual(
            hourlySeries(hours, rows),
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it('whole days inside the window stand in for their hours only when that is exact', () => {
    const span = (day: string, first: number, last: number) => ({ day, first_bucket: first, last_bucket: last });
    const days = [span('d1', 0, 3 * H), span('d2', 4 * H, 7 * H), span('d3', 8 * H, 11 * H)];
    expect(daysInside(days, 0, 12 * H)).toEqual({ firstDay: 'd1', lastDay: 'd3', daysFrom: 0, daysTo: 11 * H + 1 });
    expect(daysInside(days, 1 * H, 11 * H)).toEqual({
      firstDay: 'd2',
      lastDay: 'd2',
      daysFrom: 4 * H,
      daysTo: 7 * H + 1,
    });
    expect(daysInside(days, 1 * H, 7 * H)).toBeNull();
    // d2 counted partly in another zone: its span reaches into d3's, so d3 alone cannot stand in.
    expect(daysInside([days[0]!, span('d2', 4 * H, 9 * H), days[2]!], 8 * H, 12 * H)).toBeNull();
    // A day labelled between two inside days but lying outside the window breaks the run.
    expect(daysInside([days[0]!, span('d2', 4 * H, 30 * H), days[2]!], 0, 12 * H)).toBeNull();
  });
});

const DAY = 24 * H;
const BASE = Date.parse('2026-10-28T00:00:00Z');
const GATES = [
  ['sunny-east', 'sunny'],
  ['sunny-west', 'sunny'],
  ['liberty-main', 'liberty'],
] as const;

const passage = fc.record({
  gate: fc.nat({ max: GATES.length - 1 }),
  ts: fc.integer({ min: BASE, max: BASE + 8 * DAY }),
  direction: fc.constantFrom(...DIRECTIONS),
  method: fc.constantFrom(...METHODS),
  result: fc.constantFrom(...RESULTS),
  reason: fc.constantFrom('ok', 'free-passage', 'health-red'),
  passed: fc.constantFrom(true, false, null),
  person: fc.constantFrom('idx', 'e', 'a', 'ny1', undefined),
});

describe('statistics over the daily counters kept at ingest', () => {
  it('answer exactly what the JS fold over the hourly rows answers, across DST and time-zone changes', async () => {
    let daysUsed = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(passage, { maxLength: 40 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.constantFrom('Asia/Shanghai', 'Asia/Kolkata', 'America/New_York', 'Pacific/Kiritimati'), {
          minLength: 4,
          maxLength: 4,
        }),
        fc.array(fc.tuple(fc.integer({ min: BASE - DAY, max: BASE + 9 * DAY }), fc.nat({ max: 9 * DAY })), {
          minLength: 1,
          maxLength: 4,
        }),
        async (batches, zones, windows) => {
          const db = new SqliteCloudStore({ path: ':memory:' });
          try {
            const writer = new RollupWriter({ db: db.db });
            writer.start();
            const sql = new SqliteAnalyticsStore(db.db);
            sql.start();
            await seedRegistry(db);
            let seq = 0;
            for (const [i, batch] of batches.entries()) {
              // An operator changes the compound's zone between batches: later hours use the new one.
              db.db.prepare('UPDATE compounds SET time_zone = ? WHERE id = ?').run(zones[i]!, 'sunny');
              const events: StoredEvent[] = batch.map((p) => {
                const [gateId, compoundId] = GATES[p.gate]!;
                seq += 1;
                return {
                  gateId,
                  seq,
                  compoundId,
                  ts: p.ts,
                  direction: p.direction,
                  method: p.method,
                  result: p.result,
                  reason: p.reason,
                  ...(p.person ? { personId: p.person } : {}),
                  health: 'green',
                  mode: 'normal',
                  passed: p.passed,
                  decisionMs: 1,
                  receivedAt: p.ts,
                };
              });
              await db.insertEvents(events, writer);
            }
            // The counters kept batch by batch equal the ones migration 3 derives from the hours.
            const derived = `SELECT compound_id, day, direction, method, result, reason, crossed, elderly, SUM(count) AS count
              FROM stats_hourly_compound GROUP BY compound_id, day, direction, method, result, reason, crossed, elderly`;
            const kept = 'SELECT * FROM stats_daily_compound ORDER BY 1, 2, 3, 4, 5, 6, 7, 8';
            expect(db.db.prepare(kept).all()).toEqual(
              db.db.prepare(`${derived} ORDER BY 1, 2, 3, 4, 5, 6, 7, 8`).all(),
            );
            expect(db.db.prepare('SELECT * FROM stats_day_span ORDER BY 1, 2').all()).toEqual(
              db.db
                .prepare(`SELECT compound_id, day, MIN(bucket_start) AS first_bucket, MAX(bucket_start) AS last_bucket
                  FROM stats_hourly_compound GROUP BY compound_id, day ORDER BY 1, 2`)
                .all(),
            );

            const deps = { analytics: sql, registry: db, now: () => BASE + 9 * DAY };
            for (const compoundId of ['sunny', 'liberty']) {
              for (const [from, length] of windows) {
                const s = await statsSummary(deps, compoundId, from, from + length);
                const spans = db.db
                  .prepare(
                    'SELECT day, first_bucket, last_bucket FROM stats_day_span WHERE compound_id = ? ORDER BY day',
                  )
                  .all(compoundId) as Parameters<typeof daysInside>[0];
                if (daysInside(spans, s.from, s.to)) daysUsed += 1;
                const rows = await sql.hourlyRows(compoundId, s.from, s.to);
                const { compoundId: _c, timeZone: _z, from: _f, to: _t, fromLabel: _fl, toLabel: _tl, ...summary } = s;
                const reference = summarize({
                  rows,
                  uniquePersonsPerDay: s.uniquePersonsPerDay,
                  netBefore: s.occupancy.estimate - s.occupancy.netChange,
                });
                expect(JSON.stringify(summary)).toBe(JSON.stringify(reference));
              }
            }
          } finally {
            await db.close();
          }
        },
      ),
      { numRuns: 60 },
    );
    // The property must have exercised the daily path, not only the all-hours fallback.
    expect(daysUsed).toBeGreaterThan(20);
  });

  it("a passage in an hour first counted under another zone adds to that hour's day, not the new zone's", async () => {
    // Found by the property above: 15:00 UTC is 23:00 on the 30th in Shanghai, 05:00 on the 31st
    // in Kiritimati. The hour's row keeps the 30th; its daily counter must too.
    const db = new SqliteCloudStore({ path: ':memory:' });
    try {
      const writer = new RollupWriter({ db: db.db });
      writer.start();
      await seedRegistry(db);
      const ts = Date.parse('2026-10-30T15:00:00Z');
      const event = (seq: number): StoredEvent => ({
        gateId: 'sunny-east',
        seq,
        compoundId: 'sunny',
        ts,
        direction: 'in',
        method: 'card',
        result: 'denied',
        reason: 'health-red',
        health: 'green',
        mode: 'normal',
        passed: true,
        decisionMs: 1,
        receivedAt: ts,
      });
      const zone = (z: string) => db.db.prepare('UPDATE compounds SET time_zone = ? WHERE id = ?').run(z, 'sunny');
      zone('Asia/Shanghai');
      await db.insertEvents([event(1)], writer);
      zone('Pacific/Kiritimati');
      await db.insertEvents([event(2)], writer);
      const days = () =>
        db.db.prepare("SELECT day, count FROM stats_daily_compound WHERE compound_id = 'sunny'").all() as unknown[];
      const spans = () =>
        db.db.prepare("SELECT day, first_bucket, last_bucket FROM stats_day_span WHERE compound_id = 'sunny'").all();
      expect(days()).toEqual([{ day: '2026-10-30', count: 2 }]);
      const hour = db.db.prepare('SELECT bucket_start FROM stats_hourly_compound').get() as { bucket_start: number };
      expect(spans()).toEqual([{ day: '2026-10-30', first_bucket: hour.bucket_start, last_bucket: hour.bucket_start }]);

      // A database the old writer drifted is repaired by analytics migration 5.
      db.db.exec(`UPDATE stats_daily_compound SET count = 1;
        INSERT INTO stats_daily_compound SELECT compound_id, '2026-10-31', direction, method, result, reason,
          crossed, elderly, 1 FROM stats_daily_compound;
        INSERT INTO stats_day_span SELECT compound_id, '2026-10-31', first_bucket, last_bucket FROM stats_day_span;`);
      // Migration 5's repair, run again (later migrations leave these tables alone).
      db.db.exec(ANALYTICS_MIGRATIONS.find((m) => m.version === 5)!.sql);
      expect(days()).toEqual([{ day: '2026-10-30', count: 2 }]);
      expect(spans()).toHaveLength(1);
    } finally {
      await db.close();
    }
  });

  it('an hour counted under two labels keeps the label of its first row in key order', async () => {
    load([
      {
        compoundId: 'c1',
        hour: 3,
        direction: 'in',
        method: 'qr',
        result: 'granted',
        reason: 'ok',
        crossed: false,
        elderly: false,
        otherLabel: true,
        count: 1,
      },
      {
        compoundId: 'c1',
        hour: 3,
        direction: 'out',
        method: 'qr',
        result: 'granted',
        reason: 'ok',
        crossed: true,
        elderly: false,
        otherLabel: false,
        count: 2,
      },
    ]);
    expect((await analytics.hourTotals('c1', 0, HOURS * H)).map((h) => h.label)).toEqual(['h3+09:00']);
    // The peak hour's label is the one of its first crossed row.
    expect(await analytics.peakHour('c1', 0, HOURS * H)).toEqual({ start: 3 * H, label: 'h3+08:00', crossings: 2 });
  });
});
