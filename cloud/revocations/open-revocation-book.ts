/** The revocation book of the engine the cloud runs on (cloud/store/engine.ts). */
import type { StoreEngine } from '../store/engine.ts';
import { PgRevocationBook } from './pg-revocation-book.ts';
import type { RevocationBook } from './revocation-book.ts';
import { SqliteRevocationBook } from './sqlite-revocation-book.ts';

/** The revocation book on the cloud's database, its tables created if need be. */
export function openRevocationBook(engine: StoreEngine): RevocationBook {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteRevocationBook(engine.db).start();
    case 'postgres':
      return new PgRevocationBook(engine.pool);
  }
}
