/** The alarm book of the engine the cloud runs on (cloud/store/engine.ts). */
import type { StoreEngine } from '../store/engine.ts';
import { PgAlarmBook } from './pg-alarm-book.ts';
import type { AlarmBook } from './alarm-book.ts';
import { SqliteAlarmBook } from './sqlite-alarm-book.ts';

/** The alarm book on the cloud's database, its acknowledgement table created if need be. */
export function openAlarmBook(engine: StoreEngine): AlarmBook {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteAlarmBook(engine.db).start();
    case 'postgres':
      return new PgAlarmBook(engine.pool);
  }
}
