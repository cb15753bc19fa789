/** The device pass book of the engine the cloud runs on (cloud/store/engine.ts). */
import type { StoreEngine } from '../store/engine.ts';
import type { DevicePassBook } from './device-pass-book.ts';
import { PgDevicePassBook } from './pg-device-pass-book.ts';
import { SqliteDevicePassBook } from './sqlite-device-pass-book.ts';

/** The device pass book on the cloud's database, its tables created if need be. */
export function openDevicePassBook(engine: StoreEngine): DevicePassBook {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteDevicePassBook(engine.db).start();
    case 'postgres':
      return new PgDevicePassBook(engine.pool);
  }
}
