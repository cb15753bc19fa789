/**
 * Opens the cloud's store on the database `--db` names (docs/cloud.md, "Store"): a SQLite file
 * (or `:memory:`) for the embedded default, a `postgres://` URL for a street office's or a city's
 * cloud. Everything past this point speaks `CloudStore` and, for the extensions' own tables,
 * `store.engine` (cloud/store/engine.ts).
 */
import { dirname } from 'node:path';
import { privateDir, privateFiles, sqliteFiles } from '../../shared/private-files.ts';
import { isPostgresUrl, PostgresCloudStore } from './postgres/postgres-store.ts';
import { SqliteCloudStore } from './sqlite-store.ts';
import type { CloudStore } from './store.ts';

export interface OpenStoreOptions {
  /** A SQLite file (created with a private folder), `:memory:`, or `postgres://user:password@host/db`. */
  db: string;
  /** PostgreSQL only: the most connections this instance opens (cloud/store/postgres/pg-pool.ts). */
  pool?: number;
  /** PostgreSQL only: `application_name` in pg_stat_activity. */
  applicationName?: string;
}

/**
 * The SQLite file holds personal data: its folder is 0700 before the file exists (no moment when
 * another user can open it), and the file and its WAL/SHM companions are 0600, whatever the umask
 * that created them (docs/security.md, "Files and secrets"). A PostgreSQL store is connected and
 * migrated before it is returned; a server that cannot be reached rejects.
 */
export async function openCloudStore(options: OpenStoreOptions): Promise<CloudStore> {
  if (isPostgresUrl(options.db)) {
    return PostgresCloudStore.open({
      url: options.db,
      ...(options.pool !== undefined ? { max: options.pool } : {}),
      ...(options.applicationName !== undefined ? { applicationName: options.applicationName } : {}),
    });
  }
  if (options.db === ':memory:') return new SqliteCloudStore({ path: options.db });
  privateDir(dirname(options.db));
  const store = new SqliteCloudStore({ path: options.db });
  privateFiles(sqliteFiles(options.db));
  return store;
}
