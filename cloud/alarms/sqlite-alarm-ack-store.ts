/**
 * The alarm acknowledgement store on SQLite, on the store's connection: `alarm_acks` beside the store's `alarms`,
 * versioned in `alarm_ack_migrations`; a trigger drops an acknowledgement when retention deletes
 * its alarm.
 */
import type { Database, Statement } from 'better-sqlite3';
import { type Migration, runMigrations } from '../store/migration-runner.ts';
import { type AlarmRow, alarmOfRow, SELECT_ALARM } from './alarm-ack-rows.ts';
import type { AcknowledgeResult, AlarmAckStore, AlarmListQuery, AlarmWithAck } from './alarm-ack-store.ts';

const ALARM_ACK_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'alarm acknowledgements',
    sql: `
CREATE TABLE alarm_acks (
  alarm_id INTEGER PRIMARY KEY,
  acked_by TEXT NOT NULL,
  acked_at INTEGER NOT NULL,
  note TEXT
);
CREATE TRIGGER alarm_acks_follow_retention AFTER DELETE ON alarms
BEGIN
  DELETE FROM alarm_acks WHERE alarm_id = OLD.id;
END;
`,
  },
];

interface Statements {
  openInCompound: Statement<[string, number], AlarmRow>;
  allInCompound: Statement<[string, number], AlarmRow>;
  openEverywhere: Statement<[number], AlarmRow>;
  allEverywhere: Statement<[number], AlarmRow>;
  byId: Statement<[number], AlarmRow>;
  insertAck: Statement<[number, string, number, string | null]>;
}

export class SqliteAlarmAckStore implements AlarmAckStore {
  private stmt: Statements | undefined;

  constructor(private readonly db: Database) {}

  /** Creates the acknowledgement table if needed and prepares the statements. */
  start(): this {
    runMigrations(this.db, 'alarm_ack_migrations', ALARM_ACK_MIGRATIONS);
    const db = this.db;
    // Newest first over alarms_by_ts; open alarms are few, so the anti-join filter stays cheap.
    this.stmt = {
      openInCompound: db.prepare(
        `${SELECT_ALARM} WHERE a.compound_id = ? AND k.alarm_id IS NULL ORDER BY a.ts DESC, a.id DESC LIMIT ?`,
      ),
      allInCompound: db.prepare(`${SELECT_ALARM} WHERE a.compound_id = ? ORDER BY a.ts DESC, a.id DESC LIMIT ?`),
      openEverywhere: db.prepare(`${SELECT_ALARM} WHERE k.alarm_id IS NULL ORDER BY a.ts DESC, a.id DESC LIMIT ?`),
      allEverywhere: db.prepare(`${SELECT_ALARM} ORDER BY a.ts DESC, a.id DESC LIMIT ?`),
      byId: db.prepare(`${SELECT_ALARM} WHERE a.id = ?`),
      insertAck: db.prepare(
        'INSERT OR IGNORE INTO alarm_acks (alarm_id, acked_by, acked_at, note) VALUES (?, ?, ?, ?)',
      ),
    };
    return this;
  }

  private get statements(): Statements {
    if (!this.stmt) throw new Error('SqliteAlarmAckStore.start() was not called');
    return this.stmt;
  }

  async list(query: AlarmListQuery): Promise<AlarmWithAck[]> {
    const s = this.statements;
    const rows =
      query.compoundId === undefined
        ? (query.state === 'open' ? s.openEverywhere : s.allEverywhere).all(query.limit)
        : (query.state === 'open' ? s.openInCompound : s.allInCompound).all(query.compoundId, query.limit);
    return rows.map(alarmOfRow);
  }

  async get(id: number): Promise<AlarmWithAck | undefined> {
    const row = this.statements.byId.get(id);
    return row ? alarmOfRow(row) : undefined;
  }

  async acknowledge(id: number, by: string, at: number, note: string | null): Promise<AcknowledgeResult> {
    const s = this.statements;
    if (!s.byId.get(id)) return { outcome: 'not-found' };
    const inserted = s.insertAck.run(id, by, at, note).changes === 1;
    const alarm = alarmOfRow(s.byId.get(id) as AlarmRow);
    return { outcome: inserted ? 'acknowledged' : 'already-acknowledged', alarm };
  }
}
