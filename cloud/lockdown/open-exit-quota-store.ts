/** The exit quota's store on the engine the cloud runs on (cloud/store/engine.ts). */
import { type StoreEngine, UnsupportedEngineError } from '../store/engine.ts';
import type { ExitQuotaStore } from './exit-quota-store.ts';
import { SqliteExitQuotaStore } from './sqlite-exit-quota-store.ts';

export function openExitQuotaStore(engine: StoreEngine): ExitQuotaStore {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteExitQuotaStore(engine.db);
    default:
      // Its uses are recorded inside the ingest transaction, which the PostgreSQL store does not hand to hooks yet.
      throw new UnsupportedEngineError('exit quota', engine.kind);
  }
}
