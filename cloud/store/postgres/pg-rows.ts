/**
 * What the PostgreSQL store's queries share beyond the row mapping both engines use
 * (cloud/store/store-rows.ts, whose row shapes the statements name as their rows: the driver's rows
 * are untyped, and a statement says once which table's columns it returns — with the pool's type
 * parsers, pg-pool.ts, int8 columns arrive as numbers and booleans as booleans; JSON columns are
 * text, parsed there): an untyped row, and the WHERE builder the filtered lists share.
 */
export type Row = Record<string, unknown>;

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
