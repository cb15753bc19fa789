/** The session store of the engine the cloud runs on (cloud/store/engine.ts). */
import type { StoreEngine } from '../store/engine.ts';
import { PgSessionStore } from './pg-session-store.ts';
import type { SessionStore } from './session-store.ts';
import { SqliteSessionStore } from './sqlite-session-store.ts';

/** The sessions on the cloud's database, their tables created if need be. */
export function openSessionStore(engine: StoreEngine): SessionStore {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteSessionStore(engine.db);
    case 'postgres':
      return new PgSessionStore(engine.pool);
  }
}
