/** The residents' identity columns on the engine the cloud runs on (cloud/store/engine.ts). */
import { type StoreEngine, UnsupportedEngineError } from '../store/engine.ts';
import type { IdentityKeys } from './pepper-rotation.ts';
import { SqliteIdentityKeys } from './sqlite-identity-keys.ts';

export function openIdentityKeys(engine: StoreEngine): IdentityKeys {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteIdentityKeys(engine.db);
    default:
      throw new UnsupportedEngineError('identity keys', engine.kind);
  }
}
