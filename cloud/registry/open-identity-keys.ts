/** The residents' identity columns on the engine the cloud runs on (cloud/store/engine.ts). */
import type { StoreEngine } from '../store/engine.ts';
import { PgIdentityKeys } from './pg-identity-keys.ts';
import type { IdentityKeys } from './pepper-rotation.ts';
import { SqliteIdentityKeys } from './sqlite-identity-keys.ts';

export function openIdentityKeys(engine: StoreEngine): IdentityKeys {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteIdentityKeys(engine.db);
    case 'postgres':
      return new PgIdentityKeys(engine.pool);
  }
}
