/**
 * The extension point of the ingest transaction (docs/cloud.md, "Store"): what runs inside the
 * transaction that stores a batch of passages — the statistics rollups, the lockdown exit quota's
 * uses — so that it is written with its passages or not at all.
 *
 * Each engine hands its hooks the transaction itself:
 * - SQLite: the store's connection; `onStored` runs synchronously inside `db.transaction()`.
 * - PostgreSQL: the transaction's `pg.PoolClient`; `onStored` is awaited before the COMMIT. A hook
 *   writes on that client only (a query on the pool would be another transaction).
 *
 * The guarantees are the same on both:
 * - `onStored` sees only the events that were new (replayed duplicates are left out), so a hook
 *   never counts a passage twice;
 * - if it throws (or its promise rejects), the whole batch rolls back and is not acknowledged; the
 *   gates send it again;
 * - `committed()` is called once the transaction committed, never after a rollback: a hook that
 *   remembers what it wrote (to skip writing it again) may trust it only from there.
 * The acks leave after the commit (cloud/ingest/event-ingest.ts), whatever the hooks.
 *
 * A hook is built for one engine (its factory picks it from `StoreEngine`, cloud/store/engine.ts)
 * and a store refuses a hook of another engine before it starts the transaction.
 */
import type { Database } from 'better-sqlite3';
import type pg from 'pg';
import type { StoredEvent } from './stored-event.ts';

/** The gate's compound, for every gate of the batch. */
export type CompoundOf = (gateId: string) => string;

export interface SqliteIngestHook {
  readonly engine: 'sqlite';
  /** Synchronous: statements on `db` take part in the ingest transaction. Must not return a promise. */
  onStored(events: readonly StoredEvent[], compoundOf: CompoundOf, db: Database): void;
  committed?(): void;
}

export interface PgIngestHook {
  readonly engine: 'postgres';
  /**
   * Optional, before the batch's locks are taken: reads and work for every candidate of the batch
   * (e.g. the rows to write), so that less happens while the locks are held. `onStored` is then
   * called with the very same `candidates` array when every one was new (a subset otherwise: the
   * hook must not trust what it prepared for another array). Reads only, on the pool (autocommit),
   * outside the ingest transaction.
   */
  prepare?(candidates: readonly StoredEvent[], compoundOf: CompoundOf, db: Pick<pg.Pool, 'query'>): Promise<void>;
  /** Awaited inside the transaction; queries on `client` take part in it. */
  onStored(events: readonly StoredEvent[], compoundOf: CompoundOf, client: pg.PoolClient): Promise<void>;
  committed?(): void;
}

export type IngestHook = SqliteIngestHook | PgIngestHook;

/** A hook of one engine handed to a store of another. */
export class IngestHookEngineError extends Error {
  constructor(hook: IngestHook['engine'], store: IngestHook['engine']) {
    super(`ingest hook: built for ${hook}, handed to the ${store} store`);
  }
}

/** The hook for `engine`, or the error: a store calls this before it begins its transaction. */
export function hookFor<E extends IngestHook['engine']>(
  hook: IngestHook | undefined,
  engine: E,
): Extract<IngestHook, { engine: E }> | undefined {
  if (hook === undefined) return undefined;
  if (hook.engine !== engine) throw new IngestHookEngineError(hook.engine, engine);
  return hook as Extract<IngestHook, { engine: E }>;
}

/**
 * Runs a SQLite hook and makes sure it was synchronous: a promise returned inside
 * `db.transaction()` would run its writes after the COMMIT, outside the batch. Throwing rolls back.
 */
export function runSqliteHook(
  hook: SqliteIngestHook,
  events: readonly StoredEvent[],
  compoundOf: CompoundOf,
  db: Database,
): void {
  const returned: unknown = hook.onStored(events, compoundOf, db);
  if (typeof (returned as PromiseLike<unknown> | undefined)?.then === 'function') {
    (returned as Promise<unknown>).then(undefined, () => undefined);
    throw new Error('ingest hook: a SQLite hook must be synchronous (it returned a promise)');
  }
}

/** Several hooks of one engine as one, run in the order given; undefined when none is given. */
export function composeIngestHooks(hooks: readonly (IngestHook | undefined)[]): IngestHook | undefined {
  const present = hooks.filter((h): h is IngestHook => h !== undefined);
  if (present.length <= 1) return present[0];
  const engine = present[0]!.engine;
  for (const h of present) if (h.engine !== engine) throw new IngestHookEngineError(h.engine, engine);
  const committed = () => {
    for (const h of present) h.committed?.();
  };
  if (engine === 'sqlite') {
    const sqlite = present as SqliteIngestHook[];
    return {
      engine,
      onStored(events, compoundOf, db) {
        for (const h of sqlite) runSqliteHook(h, events, compoundOf, db);
      },
      committed,
    };
  }
  const postgres = present as PgIngestHook[];
  return {
    engine,
    async prepare(candidates, compoundOf, db) {
      for (const h of postgres) await h.prepare?.(candidates, compoundOf, db);
    },
    async onStored(events, compoundOf, client) {
      for (const h of postgres) await h.onStored(events, compoundOf, client);
    },
    committed,
  };
}
