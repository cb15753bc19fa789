/** The supply store of the engine the cloud runs on (cloud/store/engine.ts). */
import type { StoreEngine } from '../store/engine.ts';
import { PgSupplyStore } from './pg-supply-store.ts';
import type { SupplyStore } from './supply-store.ts';
import { SqliteSupplyStore } from './sqlite-supply-store.ts';

/** The crisis supplies' storage on the cloud's database, its tables created if need be. */
export function openSupplyStore(engine: StoreEngine): SupplyStore {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteSupplyStore(engine.db);
    case 'postgres':
      return new PgSupplyStore(engine.pool);
  }
}
