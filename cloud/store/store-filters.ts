/**
 * The filters of the store's paged lists, written once for both engines: each engine builds its
 * WHERE clause (SQLite's `WhereClause`, PostgreSQL's `PgWhere`, both with `?` placeholders) and
 * these add the same conditions to it, so an event or audit page means the same on either.
 */
import { cursorTuple } from './store-rows.ts';
import type { AuditQuery, EventQuery } from './store.ts';

/** What both engines' WHERE builders offer: one more AND-ed condition with its parameters. */
export interface Conditions {
  add(condition: string, ...args: unknown[]): unknown;
}

/** The filters an events index can lead with: each engine says which of them its indexes serve. */
export type EventIndexKey = 'compoundId' | 'gateId' | 'personId';

/**
 * An event page's filters and its cursor (newest first by `(ts, id)`). Returns whether the query is
 * narrowed — filtered on one of `indexed`, the keys the engine's indexes lead with, so one index
 * range serves the page; otherwise the engine merges the newest rows of each compound or gate.
 */
export function addEventConditions(
  where: Conditions,
  query: EventQuery,
  indexed: readonly EventIndexKey[],
): { narrowed: boolean } {
  if (query.compoundId !== undefined) where.add('compound_id = ?', query.compoundId);
  if (query.gateId !== undefined) where.add('gate_id = ?', query.gateId);
  if (query.personId !== undefined) where.add('person_id = ?', query.personId);
  if (query.result !== undefined) where.add('result = ?', query.result);
  if (query.from !== undefined) where.add('ts >= ?', query.from);
  if (query.to !== undefined) where.add('ts < ?', query.to);
  const after = cursorTuple(query.cursor, ['number', 'number']);
  if (after) where.add('(ts < ? OR (ts = ? AND id < ?))', after[0], after[0], after[1]);
  return { narrowed: indexed.some((key) => query[key] !== undefined) };
}

/** An audit page's filters and its cursor (newest first by id). */
export function addAuditConditions(where: Conditions, query: AuditQuery): void {
  if (query.compoundId !== undefined) where.add('compound_id = ?', query.compoundId);
  if (query.actor !== undefined) where.add('actor = ?', query.actor);
  if (query.action !== undefined) where.add('action = ?', query.action);
  if (query.from !== undefined) where.add('at >= ?', query.from);
  if (query.to !== undefined) where.add('at < ?', query.to);
  const after = cursorTuple(query.cursor, ['number']);
  if (after) where.add('id < ?', after[0]);
}
