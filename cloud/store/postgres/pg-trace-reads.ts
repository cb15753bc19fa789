/**
 * The event reads of contact tracing on PostgreSQL — the range scans of `AnalyticsStore`
 * (cloud/analytics/analytics-store.ts) that read `events`, with the same rows in the same order as
 * the SQLite queries (`TRACE_SQL`): a person's passages over `events_by_person_ts`, a gate's over
 * `events_by_gate_ts`, whose INCLUDE columns answer `gateScan` from the index alone — and `gateScans`,
 * every window of a contact trace in one statement (one round trip per trace, not one per window).
 * Within one `ts`, rows come in SQLite's index order (its index keys, NULLs first), so both
 * engines rank contacts identically (test/cloud/store/differential.integration.test.ts,
 * test/cloud/analytics/gate-scans.integration.test.ts).
 * The statistics reads (rollups) belong to the analytics extension's own PostgreSQL store.
 */
import type pg from 'pg';
import type { Direction, HealthColour, Method, Reason, Result } from '../../../shared/enums.ts';
import type { AnalyticsStore } from '../../analytics/analytics-store.ts';
import type { ScanRange } from '../../analytics/contacts.ts';
import type { GatePassage, Passage } from '../../analytics/passage.ts';
import { run, statement } from './pg-pool.ts';

const PASSAGE_COLUMNS = 'gate_id, seq, ts, person_id, direction, method, result, reason, passed, health';
/** SQLite's events_by_gate_ts key order after (gate_id, ts), then its rowid. */
const GATE_ORDER = 'ts, person_id NULLS FIRST, result, passed NULLS FIRST, method, direction, seq, id';

interface PassageRow {
  gate_id: string;
  seq: number;
  ts: number;
  person_id: string | null;
  direction: Direction;
  method: Method;
  result: Result;
  reason: Reason;
  passed: boolean | null;
  health: HealthColour;
}

const S = {
  personPassages: statement<[string, number, number], PassageRow>(
    'trace_person_passages',
    `SELECT ${PASSAGE_COLUMNS} FROM events WHERE person_id = $1 AND ts BETWEEN $2 AND $3 ORDER BY ts, id`,
  ),
  gatePassages: statement<[string, number, number], PassageRow>(
    'trace_gate_passages',
    `SELECT ${PASSAGE_COLUMNS} FROM events WHERE gate_id = $1 AND ts BETWEEN $2 AND $3 ORDER BY ${GATE_ORDER}`,
  ),
  gateScan: statement<[string, number, number], Omit<PassageRow, 'gate_id' | 'reason' | 'health'>>(
    'trace_gate_scan',
    `SELECT seq, ts, person_id, direction, method, result, passed FROM events
     WHERE gate_id = $1 AND ts BETWEEN $2 AND $3 ORDER BY ${GATE_ORDER}`,
  ),
  // Every range of a trace in one statement: each (gate, from, to) of the list drives an index
  // range scan of events_by_gate_ts (index-only: its INCLUDE columns are what is read), in the
  // list's order, each range's rows in gateScan's order. $4 and $5 bound all the ranges, so the
  // planner prunes the month partitions none of them touches before it runs.
  gateScans: statement<[string[], number[], number[], number, number], Omit<PassageRow, 'reason' | 'health'>>(
    'trace_gate_scans',
    `SELECT r.gate_id, e.seq, e.ts, e.person_id, e.direction, e.method, e.result, e.passed
     FROM unnest($1::text[], $2::int8[], $3::int8[]) WITH ORDINALITY AS r(gate_id, lo, hi, ord)
     JOIN events e ON e.gate_id = r.gate_id AND e.ts BETWEEN r.lo AND r.hi
     WHERE e.ts BETWEEN $4 AND $5
     ORDER BY r.ord, ${GATE_ORDER.replace(/(^|, )/g, '$1e.')}`,
  ),
  maskedNames: statement<[string[]], { person_id: string; masked_name: string }>(
    'trace_masked_names',
    'SELECT person_id, masked_name FROM residents WHERE person_id = ANY($1::text[])',
  ),
};

/** The text of the one-statement contact read, for EXPLAIN in the tests and bench/contacts.ts. */
export const GATE_SCANS_SQL = S.gateScans.text;

/** Its parameters: the ranges as three arrays, and the span of them all (what prunes the months). */
export function gateScansParams(ranges: readonly ScanRange[]): [string[], number[], number[], number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const r of ranges) {
    lo = Math.min(lo, r.from);
    hi = Math.max(hi, r.to);
  }
  return [ranges.map((r) => r.gateId), ranges.map((r) => r.from), ranges.map((r) => r.to), lo, hi];
}

function passageOf(r: PassageRow): Passage {
  return {
    gateId: r.gate_id,
    seq: r.seq,
    ts: r.ts,
    personId: r.person_id,
    direction: r.direction,
    method: r.method,
    result: r.result,
    reason: r.reason,
    passed: r.passed,
    health: r.health,
  };
}

export type TraceReads = Pick<
  AnalyticsStore,
  'personPassages' | 'gatePassages' | 'gateScan' | 'gateScans' | 'maskedNames'
>;

export class PgTraceReads implements TraceReads {
  constructor(private readonly pool: pg.Pool) {}

  async personPassages(personId: string, from: number, to: number): Promise<Passage[]> {
    return (await run(this.pool, S.personPassages, [personId, from, to])).rows.map(passageOf);
  }

  async gatePassages(gateId: string, from: number, to: number): Promise<Passage[]> {
    return (await run(this.pool, S.gatePassages, [gateId, from, to])).rows.map(passageOf);
  }

  async gateScan(gateId: string, from: number, to: number): Promise<GatePassage[]> {
    const { rows } = await run(this.pool, S.gateScan, [gateId, from, to]);
    return rows.map((r) => ({
      gateId,
      seq: r.seq,
      ts: r.ts,
      personId: r.person_id,
      direction: r.direction,
      method: r.method,
      result: r.result,
      passed: r.passed,
    }));
  }

  async gateScans(ranges: readonly ScanRange[]): Promise<GatePassage[]> {
    if (ranges.length === 0) return [];
    const { rows } = await run(this.pool, S.gateScans, gateScansParams(ranges));
    return rows.map((r) => ({
      gateId: r.gate_id,
      seq: r.seq,
      ts: r.ts,
      personId: r.person_id,
      direction: r.direction,
      method: r.method,
      result: r.result,
      passed: r.passed,
    }));
  }

  async maskedNames(personIds: readonly string[]): Promise<Map<string, string>> {
    const { rows } = await run(this.pool, S.maskedNames, [[...new Set(personIds)]]);
    return new Map(rows.map((r) => [r.person_id, r.masked_name]));
  }
}
