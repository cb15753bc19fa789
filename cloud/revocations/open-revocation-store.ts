/** The revocation store of the engine the cloud runs on (cloud/store/engine.ts). */
import type { StoreEngine } from '../store/engine.ts';
import { PgRevocationStore } from './pg-revocation-store.ts';
import type { RevocationStore } from './revocation-store.ts';
import { SqliteRevocationStore } from './sqlite-revocation-store.ts';

/** The revocation store on the cloud's database, its tables created if need be. */
export function openRevocationStore(engine: StoreEngine): RevocationStore {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteRevocationStore(engine.db).start();
    case 'postgres':
      return new PgRevocationStore(engine.pool);
  }
}
