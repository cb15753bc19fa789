/** The revocation store on SQLite: `token_revocations`, versioned in `revocation_migrations`. */
import type { Database, Statement } from 'better-sqlite3';
import { type Migration, runMigrations } from '../store/migration-runner.ts';
import type { Revocation, RevocationStore } from './revocation-store.ts';

const REVOCATION_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'revoked device tokens',
    sql: `
CREATE TABLE token_revocations (
  entry TEXT PRIMARY KEY,
  subject TEXT,
  reason TEXT NOT NULL,
  revoked_by TEXT NOT NULL,
  revoked_at INTEGER NOT NULL
);
`,
  },
];

interface RevocationRow {
  entry: string;
  subject: string | null;
  reason: string;
  revoked_by: string;
  revoked_at: number;
}

export class SqliteRevocationStore implements RevocationStore {
  private insert: Statement<[string, string | null, string, string, number]> | undefined;
  private all: Statement<[], RevocationRow> | undefined;

  constructor(private readonly db: Database) {}

  /** Creates the table if need be and prepares the statements. */
  start(): this {
    runMigrations(this.db, 'revocation_migrations', REVOCATION_MIGRATIONS);
    this.insert = this.db.prepare(`INSERT INTO token_revocations (entry, subject, reason, revoked_by, revoked_at)
      VALUES (?, ?, ?, ?, ?) ON CONFLICT (entry) DO NOTHING`);
    this.all = this.db.prepare(
      'SELECT entry, subject, reason, revoked_by, revoked_at FROM token_revocations ORDER BY revoked_at, entry',
    );
    return this;
  }

  async add(r: Revocation): Promise<void> {
    if (!this.insert) throw new Error('SqliteRevocationStore.start() was not called');
    this.insert.run(r.entry, r.subject, r.reason, r.by, r.at);
  }

  async list(): Promise<Revocation[]> {
    if (!this.all) throw new Error('SqliteRevocationStore.start() was not called');
    return this.all.all().map((row) => ({
      entry: row.entry,
      subject: row.subject,
      reason: row.reason,
      by: row.revoked_by,
      at: row.revoked_at,
    }));
  }
}
