/**
 * Versioned SQLite migrations, one runner for every table family of the cloud database: the
 * store's own (`schema_migrations`) and each extension's (statistics, alarm acknowledgements,
 * token revocations), so each family numbers its versions independently.
 */
import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

/**
 * Applies, in order and each in its own transaction, the migrations whose version is above what
 * `versionTable` records. Returns the versions before and after.
 */
export function runMigrations(
  db: Database,
  versionTable: string,
  migrations: readonly Migration[],
): { before: number; after: number } {
  if (!/^[a-z_]+$/.test(versionTable)) throw new TypeError(`versionTable: not a table name: ${versionTable}`);
  db.exec(`CREATE TABLE IF NOT EXISTS ${versionTable} (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`);
  const row = db.prepare(`SELECT MAX(version) AS v FROM ${versionTable}`).get() as { v: number | null };
  const before = row.v ?? 0;
  const record = db.prepare(`INSERT INTO ${versionTable} (version, applied_at) VALUES (?, ?)`);
  for (const migration of migrations) {
    if (migration.version <= before) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      record.run(migration.version, Date.now());
    })();
  }
  return { before, after: Math.max(before, ...migrations.map((m) => m.version)) };
}
