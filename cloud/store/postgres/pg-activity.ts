/**
 * Gate activity (status and its history, alarms, commands), the audit log and users on PostgreSQL,
 * with the bounded purges of retention for the time-ordered tables.
 */
import { addAuditConditions } from '../store-filters.ts';
import type pg from 'pg';
import type { CommandKind, HttpRole, Mode } from '../../../shared/enums.ts';
import type { GateStatus } from '../../../shared/schemas/mqtt.ts';
import { ConflictError } from '../../cloud-errors.ts';
import { encodeCursor } from '../cursor.ts';
import type { AuditEntry, AuditQuery, CommandRecord, GateStatusRecord, StoredAlarm, User } from '../store.ts';
import { isConstraintViolation, lockKeys, one, run, statement, transaction } from './pg-pool.ts';
import {
  type AuditRow,
  auditEntryOfRow,
  type CommandRow,
  commandOfRow,
  type StatusRow,
  type StoredAlarmRow,
  statusOfRow,
  storedAlarmOfRow,
  type UserRow,
  userOfRow,
} from '../store-rows.ts';
import { PgWhere } from './pg-rows.ts';

const S = {
  getStatus: statement<[string], StatusRow>('get_status', 'SELECT * FROM gate_status WHERE gate_id = $1'),
  upsertStatus: statement<[string, string, string, boolean, Mode, number]>(
    'upsert_status',
    `INSERT INTO gate_status (gate_id, compound_id, status, online, mode, received_at) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (gate_id) DO UPDATE SET compound_id = excluded.compound_id, status = excluded.status,
       online = excluded.online, mode = excluded.mode, received_at = excluded.received_at`,
  ),
  lastHistoryTs: statement<[string], { ts: number | null }>(
    'last_history_ts',
    'SELECT MAX(ts) AS ts FROM gate_status_history WHERE gate_id = $1',
  ),
  insertHistory: statement<[string, string, number, boolean, Mode]>(
    'insert_history',
    'INSERT INTO gate_status_history (gate_id, compound_id, ts, online, mode) VALUES ($1, $2, $3, $4, $5)',
  ),
  history: statement<[string, number, number], { ts: number; online: boolean; mode: Mode }>(
    'status_history',
    'SELECT ts, online, mode FROM gate_status_history WHERE gate_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts, id',
  ),
  listStatuses: statement<[], StatusRow>('list_statuses', 'SELECT * FROM gate_status ORDER BY gate_id'),
  listStatusesOf: statement<[string], StatusRow>(
    'list_statuses_of',
    'SELECT * FROM gate_status WHERE compound_id = $1 ORDER BY gate_id',
  ),
  insertAlarm: statement<[string, string, string, number, string, number]>(
    'insert_alarm',
    'INSERT INTO alarms (gate_id, compound_id, kind, ts, detail, received_at) VALUES ($1, $2, $3, $4, $5, $6)',
  ),
  recentAlarms: statement<[string, number], StoredAlarmRow>(
    'recent_alarms',
    'SELECT * FROM alarms WHERE gate_id = $1 ORDER BY ts DESC, id DESC LIMIT $2',
  ),
  insertCommand: statement<[string, string, string, string | null, string | null, string, number]>(
    'insert_command',
    `INSERT INTO commands (cmd_id, gate_id, kind, direction, reason, issued_by, issued_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
  ),
  commandResult: statement<[boolean, string | null, number, string, string], { kind: CommandKind }>(
    'command_result',
    `UPDATE commands SET result_ok = $1, result_error = $2, result_at = $3 WHERE cmd_id = $4 AND gate_id = $5
     RETURNING kind`,
  ),
  recentCommands: statement<[string, number], CommandRow>(
    'recent_commands',
    'SELECT * FROM commands WHERE gate_id = $1 ORDER BY issued_at DESC, cmd_id LIMIT $2',
  ),
  insertAudit: statement<[number, string, string, string, string | null, string | null, string | null]>(
    'insert_audit',
    'INSERT INTO audit_log (at, actor, role, action, compound_id, target, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)',
  ),
  insertUser: statement<[string, string, HttpRole, string | null, number]>(
    'insert_user',
    'INSERT INTO users (username, password_hash, role, compound_id, created_at) VALUES ($1, $2, $3, $4, $5)',
  ),
  getUser: statement<[string], UserRow>('get_user', 'SELECT * FROM users WHERE username = $1'),
  listUsers: statement<[], UserRow>('list_users', 'SELECT * FROM users ORDER BY username'),
  setPasswordHash: statement<[string, string]>(
    'set_password_hash',
    'UPDATE users SET password_hash = $1 WHERE username = $2',
  ),
  updateUser: statement<[HttpRole, string | null, string]>(
    'update_user',
    'UPDATE users SET role = $1, compound_id = $2 WHERE username = $3',
  ),
  deleteUser: statement<[string]>('delete_user', 'DELETE FROM users WHERE username = $1'),
  purgeAlarms: statement<[number, number]>(
    'purge_alarms',
    'DELETE FROM alarms WHERE id IN (SELECT id FROM alarms WHERE ts < $1 ORDER BY ts LIMIT $2)',
  ),
  purgeStatusHistory: statement<[number, number]>(
    'purge_status_history',
    'DELETE FROM gate_status_history WHERE id IN (SELECT id FROM gate_status_history WHERE ts < $1 ORDER BY ts LIMIT $2)',
  ),
  purgeAudit: statement<[number, number]>(
    'purge_audit',
    'DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 ORDER BY at LIMIT $2)',
  ),
  purgeCommands: statement<[number, number]>(
    'purge_commands',
    `DELETE FROM commands WHERE cmd_id IN
       (SELECT cmd_id FROM commands WHERE issued_at < $1 ORDER BY issued_at LIMIT $2)`,
  ),
};

export class PgActivity {
  constructor(private readonly pool: pg.Pool) {}

  /** See `GateActivityStore.recordStatus`; a per-gate lock keeps history times monotonic across instances. */
  recordStatus(
    gateId: string,
    compoundId: string,
    status: GateStatus,
    receivedAt: number,
    options: { retained?: boolean } = {},
  ): Promise<void> {
    return transaction(this.pool, async (client) => {
      await run(client, lockKeys, [[`status:${gateId}`]]);
      const previous = await one(client, S.getStatus, [gateId]);
      if (!previous || previous.online !== status.online || previous.mode !== status.mode) {
        const last = (await one(client, S.lastHistoryTs, [gateId]))?.ts ?? Number.NEGATIVE_INFINITY;
        let ts = status.ts;
        if (!status.online) ts = Math.max(ts, options.retained ? last : receivedAt);
        ts = Math.max(ts, last);
        await run(client, S.insertHistory, [gateId, compoundId, ts, status.online, status.mode]);
      }
      await run(client, S.upsertStatus, [
        gateId,
        compoundId,
        JSON.stringify(status),
        status.online,
        status.mode,
        receivedAt,
      ]);
    });
  }

  async latestStatus(gateId: string): Promise<GateStatusRecord | undefined> {
    const row = await one(this.pool, S.getStatus, [gateId]);
    return row ? statusOfRow(row) : undefined;
  }

  async latestStatuses(compoundId?: string): Promise<GateStatusRecord[]> {
    const { rows } =
      compoundId === undefined
        ? await run(this.pool, S.listStatuses, [])
        : await run(this.pool, S.listStatusesOf, [compoundId]);
    return rows.map(statusOfRow);
  }

  async statusHistory(
    gateId: string,
    from: number,
    to: number,
  ): Promise<{ ts: number; online: boolean; mode: Mode }[]> {
    return (await run(this.pool, S.history, [gateId, from, to])).rows.map((r) => ({
      ts: r.ts,
      online: r.online,
      mode: r.mode,
    }));
  }

  async recordAlarm(a: StoredAlarm): Promise<void> {
    await run(this.pool, S.insertAlarm, [a.gateId, a.compoundId, a.kind, a.ts, a.detail, a.receivedAt]);
  }

  async recentAlarms(gateId: string, limit: number): Promise<StoredAlarm[]> {
    return (await run(this.pool, S.recentAlarms, [gateId, limit])).rows.map(storedAlarmOfRow);
  }

  async recordCommand(c: CommandRecord): Promise<void> {
    await run(this.pool, S.insertCommand, [c.cmdId, c.gateId, c.kind, c.direction, c.reason, c.by, c.issuedAt]);
  }

  async recordCommandResult(gateId: string, cmdId: string, ok: boolean, error: string | null, at: number) {
    return (await one(this.pool, S.commandResult, [ok, error, at, cmdId, gateId]))?.kind;
  }

  async recentCommands(gateId: string, limit: number): Promise<CommandRecord[]> {
    return (await run(this.pool, S.recentCommands, [gateId, limit])).rows.map(commandOfRow);
  }

  async recordAudit(e: AuditEntry): Promise<void> {
    const detail = e.detail === null ? null : JSON.stringify(e.detail);
    await run(this.pool, S.insertAudit, [e.at, e.actor, e.role, e.action, e.compoundId, e.target, detail]);
  }

  async listAudit(query: AuditQuery): Promise<{ entries: (AuditEntry & { id: number })[]; nextCursor: string | null }> {
    const where = new PgWhere();
    addAuditConditions(where, query);
    const sql = `SELECT * FROM audit_log ${where.sql()} ORDER BY id DESC LIMIT $${where.args.length + 1}`;
    const rows = (await this.pool.query(sql, [...where.args, query.limit + 1])).rows as AuditRow[];
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      entries: page.map(auditEntryOfRow),
      nextCursor: rows.length > query.limit && last ? encodeCursor([Number(last.id)]) : null,
    };
  }

  async createUser(u: User): Promise<void> {
    try {
      await run(this.pool, S.insertUser, [u.username, u.passwordHash, u.role, u.compoundId, u.createdAt]);
    } catch (err) {
      if (isConstraintViolation(err)) throw new ConflictError('user', u.username);
      throw err;
    }
  }

  async getUser(username: string): Promise<User | undefined> {
    const row = await one(this.pool, S.getUser, [username]);
    return row ? userOfRow(row) : undefined;
  }

  async listUsers(): Promise<User[]> {
    return (await run(this.pool, S.listUsers, [])).rows.map(userOfRow);
  }

  async setPasswordHash(username: string, passwordHash: string): Promise<boolean> {
    return (await run(this.pool, S.setPasswordHash, [passwordHash, username])).rowCount === 1;
  }

  async updateUser(username: string, change: { role: HttpRole; compoundId: string | null }): Promise<boolean> {
    return (await run(this.pool, S.updateUser, [change.role, change.compoundId, username])).rowCount === 1;
  }

  async deleteUser(username: string): Promise<boolean> {
    return (await run(this.pool, S.deleteUser, [username])).rowCount === 1;
  }

  /** Alarms, status history and commands older than `before`, at most `limit` rows of each. */
  async purge(before: number, limit: number): Promise<number> {
    let deleted = 0;
    for (const stmt of [S.purgeAlarms, S.purgeStatusHistory, S.purgeCommands]) {
      deleted += (await run(this.pool, stmt, [before, limit])).rowCount;
    }
    return deleted;
  }

  /** Audit entries older than the audit horizon, at most `limit`. */
  async purgeAudit(before: number, limit: number): Promise<number> {
    return (await run(this.pool, S.purgeAudit, [before, limit])).rowCount;
  }
}
