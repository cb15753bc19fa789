/**
 * What tracing and statistics read, on PostgreSQL: the trace reads of `events`
 * (cloud/store/postgres/pg-trace-reads.ts) and the statistics from the rollup tables
 * (pg-analytics-migrations.ts), with SQLite's answers (analytics-store.ts): the same sums in SQL,
 * rows in the same order (the key columns are `COLLATE "C"`, SQLite's byte order), whole local
 * days read from the daily counters when that is exact (`daysInside`).
 * test/cloud/store/differential.integration.test.ts holds the two engines to the same statistics.
 */
import type pg from 'pg';
import type { Direction, Method, Reason, Result } from '../../shared/enums.ts';
import { type Logger, silentLogger } from '../../shared/log.ts';
import { type Queryable, run, statement } from '../store/postgres/pg-pool.ts';
import { PgTraceReads } from '../store/postgres/pg-trace-reads.ts';
import { type AnalyticsStore, daysInside } from './analytics-store.ts';
import type { ScanRange } from './contacts.ts';
import type { GatePassage, Passage } from './passage.ts';
import { analyticsReady } from './pg-rollup-fill.ts';
import type { GateRow, HourlyPoint, HourlyRow, OutcomeTotal, PeakHour } from './summary.ts';

const OUTCOME = 'direction, method, result, reason, crossed, elderly';
/** The longest local day (a DST fall-back day has 25 hours) plus margin, to bound a scan by bucket start. */
const LONGEST_DAY_MS = 27 * 3_600_000;

interface OutcomeRow {
  direction: Direction;
  method: Method;
  result: Result;
  reason: Reason;
  crossed: boolean;
  elderly: boolean;
  count: number;
}
type Window = [compoundId: string, from: number, to: number];

const S = {
  hourlyRows: statement<Window, OutcomeRow & { bucket_start: number; label: string; day: string }>(
    'stats_hourly_rows',
    `SELECT bucket_start, label, day, ${OUTCOME}, count FROM stats_hourly_compound
     WHERE compound_id = $1 AND bucket_start >= $2 AND bucket_start < $3 ORDER BY bucket_start, ${OUTCOME}`,
  ),
  outcomeTotals: statement<Window, OutcomeRow>(
    'stats_outcome_totals',
    `SELECT ${OUTCOME}, SUM(count) AS count FROM stats_hourly_compound
     WHERE compound_id = $1 AND bucket_start >= $2 AND bucket_start < $3 GROUP BY ${OUTCOME} ORDER BY ${OUTCOME}`,
  ),
  daySpans: statement<[string], { day: string; first_bucket: number; last_bucket: number }>(
    'stats_day_spans',
    'SELECT day, first_bucket, last_bucket FROM stats_day_span WHERE compound_id = $1 ORDER BY day',
  ),
  outcomeTotalsByDays: statement<[string, string, string, number, number, number, number], OutcomeRow>(
    'stats_outcome_totals_by_days',
    `SELECT ${OUTCOME}, SUM(count) AS count FROM (
       SELECT ${OUTCOME}, count FROM stats_daily_compound WHERE compound_id = $1 AND day BETWEEN $2 AND $3
       UNION ALL
       SELECT ${OUTCOME}, count FROM stats_hourly_compound
        WHERE compound_id = $1 AND bucket_start >= $4 AND bucket_start < $5
       UNION ALL
       SELECT ${OUTCOME}, count FROM stats_hourly_compound
        WHERE compound_id = $1 AND bucket_start >= $6 AND bucket_start < $7) s
     GROUP BY ${OUTCOME} ORDER BY ${OUTCOME}`,
  ),
  hourTotals: statement<
    Window,
    {
      bucket_start: number;
      label: string;
      other_label: string;
      crossings_in: number;
      crossings_out: number;
      granted: number;
      denied: number;
    }
  >(
    'stats_hour_totals',
    `SELECT bucket_start, MIN(label) AS label, MAX(label) AS other_label,
       SUM(CASE WHEN crossed AND direction = 'in' THEN count ELSE 0 END) AS crossings_in,
       SUM(CASE WHEN crossed AND direction <> 'in' THEN count ELSE 0 END) AS crossings_out,
       SUM(CASE WHEN result = 'granted' THEN count ELSE 0 END) AS granted,
       SUM(CASE WHEN result = 'granted' THEN 0 ELSE count END) AS denied
     FROM stats_hourly_compound WHERE compound_id = $1 AND bucket_start >= $2 AND bucket_start < $3
     GROUP BY bucket_start ORDER BY bucket_start`,
  ),
  peakHour: statement<Window, { bucket_start: number; crossings: number }>(
    'stats_peak_hour',
    `SELECT bucket_start, SUM(count) AS crossings FROM stats_hourly_compound
     WHERE compound_id = $1 AND bucket_start >= $2 AND bucket_start < $3 AND crossed
     GROUP BY bucket_start ORDER BY crossings DESC, bucket_start LIMIT 1`,
  ),
  // The label of an hour's first row in key order, as the JS fold takes it.
  firstLabel: statement<[string, number, boolean], { label: string }>(
    'stats_first_label',
    `SELECT label FROM stats_hourly_compound WHERE compound_id = $1 AND bucket_start = $2 AND crossed >= $3
     ORDER BY ${OUTCOME} LIMIT 1`,
  ),
  gateRows: statement<Window, Omit<OutcomeRow, 'elderly'> & { gate_id: string }>(
    'stats_gate_rows',
    `SELECT gate_id, direction, method, result, reason, crossed, SUM(count) AS count FROM stats_hourly
     WHERE compound_id = $1 AND bucket_start >= $2 AND bucket_start < $3
     GROUP BY gate_id, direction, method, result, reason, crossed
     ORDER BY gate_id, direction, method, result, reason, crossed`,
  ),
  personsPerDay: statement<[string, string, string], { day: string; persons: number }>(
    'stats_persons_per_day',
    `SELECT day, persons FROM stats_daily WHERE compound_id = $1 AND day >= $2 AND day <= $3 AND persons > 0
     ORDER BY day`,
  ),
  netDaysBefore: statement<[string, string], { net: number }>(
    'stats_net_days_before',
    'SELECT COALESCE(SUM(crossed_in - crossed_out), 0) AS net FROM stats_daily WHERE compound_id = $1 AND day < $2',
  ),
  netHoursOfDayBefore: statement<[string, number, number, string], { net: number }>(
    'stats_net_hours_before',
    `SELECT COALESCE(SUM(CASE direction WHEN 'in' THEN count ELSE -count END), 0) AS net FROM stats_hourly_compound
     WHERE compound_id = $1 AND bucket_start >= $2 AND bucket_start < $3 AND day = $4 AND crossed`,
  ),
};

const outcomeOf = (r: OutcomeRow) => ({
  direction: r.direction,
  method: r.method,
  result: r.result,
  reason: r.reason,
  crossed: r.crossed,
  elderly: r.elderly,
  count: Number(r.count),
});

export class PgAnalyticsStore implements AnalyticsStore {
  private readonly trace: PgTraceReads;
  private readonly log: Logger;

  constructor(
    private readonly pool: pg.Pool,
    logger: Logger = silentLogger,
  ) {
    this.trace = new PgTraceReads(pool);
    this.log = logger.child({ component: 'cloud.analytics' });
  }

  /** The pool, once the rollup tables exist and hold the past. */
  private async db(): Promise<Queryable> {
    await analyticsReady(this.pool, this.log);
    return this.pool;
  }

  personPassages(personId: string, from: number, to: number): Promise<Passage[]> {
    return this.trace.personPassages(personId, from, to);
  }
  gatePassages(gateId: string, from: number, to: number): Promise<Passage[]> {
    return this.trace.gatePassages(gateId, from, to);
  }
  gateScan(gateId: string, from: number, to: number): Promise<GatePassage[]> {
    return this.trace.gateScan(gateId, from, to);
  }
  gateScans(ranges: readonly ScanRange[]): Promise<GatePassage[]> {
    return this.trace.gateScans(ranges);
  }
  maskedNames(personIds: readonly string[]): Promise<Map<string, string>> {
    return this.trace.maskedNames(personIds);
  }

  async hourlyRows(compoundId: string, from: number, to: number): Promise<HourlyRow[]> {
    const { rows } = await run(await this.db(), S.hourlyRows, [compoundId, from, to]);
    return rows.map((r) => ({ bucketStart: r.bucket_start, label: r.label, day: r.day, ...outcomeOf(r) }));
  }

  /** Whole local days from the daily counters when exact, the hours around them from the hourly ones (as on SQLite). */
  async outcomeTotals(compoundId: string, from: number, to: number): Promise<OutcomeTotal[]> {
    const db = await this.db();
    const days = daysInside((await run(db, S.daySpans, [compoundId])).rows, from, to);
    const { rows } = days
      ? await run(db, S.outcomeTotalsByDays, [
          compoundId,
          days.firstDay,
          days.lastDay,
          from,
          days.daysFrom,
          days.daysTo,
          to,
        ])
      : await run(db, S.outcomeTotals, [compoundId, from, to]);
    return rows.map(outcomeOf);
  }

  async hourTotals(compoundId: string, from: number, to: number): Promise<HourlyPoint[]> {
    const db = await this.db();
    const { rows } = await run(db, S.hourTotals, [compoundId, from, to]);
    const points: HourlyPoint[] = [];
    for (const r of rows) {
      points.push({
        start: r.bucket_start,
        label: r.label === r.other_label ? r.label : await this.firstLabel(db, compoundId, r.bucket_start, false),
        crossingsIn: Number(r.crossings_in),
        crossingsOut: Number(r.crossings_out),
        granted: Number(r.granted),
        denied: Number(r.denied),
      });
    }
    return points;
  }

  async peakHour(compoundId: string, from: number, to: number): Promise<PeakHour | null> {
    const db = await this.db();
    const row = (await run(db, S.peakHour, [compoundId, from, to])).rows[0];
    if (!row) return null;
    const start = row.bucket_start;
    return { start, label: await this.firstLabel(db, compoundId, start, true), crossings: Number(row.crossings) };
  }

  private async firstLabel(db: Queryable, compoundId: string, bucketStart: number, crossedOnly: boolean) {
    return (await run(db, S.firstLabel, [compoundId, bucketStart, crossedOnly])).rows[0]!.label;
  }

  async gateRows(compoundId: string, from: number, to: number): Promise<GateRow[]> {
    const { rows } = await run(await this.db(), S.gateRows, [compoundId, from, to]);
    return rows.map((r) => ({
      gateId: r.gate_id,
      direction: r.direction,
      method: r.method,
      result: r.result,
      reason: r.reason,
      crossed: r.crossed,
      count: Number(r.count),
    }));
  }

  async personsPerDay(compoundId: string, fromDay: string, toDay: string): Promise<{ day: string; persons: number }[]> {
    const { rows } = await run(await this.db(), S.personsPerDay, [compoundId, fromDay, toDay]);
    return rows.map((r) => ({ day: r.day, persons: Number(r.persons) }));
  }

  async netCrossingsBefore(compoundId: string, day: string, hourStart: number): Promise<number> {
    const db = await this.db();
    const days = (await run(db, S.netDaysBefore, [compoundId, day])).rows[0]!.net;
    const hours = (await run(db, S.netHoursOfDayBefore, [compoundId, hourStart - LONGEST_DAY_MS, hourStart, day]))
      .rows[0]!.net;
    return Number(days) + Number(hours);
  }
}
