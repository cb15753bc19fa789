/**
 * What tracing and statistics read from the store, and its SQLite implementation. The query
 * shapes and their plans are in docs/tracing.md; a PostgreSQL store implements the same interface
 * with the same indexes.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { Direction, HealthColour, Method, Reason, Result } from '../../shared/enums.ts';
import type { ScanRange } from './contacts.ts';
import type { GatePassage, Passage } from './passage.ts';
import { installAnalytics } from './rollup-writer.ts';
import type { GateRow, HourlyPoint, HourlyRow, OutcomeTotal, PeakHour } from './summary.ts';

export interface AnalyticsStore {
  /** The person's events with `from ≤ ts ≤ to`, oldest first. Index: events(person_id, ts). */
  personPassages(personId: string, from: number, to: number): Promise<Passage[]>;
  /** Every event at the gate with `from ≤ ts ≤ to`, oldest first. Index: events(gate_id, ts). */
  gatePassages(gateId: string, from: number, to: number): Promise<Passage[]>;
  /**
   * The same as `gatePassages` without reason and health, which contacts and gate exposure do not
   * need, as few objects as possible. Index: events(gate_id, ts); a covering index of these
   * columns, where the store has one, answers it without reading the events rows.
   */
  gateScan(gateId: string, from: number, to: number): Promise<GatePassage[]>;
  /**
   * `gateScan` of every range in one read: each range's passages as `gateScan` returns them, the
   * ranges in the order given (a passage inside two ranges comes twice). A contact trace hands all
   * of its merged windows (contacts.ts `scanRangesOf`) to one call: on a server database that is
   * one statement and one round trip per trace instead of one per window.
   */
  gateScans(ranges: readonly ScanRange[]): Promise<GatePassage[]>;
  /** Masked names of the residents among `personIds` (unknown ids are left out), in one query. */
  maskedNames(personIds: readonly string[]): Promise<Map<string, string>>;
  /** Compound-wide counters of the hours starting in `[from, to)`, one row per hour and outcome. */
  hourlyRows(compoundId: string, from: number, to: number): Promise<HourlyRow[]>;
  /** The same counters summed over the hours: one total per outcome (summary.ts `outcomeTotalsOf`). */
  outcomeTotals(compoundId: string, from: number, to: number): Promise<OutcomeTotal[]>;
  /** The same counters summed per hour that has any, oldest first (summary.ts `hourTotalsOf`). */
  hourTotals(compoundId: string, from: number, to: number): Promise<HourlyPoint[]>;
  /** The hour starting in `[from, to)` with the most crossings, the earliest on a tie (summary.ts `peakHourOf`). */
  peakHour(compoundId: string, from: number, to: number): Promise<PeakHour | null>;
  /** Per-gate counters summed over the hours starting in `[from, to)`. */
  gateRows(compoundId: string, from: number, to: number): Promise<GateRow[]>;
  /** Distinct persons who crossed per local day, for the days `fromDay … toDay` that have any. */
  personsPerDay(compoundId: string, fromDay: string, toDay: string): Promise<{ day: string; persons: number }[]>;
  /**
   * Crossings in − out stored before the local hour starting at `hourStart`, which lies on the
   * local day `day`: whole days before `day`, plus the hours of `day` before `hourStart`.
   */
  netCrossingsBefore(compoundId: string, day: string, hourStart: number): Promise<number>;
}

type Row = Record<string, unknown>;

function passageOf(r: Row): Passage {
  return {
    gateId: String(r.gate_id),
    seq: Number(r.seq),
    ts: Number(r.ts),
    personId: r.person_id === null ? null : String(r.person_id),
    direction: r.direction as Direction,
    method: r.method as Method,
    result: r.result as Result,
    reason: r.reason as Reason,
    passed: r.passed === null ? null : r.passed === 1,
    health: r.health as HealthColour,
  };
}

/** The key of a compound-wide counter without its hour or day. */
const OUTCOME = 'direction, method, result, reason, crossed, elderly';

/** The `OUTCOME` columns of a rollup row, with its count. */
function outcomeOf(r: Row) {
  return {
    direction: r.direction as Direction,
    method: r.method as Method,
    result: r.result as Result,
    reason: r.reason as Reason,
    crossed: r.crossed === 1,
    elderly: r.elderly === 1,
    count: Number(r.count),
  };
}

const PASSAGE_COLUMNS = 'gate_id, seq, ts, person_id, direction, method, result, reason, passed, health';

/** The longest local day (a DST fall-back day has 25 hours) plus margin, to bound a scan by bucket start. */
const LONGEST_DAY_MS = 27 * 3_600_000;

/** The SQL of the trace queries, exported for docs/tracing.md's `EXPLAIN QUERY PLAN` and the tests. */
export const TRACE_SQL = {
  personPassages: `SELECT ${PASSAGE_COLUMNS} FROM events WHERE person_id = ? AND ts BETWEEN ? AND ? ORDER BY ts`,
  gatePassages: `SELECT ${PASSAGE_COLUMNS} FROM events WHERE gate_id = ? AND ts BETWEEN ? AND ? ORDER BY ts`,
  gateScan:
    'SELECT seq, ts, person_id, direction, method, result, passed FROM events WHERE gate_id = ? AND ts BETWEEN ? AND ? ORDER BY ts',
  // INDEXED BY: the planner, without ANALYZE statistics, would read every wide residents row instead.
  maskedNames: `SELECT person_id, masked_name FROM residents INDEXED BY residents_masked_names
    WHERE person_id IN (SELECT value FROM json_each(?))`,
} as const;

interface SpanRow {
  day: string;
  first_bucket: number;
  last_bucket: number;
}

/** The local days whose daily counters replace their hours in `[from, to)`, and the hours they cover. */
export interface DaysInside {
  firstDay: string;
  lastDay: string;
  /** The first bucket of `firstDay` … one past the last bucket of `lastDay`. */
  daysFrom: number;
  daysTo: number;
}

/**
 * The days `firstDay … lastDay` (by label, `spans` sorted by day) whose counters equal the hourly
 * counters in `[daysFrom, daysTo)`, with `from ≤ daysFrom ≤ daysTo ≤ to`; null when there is none
 * or when a day's span (a time-zone change) would make the split inexact. Every hourly counter of
 * a day lies in its span, so the conditions are: each day labelled in the run lies inside the
 * window, and no day outside the run has a bucket in `[daysFrom, daysTo)`.
 */
export function daysInside(
  spans: readonly { day: string; first_bucket: number; last_bucket: number }[],
  from: number,
  to: number,
): DaysInside | null {
  let first = -1;
  let last = -1;
  for (let i = 0; i < spans.length; i++) {
    const span = spans[i]!;
    if (span.first_bucket >= from && span.last_bucket < to) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (first < 0) return null;
  let daysFrom = Number.POSITIVE_INFINITY;
  let daysTo = Number.NEGATIVE_INFINITY;
  for (let i = first; i <= last; i++) {
    const span = spans[i]!;
    if (span.first_bucket < from || span.last_bucket >= to) return null;
    daysFrom = Math.min(daysFrom, span.first_bucket);
    daysTo = Math.max(daysTo, span.last_bucket + 1);
  }
  for (let i = 0; i < spans.length; i++) {
    if (i >= first && i <= last) continue;
    const span = spans[i]!;
    if (span.last_bucket >= daysFrom && span.first_bucket < daysTo) return null;
  }
  return { firstDay: spans[first]!.day, lastDay: spans[last]!.day, daysFrom, daysTo };
}

export class SqliteAnalyticsStore implements AnalyticsStore {
  private readonly db: Database;
  private stmt: Record<string, Statement> | undefined;

  /** `db` is the store's connection (`SqliteCloudStore.db`). */
  constructor(db: Database) {
    this.db = db;
  }

  /** Creates (and on old data fills) the rollup tables if needed, and prepares the statements. */
  start(): void {
    installAnalytics(this.db);
    this.statements();
  }

  private statements(): Record<string, Statement> {
    if (this.stmt) return this.stmt;
    const p = (sql: string) => this.db.prepare(sql);
    this.stmt = {
      personPassages: p(TRACE_SQL.personPassages),
      gatePassages: p(TRACE_SQL.gatePassages),
      gateScan: p(TRACE_SQL.gateScan).raw(true),
      maskedNames: p(TRACE_SQL.maskedNames).raw(true),
      hourlyRows: p(`SELECT bucket_start, label, day, direction, method, result, reason, crossed, elderly, count
        FROM stats_hourly_compound WHERE compound_id = ? AND bucket_start >= ? AND bucket_start < ?`),
      // The next four sum in SQL what summary.ts would otherwise sum in JS over one object per
      // hourly row (≈ 12 k rows for a compound's 30 days): only the aggregates cross into JS.
      outcomeTotals: p(`SELECT ${OUTCOME}, SUM(count) AS count
        FROM stats_hourly_compound WHERE compound_id = ? AND bucket_start >= ? AND bucket_start < ?
        GROUP BY ${OUTCOME}`),
      daySpans: p('SELECT day, first_bucket, last_bucket FROM stats_day_span WHERE compound_id = ? ORDER BY day'),
      outcomeTotalsByDays: p(`SELECT ${OUTCOME}, SUM(count) AS count FROM (
          SELECT ${OUTCOME}, count FROM stats_daily_compound WHERE compound_id = @compoundId AND day BETWEEN @firstDay AND @lastDay
          UNION ALL
          SELECT ${OUTCOME}, count FROM stats_hourly_compound
           WHERE compound_id = @compoundId AND bucket_start >= @from AND bucket_start < @daysFrom
          UNION ALL
          SELECT ${OUTCOME}, count FROM stats_hourly_compound
           WHERE compound_id = @compoundId AND bucket_start >= @daysTo AND bucket_start < @to)
        GROUP BY ${OUTCOME}`),
      hourTotals: p(`SELECT bucket_start, MIN(label) AS label, MAX(label) AS other_label,
        SUM(CASE WHEN crossed = 1 AND direction = 'in' THEN count ELSE 0 END) AS crossings_in,
        SUM(CASE WHEN crossed = 1 AND direction <> 'in' THEN count ELSE 0 END) AS crossings_out,
        SUM(CASE WHEN result = 'granted' THEN count ELSE 0 END) AS granted,
        SUM(CASE WHEN result = 'granted' THEN 0 ELSE count END) AS denied
        FROM stats_hourly_compound WHERE compound_id = ? AND bucket_start >= ? AND bucket_start < ?
        GROUP BY bucket_start ORDER BY bucket_start`),
      peakHour: p(`SELECT bucket_start, SUM(count) AS crossings
        FROM stats_hourly_compound WHERE compound_id = ? AND bucket_start >= ? AND bucket_start < ? AND crossed = 1
        GROUP BY bucket_start ORDER BY crossings DESC, bucket_start LIMIT 1`),
      // The label of an hour's first row in key order, as the JS fold takes it. An hour's rows
      // carry one label unless the compound's time zone changed while it was being counted.
      firstLabel: p(`SELECT label FROM stats_hourly_compound WHERE compound_id = ? AND bucket_start = ? AND crossed >= ?
        ORDER BY direction, method, result, reason, crossed, elderly LIMIT 1`),
      gateRows: p(`SELECT gate_id, direction, method, result, reason, crossed, SUM(count) AS count
        FROM stats_hourly WHERE compound_id = ? AND bucket_start >= ? AND bucket_start < ?
        GROUP BY gate_id, direction, method, result, reason, crossed`),
      personsPerDay: p(`SELECT day, persons FROM stats_daily
        WHERE compound_id = ? AND day >= ? AND day <= ? AND persons > 0 ORDER BY day`),
      netDaysBefore: p(`SELECT COALESCE(SUM(crossed_in - crossed_out), 0) AS net FROM stats_daily
        WHERE compound_id = ? AND day < ?`),
      netHoursOfDayBefore: p(`SELECT COALESCE(SUM(CASE direction WHEN 'in' THEN count ELSE -count END), 0) AS net
        FROM stats_hourly_compound
        WHERE compound_id = ? AND bucket_start >= ? AND bucket_start < ? AND day = ? AND crossed = 1`),
    };
    return this.stmt;
  }

  async personPassages(personId: string, from: number, to: number): Promise<Passage[]> {
    return (this.statements().personPassages!.all(personId, from, to) as Row[]).map(passageOf);
  }

  async gatePassages(gateId: string, from: number, to: number): Promise<Passage[]> {
    return (this.statements().gatePassages!.all(gateId, from, to) as Row[]).map(passageOf);
  }

  async hourlyRows(compoundId: string, from: number, to: number): Promise<HourlyRow[]> {
    return (this.statements().hourlyRows!.all(compoundId, from, to) as Row[]).map((r) => ({
      bucketStart: Number(r.bucket_start),
      label: String(r.label),
      day: String(r.day),
      ...outcomeOf(r),
    }));
  }

  async gateScan(gateId: string, from: number, to: number): Promise<GatePassage[]> {
    const rows = this.statements().gateScan!.all(gateId, from, to) as [
      number,
      number,
      string | null,
      Direction,
      Method,
      Result,
      number | null,
    ][];
    const out = new Array<GatePassage>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      out[i] = {
        gateId,
        seq: r[0],
        ts: r[1],
        personId: r[2],
        direction: r[3],
        method: r[4],
        result: r[5],
        passed: r[6] === null ? null : r[6] === 1,
      };
    }
    return out;
  }

  /** In-process: a range scan costs no round trip, so the ranges are read one by one. */
  async gateScans(ranges: readonly ScanRange[]): Promise<GatePassage[]> {
    const out: GatePassage[] = [];
    for (const r of ranges) for (const p of await this.gateScan(r.gateId, r.from, r.to)) out.push(p);
    return out;
  }

  async maskedNames(personIds: readonly string[]): Promise<Map<string, string>> {
    const names = new Map<string, string>();
    if (personIds.length === 0) return names;
    for (const [personId, name] of this.statements().maskedNames!.all(JSON.stringify(personIds)) as [
      string,
      string,
    ][]) {
      names.set(personId, name);
    }
    return names;
  }

  /**
   * Whole local days inside the window are read from the daily counters, the hours around them
   * from the hourly ones: ≈ 30 rows per outcome for 30 days instead of ≈ 720. Exact: a day stands
   * in for its hours only when every bucket counted under it lies inside the window and no other
   * day's buckets fall between its days' (`daysInside`); otherwise every hour is read.
   */
  async outcomeTotals(compoundId: string, from: number, to: number): Promise<OutcomeTotal[]> {
    const s = this.statements();
    const days = daysInside(s.daySpans!.all(compoundId) as SpanRow[], from, to);
    const rows = (
      days ? s.outcomeTotalsByDays!.all({ compoundId, from, to, ...days }) : s.outcomeTotals!.all(compoundId, from, to)
    ) as Row[];
    return rows.map(outcomeOf);
  }

  async hourTotals(compoundId: string, from: number, to: number): Promise<HourlyPoint[]> {
    const s = this.statements();
    return (s.hourTotals!.all(compoundId, from, to) as Row[]).map((r) => {
      const start = Number(r.bucket_start);
      return {
        start,
        label: r.label === r.other_label ? String(r.label) : this.firstLabel(compoundId, start, false),
        crossingsIn: Number(r.crossings_in),
        crossingsOut: Number(r.crossings_out),
        granted: Number(r.granted),
        denied: Number(r.denied),
      };
    });
  }

  async peakHour(compoundId: string, from: number, to: number): Promise<PeakHour | null> {
    const row = this.statements().peakHour!.get(compoundId, from, to) as Row | undefined;
    if (!row) return null;
    const start = Number(row.bucket_start);
    return { start, label: this.firstLabel(compoundId, start, true), crossings: Number(row.crossings) };
  }

  private firstLabel(compoundId: string, bucketStart: number, crossedOnly: boolean): string {
    const row = this.statements().firstLabel!.get(compoundId, bucketStart, crossedOnly ? 1 : 0) as Row;
    return String(row.label);
  }

  async gateRows(compoundId: string, from: number, to: number): Promise<GateRow[]> {
    return (this.statements().gateRows!.all(compoundId, from, to) as Row[]).map((r) => ({
      gateId: String(r.gate_id),
      direction: r.direction as Direction,
      method: r.method as Method,
      result: r.result as Result,
      reason: r.reason as Reason,
      crossed: r.crossed === 1,
      count: Number(r.count),
    }));
  }

  async personsPerDay(compoundId: string, fromDay: string, toDay: string): Promise<{ day: string; persons: number }[]> {
    return (this.statements().personsPerDay!.all(compoundId, fromDay, toDay) as Row[]).map((r) => ({
      day: String(r.day),
      persons: Number(r.persons),
    }));
  }

  async netCrossingsBefore(compoundId: string, day: string, hourStart: number): Promise<number> {
    const s = this.statements();
    const days = (s.netDaysBefore!.get(compoundId, day) as { net: number }).net;
    const hours = (
      s.netHoursOfDayBefore!.get(compoundId, hourStart - LONGEST_DAY_MS, hourStart, day) as { net: number }
    ).net;
    return Number(days) + Number(hours);
  }
}
