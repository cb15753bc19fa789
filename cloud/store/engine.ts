/**
 * Which database a cloud runs on, as the storage implementations of its parts see it
 * (docs/cloud.md, "Store"). The rest of the cloud speaks only the async interfaces — `CloudStore`
 * and each extension's own (alarm acknowledgements, revocation store, sessions, exit quota, statistics, …); an
 * extension's factory picks the implementation for the engine and hands it the handle. Nothing
 * else touches the handle.
 */
import type { Database } from 'better-sqlite3';
import type pg from 'pg';

export type StoreEngine =
  /** The embedded file: one better-sqlite3 connection, shared by the store and every extension. */
  | { readonly kind: 'sqlite'; readonly db: Database }
  /** A PostgreSQL server: one pool per cloud instance. */
  | { readonly kind: 'postgres'; readonly pool: pg.Pool };

/** An extension's storage was asked for on an engine it has no implementation for. */
export class UnsupportedEngineError extends Error {
  constructor(part: string, engine: StoreEngine['kind']) {
    super(`${part}: no ${engine} implementation`);
  }
}
