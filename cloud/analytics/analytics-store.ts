/**
 * What tracing and statistics read from the store, and its SQLite implementation. The query
 * shapes and their plans are in docs/tracing.md; a PostgreSQL store implements the same interface
 * with the same indexes.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { Direction, HealthColour, Method, Reason, Result } from '../../shared/enums.ts';
import type { Passage } from './passage.ts';
import { installAnalytics } from './rollup-writer.ts';
import type { GateRow, HourlyRow } from './summary.ts';

export interface AnalyticsStore {
  /** The person's events with `from ≤ ts ≤ to`, oldest first. Index: events(person_id, ts). */
  personPassages(personId: string, from: number, to: number): Promise<Passage[]>;
  /** Every event at the gate with `from ≤ ts ≤ to`, oldest first. Index: events(gate_id, ts). */
  gatePassages(gateId: string, from: number, to: number): Promise<Passage[]>;
  /** Compound-wide counters of the hours starting in `[from, to)`. */
  hourlyRows(compoundId: string, from: number, to: number): Promise<HourlyRow[]>;
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

const PASSAGE_COLUMNS = 'gate_id, seq, ts, person_id, direction, method, result, reason, passed, health';

/** The longest local day (a DST fall-back day has 25 hours) plus margin, to bound a scan by bucket start. */
const LONGEST_DAY_MS = 27 * 3_600_000;

/** The SQL of the trace queries, exported for docs/tracing.md's `EXPLAIN QUERY PLAN` and the tests. */
export const TRACE_SQL = {
  personPassages: `SELECT ${PASSAGE_COLUMNS} FROM events WHERE person_id = ? AND ts BETWEEN ? AND ? ORDER BY ts`,
  gatePassages: `SELECT ${PASSAGE_COLUMNS} FROM events WHERE gate_id = ? AND ts BETWEEN ? AND ? ORDER BY ts`,
} as const;

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
      hourlyRows: p(`SELECT bucket_start, label, day, direction, method, result, reason, crossed, elderly, count
        FROM stats_hourly_compound WHERE compound_id = ? AND bucket_start >= ? AND bucket_start < ?`),
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
      direction: r.direction as Direction,
      method: r.method as Method,
      result: r.result as Result,
      reason: r.reason as Reason,
      crossed: r.crossed === 1,
      elderly: r.elderly === 1,
      count: Number(r.count),
    }));
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
