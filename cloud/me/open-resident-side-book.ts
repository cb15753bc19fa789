/** The resident side's storage of the engine the cloud runs on (cloud/store/engine.ts). */
import type { StoreEngine } from '../store/engine.ts';
import { PgResidentSideBook } from './pg-resident-side-book.ts';
import type { ResidentSideBook } from './resident-side-store.ts';
import { SqliteResidentSideBook } from './sqlite-resident-side-book.ts';

/** The resident side's storage on the cloud's database, its tables created if need be. */
export function openResidentSideBook(engine: StoreEngine): ResidentSideBook {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteResidentSideBook(engine.db);
    case 'postgres':
      return new PgResidentSideBook(engine.pool);
  }
}
