/** The supply book of the engine the cloud runs on (cloud/store/engine.ts). */
import type { StoreEngine } from '../store/engine.ts';
import { PgSupplyBook } from './pg-supply-book.ts';
import type { SupplyBook } from './supply-book.ts';
import { SqliteSupplyBook } from './sqlite-supply-book.ts';

/** The crisis supplies' storage on the cloud's database, its tables created if need be. */
export function openSupplyBook(engine: StoreEngine): SupplyBook {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteSupplyBook(engine.db);
    case 'postgres':
      return new PgSupplyBook(engine.pool);
  }
}
