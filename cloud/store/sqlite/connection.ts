/**
 * The SQLite store's connection: WAL journal, `synchronous=NORMAL` (a commit is durable across a
 * process crash at once), the store's migrations, and group commit — `durable()` fsyncs the WAL
 * off the event loop (shared/wal-sync.ts) so that what ingest acknowledges also survives a power
 * cut, while the next batch is already being written.
 */
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { WalSync } from '../../../shared/wal-sync.ts';
import { migrate } from '../sqlite-migrations.ts';

/** Pages of WAL (4 KiB each) after which a commit checkpoints (SQLite's default is 1000). */
const WAL_AUTOCHECKPOINT_PAGES = 10_000;

/** Opens (creating if need be) the cloud database at `path` and brings its schema up to date. */
export function openCloudDatabase(path: string): Database {
  const db = new BetterSqlite3(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  // Checkpoint every ~40 MB of WAL instead of ~4 MB. An ingest batch dirties a page of the
  // person index per passage (random keys), so at the default nearly every commit paid a
  // checkpoint and its fsync; batching them writes each hot page back once per checkpoint.
  db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

/**
 * Group commit: one fsync covers every commit made before it started, so callers arriving while
 * an fsync runs share the next one instead of each paying their own.
 */
export class GroupCommit {
  /** Undefined for `:memory:`, which has no file to make durable. */
  private readonly walSync: WalSync | undefined;
  /** The fsync running now, and the callers that arrived while it ran (they need the next one). */
  private syncing: Promise<void> | undefined;
  private nextSync: Promise<void> | undefined;

  constructor(path: string) {
    this.walSync = path === ':memory:' || path === '' ? undefined : new WalSync(`${path}-wal`);
  }

  durable(): Promise<void> {
    const walSync = this.walSync;
    if (!walSync) return Promise.resolve();
    if (!this.syncing) {
      this.syncing = this.fsync(walSync).finally(() => {
        this.syncing = undefined;
      });
      return this.syncing;
    }
    this.nextSync ??= this.syncing
      .catch(() => undefined)
      .then(() => {
        this.nextSync = undefined;
        return this.durable();
      });
    return this.nextSync;
  }

  /** Waits for the fsyncs under way, then releases the WAL file. */
  async close(): Promise<void> {
    await this.syncing?.catch(() => undefined);
    await this.nextSync?.catch(() => undefined);
    this.walSync?.close();
  }

  private fsync(walSync: WalSync): Promise<void> {
    return new Promise((resolve, reject) => walSync.sync((error) => (error ? reject(error) : resolve())));
  }
}
