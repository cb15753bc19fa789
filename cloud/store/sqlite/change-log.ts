/**
 * The compounds' change logs on SQLite (an outbox): a registry mutation appends its changes in the
 * same transaction and the caller publishes the returned `ChangeBatch` after the commit; gates read
 * what they missed by revision, or learn that only a snapshot will do.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { Change } from '../../../shared/schemas/mqtt.ts';
import { NotFoundError } from '../../cloud-errors.ts';
import type { ChangeBatch, ChangeLogRead } from '../store.ts';

export class SqliteChangeLog {
  private readonly bumpRev: Statement<[number, string], { rev: number }>;
  private readonly appendChange: Statement<[string, number, string]>;
  private readonly currentRev: Statement<[string], number>;
  private readonly changesAfter: Statement<[string, number, number], { rev: number; change: string }>;
  private readonly oldestRev: Statement<[string], { rev: number | null }>;
  private readonly compoundRevs: Statement<[], { id: string; rev: number }>;
  private readonly compactLog: Statement<[string, number]>;

  constructor(private readonly db: Database) {
    this.bumpRev = db.prepare('UPDATE compounds SET rev = rev + ? WHERE id = ? RETURNING rev');
    this.appendChange = db.prepare('INSERT INTO change_log (compound_id, rev, change) VALUES (?, ?, ?)');
    this.currentRev = db.prepare<[string], number>('SELECT rev FROM compounds WHERE id = ?').pluck();
    this.changesAfter = db.prepare(
      'SELECT rev, change FROM change_log WHERE compound_id = ? AND rev > ? ORDER BY rev LIMIT ?',
    );
    this.oldestRev = db.prepare('SELECT MIN(rev) AS rev FROM change_log WHERE compound_id = ?');
    this.compoundRevs = db.prepare('SELECT id, rev FROM compounds');
    this.compactLog = db.prepare('DELETE FROM change_log WHERE compound_id = ? AND rev <= ?');
  }

  /** Appends changes to a compound's log; call inside a transaction. */
  append(compoundId: string, changes: Change[]): ChangeBatch {
    const row = this.bumpRev.get(changes.length, compoundId);
    if (!row) throw new NotFoundError('compound', compoundId);
    const toRev = row.rev;
    const fromRev = toRev - changes.length;
    changes.forEach((change, i) => {
      this.appendChange.run(compoundId, fromRev + i + 1, JSON.stringify(change));
    });
    return { compoundId, fromRev, toRev, changes };
  }

  /** Appends changes to each compound's log, one batch per compound (in the caller's transaction). */
  appendAll(byCompound: Map<string, Change[]>): ChangeBatch[] {
    return [...byCompound].map(([compoundId, changes]) => this.append(compoundId, changes));
  }

  read(compoundId: string, fromRev: number, limit: number): ChangeLogRead {
    return this.db.transaction((): ChangeLogRead => {
      const rev = this.currentRev.get(compoundId);
      if (rev === undefined) throw new NotFoundError('compound', compoundId);
      const currentRev = Number(rev);
      if (fromRev === 0 || fromRev > currentRev) return { kind: 'snapshot-needed', currentRev };
      if (fromRev === currentRev) return { kind: 'delta', changes: [], currentRev };
      const oldest = this.oldestRev.get(compoundId)?.rev ?? null;
      if (oldest === null || oldest > fromRev + 1) return { kind: 'snapshot-needed', currentRev };
      const rows = this.changesAfter.all(compoundId, fromRev, limit);
      return {
        kind: 'delta',
        changes: rows.map((r) => ({ rev: r.rev, change: JSON.parse(r.change) as Change })),
        currentRev,
      };
    })();
  }

  /** Keeps the last `keepRevs` revisions of every compound's log; returns rows deleted. */
  compact(keepRevs: number): number {
    return this.db.transaction(() => {
      let deleted = 0;
      for (const { id, rev } of this.compoundRevs.all()) deleted += this.compactLog.run(id, rev - keepRevs).changes;
      return deleted;
    })();
  }
}

/** Collects changes per compound, in order, for `SqliteChangeLog.appendAll`. */
export function addChange(byCompound: Map<string, Change[]>, compoundId: string, change: Change): void {
  const changes = byCompound.get(compoundId);
  if (changes) changes.push(change);
  else byCompound.set(compoundId, [change]);
}
