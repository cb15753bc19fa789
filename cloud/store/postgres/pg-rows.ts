/**
 * Rows of the PostgreSQL store as the store contract's records, and the small query-building
 * helper its filtered lists share. The mapping itself is the one both engines share
 * (cloud/store/store-rows.ts); the driver's rows are untyped, and these give them the shared
 * shapes, whose columns they have under the same names. With the pool's type parsers (pg-pool.ts)
 * int8 columns arrive as numbers and booleans as booleans; JSON columns are text, parsed there.
 */
import * as rows from '../store-rows.ts';

export type Row = Record<string, unknown>;

const typed = <T>(r: Row): T => r as unknown as T;

export const compoundOfRow = (r: Row) => rows.compoundOfRow(typed<rows.CompoundRow>(r));
export const gateOfRow = (r: Row) => rows.gateOfRow(typed<rows.GateRow>(r));
export const residentOfRow = (r: Row) => rows.residentOfRow(typed<rows.ResidentRow>(r));
export const eventOfRow = (r: Row) => rows.eventOfRow(typed<rows.EventRow>(r));
export const passOfRow = (r: Row) => rows.passOfRow(typed<rows.PassRow>(r));
export const commandOfRow = (r: Row) => rows.commandOfRow(typed<rows.CommandRow>(r));
export const statusOfRow = (r: Row) => rows.statusOfRow(typed<rows.StatusRow>(r));
export const alarmOfRow = (r: Row) => rows.storedAlarmOfRow(typed<rows.StoredAlarmRow>(r));
export const userOfRow = (r: Row) => rows.userOfRow(typed<rows.UserRow>(r));
export const auditEntryOfRow = (r: Row) => rows.auditEntryOfRow(typed<rows.AuditRow>(r));

/** AND-ed conditions written with `?`, numbered `$1…` for PostgreSQL when rendered. SQL stays parameterised. */
export class PgWhere {
  private readonly parts: string[] = [];
  readonly args: unknown[] = [];
  add(condition: string, ...args: unknown[]): this {
    this.parts.push(condition);
    this.args.push(...args);
    return this;
  }
  /** `WHERE …` with placeholders numbered from `first`; '' without conditions. */
  sql(first = 1): string {
    if (this.parts.length === 0) return '';
    let n = first;
    return `WHERE ${this.parts.join(' AND ').replace(/\?/g, () => `$${n++}`)}`;
  }
}
