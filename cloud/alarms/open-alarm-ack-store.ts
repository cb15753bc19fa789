/** The alarm acknowledgement store of the engine the cloud runs on (cloud/store/engine.ts). */
import type { StoreEngine } from '../store/engine.ts';
import { PgAlarmAckStore } from './pg-alarm-ack-store.ts';
import type { AlarmAckStore } from './alarm-ack-store.ts';
import { SqliteAlarmAckStore } from './sqlite-alarm-ack-store.ts';

/** The alarm acknowledgement store on the cloud's database, its acknowledgement table created if need be. */
export function openAlarmAckStore(engine: StoreEngine): AlarmAckStore {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteAlarmAckStore(engine.db).start();
    case 'postgres':
      return new PgAlarmAckStore(engine.pool);
  }
}
