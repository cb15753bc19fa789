/** The revocation store on PostgreSQL: `token_revocations`, versioned in `revocation_migrations`. */
import type pg from 'pg';
import type { Migration } from '../store/migration-runner.ts';
import { migratedOnFirstUse } from '../store/postgres/pg-migrated.ts';
import { run, statement } from '../store/postgres/pg-pool.ts';
import type { Revocation, RevocationStore } from './revocation-store.ts';

export const PG_REVOCATION_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'revoked device tokens',
    sql: `
CREATE TABLE token_revocations (
  entry text PRIMARY KEY,
  subject text,
  reason text NOT NULL,
  revoked_by text NOT NULL,
  revoked_at bigint NOT NULL
);
`,
  },
];

const insert = statement<[string, string | null, string, string, number]>(
  'revocation_add',
  `INSERT INTO token_revocations (entry, subject, reason, revoked_by, revoked_at) VALUES ($1, $2, $3, $4, $5)
   ON CONFLICT (entry) DO NOTHING`,
);
const all = statement<
  [],
  { entry: string; subject: string | null; reason: string; revoked_by: string; revoked_at: number }
>(
  'revocation_list',
  'SELECT entry, subject, reason, revoked_by, revoked_at FROM token_revocations ORDER BY revoked_at, entry',
);

export class PgRevocationStore implements RevocationStore {
  private readonly ready: () => Promise<pg.Pool>;

  constructor(pool: pg.Pool) {
    this.ready = migratedOnFirstUse(pool, 'revocation_migrations', PG_REVOCATION_MIGRATIONS);
  }

  async add(r: Revocation): Promise<void> {
    await run(await this.ready(), insert, [r.entry, r.subject, r.reason, r.by, r.at]);
  }

  async list(): Promise<Revocation[]> {
    const { rows } = await run(await this.ready(), all, []);
    return rows.map((row) => ({
      entry: row.entry,
      subject: row.subject,
      reason: row.reason,
      by: row.revoked_by,
      at: row.revoked_at,
    }));
  }
}
