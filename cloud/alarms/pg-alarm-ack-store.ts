/**
 * The alarm acknowledgement store on PostgreSQL: `alarm_acks` beside the store's `alarms`, versioned in
 * `alarm_ack_migrations`; an acknowledgement goes with its alarm when retention deletes it (a
 * cascading foreign key, where SQLite has a trigger).
 */
import type pg from 'pg';
import type { Migration } from '../store/migration-runner.ts';
import { migratedOnFirstUse } from '../store/postgres/pg-migrated.ts';
import { one, run, statement } from '../store/postgres/pg-pool.ts';
import { type AlarmRow, alarmOfRow, SELECT_ALARM } from './alarm-ack-rows.ts';
import type { AcknowledgeResult, AlarmAckStore, AlarmListQuery, AlarmWithAck } from './alarm-ack-store.ts';

export const PG_ALARM_ACK_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'alarm acknowledgements',
    sql: `
CREATE TABLE alarm_acks (
  alarm_id bigint PRIMARY KEY REFERENCES alarms(id) ON DELETE CASCADE,
  acked_by text NOT NULL,
  acked_at bigint NOT NULL,
  note text
);
`,
  },
];

// Newest first over alarms_by_ts; open alarms are few, so the anti-join filter stays cheap.
const openInCompound = statement<[string, number], AlarmRow>(
  'alarm_open_in_compound',
  `${SELECT_ALARM} WHERE a.compound_id = $1 AND k.alarm_id IS NULL ORDER BY a.ts DESC, a.id DESC LIMIT $2`,
);
const allInCompound = statement<[string, number], AlarmRow>(
  'alarm_all_in_compound',
  `${SELECT_ALARM} WHERE a.compound_id = $1 ORDER BY a.ts DESC, a.id DESC LIMIT $2`,
);
const openEverywhere = statement<[number], AlarmRow>(
  'alarm_open_everywhere',
  `${SELECT_ALARM} WHERE k.alarm_id IS NULL ORDER BY a.ts DESC, a.id DESC LIMIT $1`,
);
const allEverywhere = statement<[number], AlarmRow>(
  'alarm_all_everywhere',
  `${SELECT_ALARM} ORDER BY a.ts DESC, a.id DESC LIMIT $1`,
);
const byId = statement<[number], AlarmRow>('alarm_by_id', `${SELECT_ALARM} WHERE a.id = $1`);
const insertAck = statement<[number, string, number, string | null]>(
  'alarm_ack',
  `INSERT INTO alarm_acks (alarm_id, acked_by, acked_at, note) SELECT $1, $2, $3, $4
   WHERE EXISTS (SELECT 1 FROM alarms WHERE id = $1) ON CONFLICT (alarm_id) DO NOTHING`,
);

export class PgAlarmAckStore implements AlarmAckStore {
  private readonly ready: () => Promise<pg.Pool>;

  constructor(pool: pg.Pool) {
    this.ready = migratedOnFirstUse(pool, 'alarm_ack_migrations', PG_ALARM_ACK_MIGRATIONS);
  }

  async list(query: AlarmListQuery): Promise<AlarmWithAck[]> {
    const pool = await this.ready();
    const { rows } =
      query.compoundId === undefined
        ? await run(pool, query.state === 'open' ? openEverywhere : allEverywhere, [query.limit])
        : await run(pool, query.state === 'open' ? openInCompound : allInCompound, [query.compoundId, query.limit]);
    return rows.map(alarmOfRow);
  }

  async get(id: number): Promise<AlarmWithAck | undefined> {
    const row = await one(await this.ready(), byId, [id]);
    return row ? alarmOfRow(row) : undefined;
  }

  async acknowledge(id: number, by: string, at: number, note: string | null): Promise<AcknowledgeResult> {
    const pool = await this.ready();
    const inserted = (await run(pool, insertAck, [id, by, at, note])).rowCount === 1;
    const row = await one(pool, byId, [id]);
    if (!row) return { outcome: 'not-found' };
    return { outcome: inserted ? 'acknowledged' : 'already-acknowledged', alarm: alarmOfRow(row) };
  }
}
