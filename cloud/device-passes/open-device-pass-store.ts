/** The device pass store of the engine the cloud runs on (cloud/store/engine.ts). */
import type { StoreEngine } from '../store/engine.ts';
import type { DevicePassStore } from './device-pass-store.ts';
import { PgDevicePassStore } from './pg-device-pass-store.ts';
import { SqliteDevicePassStore } from './sqlite-device-pass-store.ts';

/** The device pass store on the cloud's database, its tables created if need be. */
export function openDevicePassStore(engine: StoreEngine): DevicePassStore {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteDevicePassStore(engine.db).start();
    case 'postgres':
      return new PgDevicePassStore(engine.pool);
  }
}
