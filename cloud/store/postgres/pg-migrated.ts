/**
 * An extension's tables on PostgreSQL, migrated on first use: the extension's factory stays
 * synchronous (like its SQLite one), and every method awaits `ready()` before its first query.
 * The migrations run once per process (runPgMigrations serialises instances on the database); a
 * failed run is tried again by the next call rather than remembered.
 */
import type pg from 'pg';
import type { Migration } from '../migration-runner.ts';
import { runPgMigrations } from './pg-migrations.ts';

export function migratedOnFirstUse(
  pool: pg.Pool,
  versionTable: string,
  migrations: readonly Migration[],
): () => Promise<pg.Pool> {
  let migrated: Promise<pg.Pool> | undefined;
  return () => {
    migrated ??= runPgMigrations(pool, versionTable, migrations).then(
      () => pool,
      (error: unknown) => {
        migrated = undefined;
        throw error;
      },
    );
    return migrated;
  };
}
