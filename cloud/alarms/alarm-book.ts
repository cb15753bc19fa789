/**
 * Alarm acknowledgements (docs/web.md): an alarm stays on every console of its
 * compound until a guard or manager acknowledges it, and the acknowledgement is persisted so a
 * reload or a second console sees the same state.
 *
 * The alarms themselves are the store's (`alarms` table, written by ingest); this book keeps only
 * who acknowledged which alarm, in its own table with its own version table
 * (`alarm_ack_migrations`) so the store's migration numbering stays the store's alone. A trigger
 * drops an acknowledgement when retention deletes its alarm.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { AlarmKind } from '../../shared/enums.ts';
import { type Migration, runMigrations } from '../store/migration-runner.ts';

export interface BookedAlarm {
  id: number;
  gateId: string;
  compoundId: string;
  kind: AlarmKind;
  ts: number;
  detail: string;
  receivedAt: number;
  ack: { by: string; at: number; note: string | null } | null;
}

export interface AlarmListQuery {
  compoundId?: string;
  /** `open`: not yet acknowledged (default); `all`: both. */
  state: 'open' | 'all';
  limit: number;
}

export type AcknowledgeResult =
  | { outcome: 'acknowledged'; alarm: BookedAlarm }
  | { outcome: 'already-acknowledged'; alarm: BookedAlarm }
  | { outcome: 'not-found' };

export interface AlarmBook {
  list(query: AlarmListQuery): Promise<BookedAlarm[]>;
  get(id: number): Promise<BookedAlarm | undefined>;
  /** Idempotent: a second acknowledgement keeps the first one's author and time. */
  acknowledge(id: number, by: string, at: number, note: string | null): Promise<AcknowledgeResult>;
}

export const ALARM_ACK_MIGRATIONS: readonly Migration[] = [
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

type Row = Record<string, unknown>;

const SELECT_ALARM = `SELECT a.id, a.gate_id, a.compound_id, a.kind, a.ts, a.detail, a.received_at,
  k.acked_by, k.acked_at, k.note FROM alarms a LEFT JOIN alarm_acks k ON k.alarm_id = a.id`;

function alarmOfRow(r: Row): BookedAlarm {
  return {
    id: Number(r.id),
    gateId: String(r.gate_id),
    compoundId: String(r.compound_id),
    kind: r.kind as AlarmKind,
    ts: Number(r.ts),
    detail: String(r.detail),
    receivedAt: Number(r.received_at),
    ack:
      r.acked_by === null || r.acked_by === undefined
        ? null
        : { by: String(r.acked_by), at: Number(r.acked_at), note: r.note === null ? null : String(r.note) },
  };
}

/** The SQLite alarm book on the store's connection (`SqliteCloudStore.db`). */
export class SqliteAlarmBook implements AlarmBook {
  private stmt: Record<string, Statement> | undefined;

  constructor(private readonly db: Database) {}

  /** Creates the acknowledgement table if needed and prepares the statements. */
  start(): void {
    runMigrations(this.db, 'alarm_ack_migrations', ALARM_ACK_MIGRATIONS);
    const p = (sql: string) => this.db.prepare(sql);
    // Newest first over alarms_by_ts; open alarms are few, so the anti-join filter stays cheap.
    this.stmt = {
      openInCompound: p(`${SELECT_ALARM} WHERE a.compound_id = ? AND k.alarm_id IS NULL ORDER BY a.ts DESC LIMIT ?`),
      allInCompound: p(`${SELECT_ALARM} WHERE a.compound_id = ? ORDER BY a.ts DESC LIMIT ?`),
      openEverywhere: p(`${SELECT_ALARM} WHERE k.alarm_id IS NULL ORDER BY a.ts DESC LIMIT ?`),
      allEverywhere: p(`${SELECT_ALARM} ORDER BY a.ts DESC LIMIT ?`),
      byId: p(`${SELECT_ALARM} WHERE a.id = ?`),
      insertAck: p('INSERT OR IGNORE INTO alarm_acks (alarm_id, acked_by, acked_at, note) VALUES (?, ?, ?, ?)'),
    };
  }

  private get statements(): Record<string, Statement> {
    if (!this.stmt) throw new Error('SqliteAlarmBook.start() was not called');
    return this.stmt;
  }

  async list(query: AlarmListQuery): Promise<BookedAlarm[]> {
    const s = this.statements;
    const rows =
      query.compoundId === undefined
        ? (query.state === 'open' ? s.openEverywhere! : s.allEverywhere!).all(query.limit)
        : (query.state === 'open' ? s.openInCompound! : s.allInCompound!).all(query.compoundId, query.limit);
    return (rows as Row[]).map(alarmOfRow);
  }

  async get(id: number): Promise<BookedAlarm | undefined> {
    const row = this.statements.byId!.get(id) as Row | undefined;
    return row ? alarmOfRow(row) : undefined;
  }

  async acknowledge(id: number, by: string, at: number, note: string | null): Promise<AcknowledgeResult> {
    const s = this.statements;
    const existing = s.byId!.get(id) as Row | undefined;
    if (!existing) return { outcome: 'not-found' };
    const inserted = s.insertAck!.run(id, by, at, note).changes === 1;
    const alarm = alarmOfRow(s.byId!.get(id) as Row);
    return { outcome: inserted ? 'acknowledged' : 'already-acknowledged', alarm };
  }
}
