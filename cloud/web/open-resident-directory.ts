/** The resident directory of the engine the cloud runs on (cloud/store/engine.ts). */
import { type StoreEngine, UnsupportedEngineError } from '../store/engine.ts';
import type { ResidentDirectory } from './resident-directory.ts';
import { SqliteResidentDirectory } from './sqlite-resident-directory.ts';

export function openResidentDirectory(engine: StoreEngine): ResidentDirectory {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteResidentDirectory(engine.db);
    default:
      throw new UnsupportedEngineError('resident directory', engine.kind);
  }
}
