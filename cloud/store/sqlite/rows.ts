/**
 * What the SQLite store's table families share beyond the rows both engines map alike
 * (cloud/store/store-rows.ts): SQLite's boolean writes, WHERE clauses built filter by filter, and
 * the test for a constraint violation.
 */

/** SQLite's booleans are INTEGER 0/1. */
export type Flag = 0 | 1;
export const flag = (b: boolean): Flag => (b ? 1 : 0);

export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT') === true;
}

/** AND-ed conditions with their parameters, built up filter by filter. SQL stays parameterised. */
export class WhereClause {
  private readonly parts: string[] = [];
  readonly args: unknown[] = [];
  add(condition: string, ...args: unknown[]): void {
    this.parts.push(condition);
    this.args.push(...args);
  }
  sql(): string {
    return this.parts.length ? `WHERE ${this.parts.join(' AND ')}` : '';
  }
  /** A copy with one more condition. */
  with(condition: string, ...args: unknown[]): WhereClause {
    const copy = new WhereClause();
    copy.add(condition, ...args);
    copy.parts.push(...this.parts);
    copy.args.push(...this.args);
    return copy;
  }
}
