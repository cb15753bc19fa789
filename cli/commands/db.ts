/**
 * `anxin db migrate --db PATH|URL`: brings the cloud's database schema up to date and says what it
 * did, one line per table family — before several cloud instances start on one PostgreSQL, or
 * before an upgrade, instead of leaving it to the first instance to start. Running it again is a
 * no-op. Exit 0 done, 1 the database could not be reached or refused a migration, 2 bad flags.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { z } from 'zod';
import { runMigrations } from '../../cloud/store/migration-runner.ts';
import { POSTGRES_MIGRATION_FAMILIES } from '../../cloud/postgres-readiness.ts';
import { runPgMigrations } from '../../cloud/store/postgres/pg-migrations.ts';
import { createPgPool } from '../../cloud/store/postgres/pg-pool.ts';
import { isPostgresUrl, redactedUrl } from '../../cloud/store/postgres/postgres-store.ts';
import { MIGRATIONS } from '../../cloud/store/sqlite-migrations.ts';
import { explainConfig } from '../../shared/config.ts';
import { exitCodeFor, oneLine, usageError } from '../command-errors.ts';

export const help = `Usage: anxin db migrate [--db PATH|URL]

Applies the schema migrations the cloud's database has not seen yet and prints, per table family,
the version before and after ("schema_migrations 0 -> 1"). Safe to run again (nothing to do) and
while cloud instances run (an advisory lock makes concurrent migrations take turns).

  --db PATH|URL   SQLite file (default data/cloud.db), or postgres://user:password@host:port/db

Environment: ANXIN_DB. Exit 0 migrated (or already current), 1 the database could not be reached or
refused a migration, 2 bad flags.
`;

const dbConfigSchema = z.object({ db: z.string().min(1).default('data/cloud.db') });

async function migratePostgresFamilies(url: string): Promise<string[]> {
  const pool = createPgPool({ url, max: 1, applicationName: 'anxin-db-migrate' });
  try {
    const lines: string[] = [];
    for (const family of POSTGRES_MIGRATION_FAMILIES) {
      const { before, after } = await runPgMigrations(pool, family.table, family.migrations);
      lines.push(`${family.table} ${before} -> ${after}`);
    }
    return lines;
  } finally {
    await pool.end();
  }
}

function migrateSqlite(path: string): string[] {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new BetterSqlite3(path);
  try {
    db.pragma('journal_mode = WAL');
    // The store's own family; the extensions' tables follow when the cloud starts.
    const { before, after } = runMigrations(db, 'schema_migrations', MIGRATIONS);
    return [`schema_migrations ${before} -> ${after}`];
  } finally {
    db.close();
    // Personal data will live here: the cloud's user only (docs/security.md, "Where personal data lives").
    if (path !== ':memory:') chmodSync(path, 0o600);
  }
}

export async function run(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { db: { type: 'string' } },
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length !== 1 || positionals[0] !== 'migrate') {
      return usageError('db', `expected "migrate", got ${positionals.length ? positionals.join(' ') : 'nothing'}`);
    }
    const { config } = explainConfig(dbConfigSchema, { flags: values, env: process.env });
    const postgres = isPostgresUrl(config.db);
    let lines: string[];
    try {
      lines = postgres ? await migratePostgresFamilies(config.db) : migrateSqlite(config.db);
    } catch (error) {
      const where = postgres ? redactedUrl(config.db) : config.db;
      process.stderr.write(`anxin db: ${where}: ${oneLine((error as Error).message)}\n`);
      return 1;
    }
    process.stdout.write(`${postgres ? redactedUrl(config.db) : config.db}\n`);
    for (const line of lines) process.stdout.write(`  ${line}\n`);
    return 0;
  } catch (error) {
    return exitCodeFor('db', error);
  }
}
