/**
 * What gates report and are told, on SQLite: the latest status per gate with an uptime history,
 * alarms, and the commands sent to a gate with their results — and the retention of all three.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { CommandKind, Mode } from '../../../shared/enums.ts';
import type { GateStatus } from '../../../shared/schemas/mqtt.ts';
import type { CommandRecord, GateStatusRecord, StoredAlarm } from '../store.ts';
import { type Flag, flag } from './rows.ts';
import {
  bool,
  type CommandRow,
  commandOfRow,
  type StatusRow,
  type StoredAlarmRow,
  statusOfRow,
  storedAlarmOfRow,
} from '../store-rows.ts';

export class SqliteGateActivityTables {
  private readonly getStatus: Statement<[string], StatusRow>;
  private readonly upsertStatus: Statement<[string, string, string, Flag, Mode, number]>;
  private readonly lastHistoryTs: Statement<[string], number | null>;
  private readonly insertHistory: Statement<[string, string, number, Flag, Mode]>;
  private readonly history: Statement<[string, number, number], { ts: number; online: Flag; mode: Mode }>;
  private readonly listStatuses: Statement<[], StatusRow>;
  private readonly listStatusesOf: Statement<[string], StatusRow>;
  private readonly insertAlarm: Statement<[string, string, string, number, string, number]>;
  private readonly recentAlarmRows: Statement<[string, number], StoredAlarmRow>;
  private readonly insertCommand: Statement<[string, string, string, string | null, string | null, string, number]>;
  private readonly commandResult: Statement<[Flag, string | null, number, string, string], CommandKind>;
  private readonly recentCommandRows: Statement<[string, number], CommandRow>;
  private readonly purgeAlarms: Statement<[number, number]>;
  private readonly purgeStatusHistory: Statement<[number, number]>;
  private readonly purgeCommands: Statement<[number, number]>;

  constructor(private readonly db: Database) {
    this.getStatus = db.prepare('SELECT * FROM gate_status WHERE gate_id = ?');
    this.upsertStatus = db.prepare(`INSERT INTO gate_status (gate_id, compound_id, status, online, mode, received_at)
      VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (gate_id) DO UPDATE SET compound_id = excluded.compound_id,
      status = excluded.status, online = excluded.online, mode = excluded.mode, received_at = excluded.received_at`);
    this.lastHistoryTs = db
      .prepare<[string], number | null>('SELECT MAX(ts) AS ts FROM gate_status_history WHERE gate_id = ?')
      .pluck();
    this.insertHistory = db.prepare(
      'INSERT INTO gate_status_history (gate_id, compound_id, ts, online, mode) VALUES (?, ?, ?, ?, ?)',
    );
    this.history = db.prepare(
      'SELECT ts, online, mode FROM gate_status_history WHERE gate_id = ? AND ts >= ? AND ts < ? ORDER BY ts',
    );
    this.listStatuses = db.prepare('SELECT * FROM gate_status ORDER BY gate_id');
    this.listStatusesOf = db.prepare('SELECT * FROM gate_status WHERE compound_id = ? ORDER BY gate_id');
    this.insertAlarm = db.prepare(
      'INSERT INTO alarms (gate_id, compound_id, kind, ts, detail, received_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.recentAlarmRows = db.prepare('SELECT * FROM alarms WHERE gate_id = ? ORDER BY ts DESC, id DESC LIMIT ?');
    this.insertCommand = db.prepare(`INSERT INTO commands (cmd_id, gate_id, kind, direction, reason, issued_by,
      issued_at) VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.commandResult = db
      .prepare<[Flag, string | null, number, string, string], CommandKind>(`UPDATE commands
        SET result_ok = ?, result_error = ?, result_at = ? WHERE cmd_id = ? AND gate_id = ? RETURNING kind`)
      .pluck();
    this.recentCommandRows = db.prepare(
      'SELECT * FROM commands WHERE gate_id = ? ORDER BY issued_at DESC, cmd_id LIMIT ?',
    );
    this.purgeAlarms = db.prepare(
      'DELETE FROM alarms WHERE id IN (SELECT id FROM alarms WHERE ts < ? ORDER BY ts LIMIT ?)',
    );
    this.purgeStatusHistory = db.prepare(
      'DELETE FROM gate_status_history WHERE id IN (SELECT id FROM gate_status_history WHERE ts < ? ORDER BY ts LIMIT ?)',
    );
    this.purgeCommands = db.prepare(
      'DELETE FROM commands WHERE cmd_id IN (SELECT cmd_id FROM commands WHERE issued_at < ? ORDER BY issued_at LIMIT ?)',
    );
  }

  /** See `GateActivityStore.recordStatus` for how a history row's time is chosen. */
  recordStatus(gateId: string, compoundId: string, status: GateStatus, receivedAt: number, retained: boolean): void {
    this.db.transaction(() => {
      const previous = this.getStatus.get(gateId);
      if (!previous || bool(previous.online) !== status.online || previous.mode !== status.mode) {
        const last = this.lastHistoryTs.get(gateId) ?? -Infinity;
        let ts = status.ts;
        if (!status.online) ts = Math.max(ts, retained ? last : receivedAt);
        ts = Math.max(ts, last);
        this.insertHistory.run(gateId, compoundId, ts, flag(status.online), status.mode);
      }
      this.upsertStatus.run(gateId, compoundId, JSON.stringify(status), flag(status.online), status.mode, receivedAt);
    })();
  }

  latestStatus(gateId: string): GateStatusRecord | undefined {
    const row = this.getStatus.get(gateId);
    return row ? statusOfRow(row) : undefined;
  }

  latestStatuses(compoundId?: string): GateStatusRecord[] {
    const rows = compoundId === undefined ? this.listStatuses.all() : this.listStatusesOf.all(compoundId);
    return rows.map(statusOfRow);
  }

  statusHistory(gateId: string, from: number, to: number): { ts: number; online: boolean; mode: Mode }[] {
    return this.history.all(gateId, from, to).map((r) => ({ ts: Number(r.ts), online: bool(r.online), mode: r.mode }));
  }

  recordAlarm(a: StoredAlarm): void {
    this.insertAlarm.run(a.gateId, a.compoundId, a.kind, a.ts, a.detail, a.receivedAt);
  }

  recentAlarms(gateId: string, limit: number): StoredAlarm[] {
    return this.recentAlarmRows.all(gateId, limit).map(storedAlarmOfRow);
  }

  recordCommand(c: CommandRecord): void {
    this.insertCommand.run(c.cmdId, c.gateId, c.kind, c.direction, c.reason, c.by, c.issuedAt);
  }

  recordCommandResult(gateId: string, cmdId: string, ok: boolean, error: string | null, at: number) {
    return this.commandResult.get(flag(ok), error, at, cmdId, gateId);
  }

  recentCommands(gateId: string, limit: number): CommandRecord[] {
    return this.recentCommandRows.all(gateId, limit).map(commandOfRow);
  }

  /** Deletes up to `limit` rows of each table older than `before`; call inside a transaction. */
  purge(before: number, limit: number): number {
    return (
      this.purgeAlarms.run(before, limit).changes +
      this.purgeStatusHistory.run(before, limit).changes +
      this.purgeCommands.run(before, limit).changes
    );
  }
}
