/** The resident directory of the engine the cloud runs on (cloud/store/engine.ts). */
import type { StoreEngine } from '../store/engine.ts';
import { PgResidentDirectory } from './pg-resident-directory.ts';
import type { ResidentDirectory } from './resident-directory.ts';
import { SqliteResidentDirectory } from './sqlite-resident-directory.ts';

export function openResidentDirectory(engine: StoreEngine): ResidentDirectory {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteResidentDirectory(engine.db);
    case 'postgres':
      return new PgResidentDirectory(engine.pool);
  }
}
