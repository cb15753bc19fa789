/**
 * The store backends every store contract test runs on (`describe.each(storeBackends())`): the
 * embedded SQLite store and the PostgreSQL store on a real server (testkit/postgres.ts). Each
 * `open()` is a fresh, empty store; `reopen()` opens a second store on the data of the last one
 * (a restart). PostgreSQL reuses one database per test file and empties it between stores
 * (every row deleted, the version tables of the store and of the extensions kept): CREATE
 * DATABASE per test would cost more than the tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresCloudStore } from '../../../cloud/store/postgres/postgres-store.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import type { CloudStore, IngestHook } from '../../../cloud/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../../testkit/postgres.ts';

export type BackendName = 'sqlite' | 'postgres';

export interface StoreBackend {
  readonly name: BackendName;
  /** A fresh, empty store (closed by `dispose` if the test does not close it). */
  open(): Promise<CloudStore>;
  /** Another store on the data of the last `open()`, as after a restart. */
  reopen(): Promise<CloudStore>;
  /** Closes what is still open and removes the files or database; for `afterAll`. */
  dispose(): Promise<void>;
}

class SqliteBackend implements StoreBackend {
  readonly name = 'sqlite' as const;
  private dir: string | undefined;
  private path = '';
  private readonly open_: CloudStore[] = [];

  async open(): Promise<CloudStore> {
    this.dir ??= await mkdtemp(join(tmpdir(), 'anxin-store-'));
    this.path = join(this.dir, `cloud-${this.open_.length}.db`);
    return this.track(new SqliteCloudStore({ path: this.path }));
  }

  async reopen(): Promise<CloudStore> {
    return this.track(new SqliteCloudStore({ path: this.path }));
  }

  private track(store: CloudStore): CloudStore {
    this.open_.push(store);
    return store;
  }

  async dispose(): Promise<void> {
    for (const store of this.open_) await store.close().catch(() => undefined);
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

class PostgresBackend implements StoreBackend {
  readonly name = 'postgres' as const;
  private db: TestDatabase | undefined;
  /** One connection for emptying the database between stores. */
  private admin: pg.Client | undefined;
  private readonly open_: CloudStore[] = [];

  async open(): Promise<CloudStore> {
    this.db ??= await createTestDatabase('store');
    for (const store of this.open_.splice(0)) await store.close().catch(() => undefined);
    const store = await this.reopen();
    if (!this.admin) {
      this.admin = new pg.Client({ connectionString: this.db.url });
      await this.admin.connect();
    }
    await emptyDatabase(this.admin);
    return store;
  }

  async reopen(): Promise<CloudStore> {
    this.db ??= await createTestDatabase('store');
    const store = await PostgresCloudStore.open({ url: this.db.url, max: 4 });
    this.open_.push(store);
    return store;
  }

  async dispose(): Promise<void> {
    for (const store of this.open_) await store.close().catch(() => undefined);
    await this.admin?.end().catch(() => undefined);
    await this.db?.drop();
  }
}

/**
 * Every row of the database deleted, the schema (and any month partitions) kept. DELETE, not
 * TRUNCATE: on a few rows it is several times faster (no new files, no exclusive locks).
 */
async function emptyDatabase(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
         AND c.relname NOT LIKE '%\\_migrations'`,
  );
  // replica: foreign keys are not checked, so the order of the deletes does not matter.
  const deletes = rows.map((r) => `DELETE FROM "${r.name}";`).join('\n');
  await client.query(`SET session_replication_role = replica;\n${deletes}`);
}

/** A hook of the backend's engine that throws inside the ingest transaction. */
export function throwingHook(engine: BackendName, message: string): IngestHook {
  const fail = (): never => {
    throw new Error(message);
  };
  return engine === 'sqlite' ? { engine, onStored: fail } : { engine, onStored: async () => fail() };
}

export function storeBackends(): StoreBackend[] {
  return [new SqliteBackend(), new PostgresBackend()];
}

/** The rows of a query written in SQL both engines read (no parameters), on whichever the store runs. */
export async function selectRows(store: CloudStore, sql: string): Promise<Record<string, unknown>[]> {
  const { engine } = store;
  if (engine.kind === 'sqlite') return engine.db.prepare(sql).all() as Record<string, unknown>[];
  return (await engine.pool.query(sql)).rows as Record<string, unknown>[];
}
