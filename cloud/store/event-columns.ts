/**
 * The `events` columns a passage is written to and its values in their order, written once for
 * every writer: the SQLite store's insert (sqlite/event-tables.ts), PostgreSQL's column arrays
 * (postgres/pg-events.ts) and the bench's bare inserts (bench/lib/bare-event-insert.ts) — a field
 * added to a passage reaches all of them or none. Reading them back is store-rows.ts's `eventOfRow`.
 * The row id is each engine's own.
 */
import type { StoredEvent } from './stored-event.ts';

export const EVENT_COLUMNS = `gate_id, seq, compound_id, ts, direction, method, result, reason, person_id, id_hash, pass_id,
  health, mode, passed, guard, decision_ms, received_at, open_reason`;
/** One value per column. */
export const EVENT_COLUMN_COUNT = EVENT_COLUMNS.split(',').length;

/**
 * `e`'s values in EVENT_COLUMNS order, written into `row` (which may be reused passage after
 * passage: the ingest path makes no array per passage) and returned; `passed` as the engine's
 * boolean (`bool`: SQLite's 0/1, PostgreSQL's own), absent optional fields as null.
 */
export function writeEventValues(row: unknown[], e: StoredEvent, bool: (b: boolean) => unknown): unknown[] {
  row[0] = e.gateId;
  row[1] = e.seq;
  row[2] = e.compoundId;
  row[3] = e.ts;
  row[4] = e.direction;
  row[5] = e.method;
  row[6] = e.result;
  row[7] = e.reason;
  row[8] = e.personId ?? null;
  row[9] = e.idHash ?? null;
  row[10] = e.passId ?? null;
  row[11] = e.health;
  row[12] = e.mode;
  row[13] = e.passed === null ? null : bool(e.passed);
  row[14] = e.guard ?? null;
  row[15] = e.decisionMs;
  row[16] = e.receivedAt;
  row[17] = e.openReason ?? null;
  return row;
}
