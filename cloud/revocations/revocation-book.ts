/**
 * Revoked device tokens, as the cloud records them and hands them to brokers (docs/security.md,
 * "A stolen gate"). An entry is what `broker/revocations.ts` understands: a token id, or
 * `sub:<gateId>@<ms>` — every token of that gate issued before then. Kept in its own table with
 * its own version table, beside the store's.
 */
import type { Database } from 'better-sqlite3';
import { runMigrations, type Migration } from '../store/migration-runner.ts';

export interface Revocation {
  entry: string;
  subject: string | null;
  reason: string;
  by: string;
  at: number;
}

export interface RevocationBook {
  add(revocation: Revocation): Promise<void>;
  list(): Promise<Revocation[]>;
}

export const REVOCATION_MIGRATIONS: readonly Migration[] = [
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

export class SqliteRevocationBook implements RevocationBook {
  constructor(private readonly db: Database) {}

  start(): this {
    runMigrations(this.db, 'revocation_migrations', REVOCATION_MIGRATIONS);
    return this;
  }

  async add(r: Revocation): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO token_revocations (entry, subject, reason, revoked_by, revoked_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (entry) DO NOTHING`,
      )
      .run(r.entry, r.subject, r.reason, r.by, r.at);
  }

  async list(): Promise<Revocation[]> {
    const rows = this.db
      .prepare(
        'SELECT entry, subject, reason, revoked_by, revoked_at FROM token_revocations ORDER BY revoked_at, entry',
      )
      .all() as { entry: string; subject: string | null; reason: string; revoked_by: string; revoked_at: number }[];
    return rows.map((row) => ({
      entry: row.entry,
      subject: row.subject,
      reason: row.reason,
      by: row.revoked_by,
      at: row.revoked_at,
    }));
  }
}

/** The broker's revocation file format (broker/revocations.ts): one entry per line, `#` comments. */
export function revocationFileText(revocations: readonly Revocation[]): string {
  const lines = revocations.map((r) => `${r.entry}  # ${new Date(r.at).toISOString()} by ${r.by}`);
  return `# Revoked device tokens, written by the Anxin cloud. Do not edit by hand.\n${lines.map((l) => `${l}\n`).join('')}`;
}
