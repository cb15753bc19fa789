/** The exit quota's store on the engine the cloud runs on (cloud/store/engine.ts). */
import type { StoreEngine } from '../store/engine.ts';
import type { ExitQuotaStore } from './exit-quota-store.ts';
import { PgExitQuotaStore } from './pg-exit-quota-store.ts';
import { SqliteExitQuotaStore } from './sqlite-exit-quota-store.ts';

export function openExitQuotaStore(engine: StoreEngine): ExitQuotaStore {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteExitQuotaStore(engine.db);
    case 'postgres':
      return new PgExitQuotaStore(engine.pool);
  }
}
