/** The resident side's storage of the engine the cloud runs on (cloud/store/engine.ts). */
import type { StoreEngine } from '../store/engine.ts';
import { PgResidentSideStore } from './pg-resident-side-store.ts';
import type { ResidentSideStore } from './resident-side-store.ts';
import { SqliteResidentSideStore } from './sqlite-resident-side-store.ts';

/** The resident side's storage on the cloud's database, its tables created if need be. */
export function openResidentSideStore(engine: StoreEngine): ResidentSideStore {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteResidentSideStore(engine.db);
    case 'postgres':
      return new PgResidentSideStore(engine.pool);
  }
}
