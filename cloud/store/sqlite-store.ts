/**
 * The embedded `CloudStore` on better-sqlite3: WAL journal, `synchronous=NORMAL` (a commit is
 * durable across a process crash at once), with `durable()` fsyncing the WAL off the event loop
 * (shared/wal-sync.ts) so that what ingest acknowledges also survives a power cut, while the
 * next batch is already being written (group commit). Prepared statements, migrations.
 * better-sqlite3 is synchronous; the methods are `async` only to keep the contract engine-neutral.
 */
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import type { HealthColour, HttpRole, Mode } from '../../shared/enums.ts';
import type { Change, GateSettings, GateStatus } from '../../shared/schemas/mqtt.ts';
import { ConflictError, InvalidCursorError, NotFoundError } from '../cloud-errors.ts';
import type { IngestHook } from './store.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { migrate } from './sqlite-migrations.ts';
import { WalSync } from '../../shared/wal-sync.ts';
import {
  type AuditEntry,
  type AuditQuery,
  type ChangeBatch,
  type ChangeLogRead,
  type CloudStore,
  type CommandRecord,
  type Compound,
  type EventPage,
  type EventQuery,
  type Gate,
  type GateStatusRecord,
  type HealthUpdateRow,
  type InsertEventsResult,
  type Pass,
  personRecordOf,
  type Resident,
  type ResidentQuery,
  type Snapshot,
  type StoredAlarm,
  type StoredEvent,
  type User,
} from './store.ts';

type Row = Record<string, unknown>;

/** Pages of WAL (4 KiB each) after which a commit checkpoints (SQLite's default is 1000). */
const WAL_AUTOCHECKPOINT_PAGES = 10_000;

const bool = (v: unknown) => v === 1 || v === true;
const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const strOrNull = (v: unknown) => (v === null || v === undefined ? null : String(v));

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT') === true;
}

function compoundOfRow(r: Row): Compound {
  return {
    id: String(r.id),
    name: String(r.name),
    timeZone: String(r.time_zone),
    mode: r.mode as Mode,
    modeReason: strOrNull(r.mode_reason),
    modeChangedAt: numOrNull(r.mode_changed_at),
    quotaExits: Number(r.quota_exits),
    quotaPeriodHours: Number(r.quota_period_hours),
    rev: Number(r.rev),
    createdAt: Number(r.created_at),
  };
}

function gateOfRow(r: Row): Gate {
  return {
    id: String(r.id),
    compoundId: String(r.compound_id),
    name: String(r.name),
    antiPassback: bool(r.anti_passback),
    // The column is the truth for anti-passback (it predates the settings).
    settings: {
      ...(r.settings ? (JSON.parse(String(r.settings)) as GateSettings) : {}),
      antiPassback: bool(r.anti_passback),
    },
    createdAt: Number(r.created_at),
  };
}

function residentOfRow(r: Row): Resident {
  return {
    personId: String(r.person_id),
    compoundId: String(r.compound_id),
    householdId: strOrNull(r.household_id),
    kind: r.kind as Resident['kind'],
    name: String(r.name),
    maskedName: String(r.masked_name),
    idSealed: strOrNull(r.id_sealed),
    idHash: strOrNull(r.id_hash),
    maskedIdNumber: strOrNull(r.masked_id_number),
    phone: strOrNull(r.phone),
    cards: JSON.parse(String(r.cards)) as string[],
    elderly: bool(r.elderly),
    validFrom: numOrNull(r.valid_from),
    validTo: numOrNull(r.valid_to),
    active: bool(r.active),
    health: r.health as HealthColour,
    healthTs: numOrNull(r.health_ts),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function eventOfRow(r: Row): StoredEvent {
  const event: StoredEvent = {
    gateId: String(r.gate_id),
    seq: Number(r.seq),
    ts: Number(r.ts),
    direction: r.direction as StoredEvent['direction'],
    method: r.method as StoredEvent['method'],
    result: r.result as StoredEvent['result'],
    reason: r.reason as StoredEvent['reason'],
    health: r.health as StoredEvent['health'],
    mode: r.mode as StoredEvent['mode'],
    passed: r.passed === null ? null : bool(r.passed),
    decisionMs: Number(r.decision_ms),
    compoundId: String(r.compound_id),
    receivedAt: Number(r.received_at),
  };
  if (r.person_id !== null) event.personId = String(r.person_id);
  if (r.id_hash !== null) event.idHash = String(r.id_hash);
  if (r.pass_id !== null) event.passId = String(r.pass_id);
  if (r.guard !== null) event.guard = String(r.guard);
  if (r.open_reason !== null && r.open_reason !== undefined) event.openReason = String(r.open_reason);
  return event;
}

function passOfRow(r: Row): Pass {
  return {
    passId: String(r.pass_id),
    personId: String(r.person_id),
    compoundId: String(r.compound_id),
    kind: r.kind as Pass['kind'],
    notBefore: Number(r.not_before),
    expiresAt: Number(r.expires_at),
    useLimit: numOrNull(r.use_limit),
    text: String(r.text),
    issuedBy: String(r.issued_by),
    issuedAt: Number(r.issued_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

function commandOfRow(r: Row): CommandRecord {
  return {
    cmdId: String(r.cmd_id),
    gateId: String(r.gate_id),
    kind: r.kind as CommandRecord['kind'],
    direction: strOrNull(r.direction) as CommandRecord['direction'],
    reason: strOrNull(r.reason),
    by: String(r.issued_by),
    issuedAt: Number(r.issued_at),
    result:
      r.result_at === null
        ? null
        : { ok: bool(r.result_ok), error: strOrNull(r.result_error), at: Number(r.result_at) },
  };
}

function cursorTuple(cursor: string | undefined, shape: ('number' | 'string')[]): (string | number)[] | undefined {
  if (cursor === undefined) return undefined;
  const parts = decodeCursor(cursor);
  if (!parts || parts.length !== shape.length || parts.some((p, i) => typeof p !== shape[i])) {
    throw new InvalidCursorError();
  }
  return parts;
}

/** AND-ed conditions with their parameters, built up filter by filter. SQL stays parameterised. */
class WhereClause {
  private readonly parts: string[] = [];
  readonly args: unknown[] = [];
  add(condition: string, ...args: unknown[]): void {
    this.parts.push(condition);
    this.args.push(...args);
  }
  sql(): string {
    return this.parts.length ? `WHERE ${this.parts.join(' AND ')}` : '';
  }
  /** A copy with one more condition. */
  with(condition: string, ...args: unknown[]): WhereClause {
    const copy = new WhereClause();
    copy.add(condition, ...args);
    copy.parts.push(...this.parts);
    copy.args.push(...this.args);
    return copy;
  }
}

export interface SqliteStoreOptions {
  /** File path, or `:memory:` for tests. */
  path: string;
}

export class SqliteCloudStore implements CloudStore {
  /** The connection; an `IngestHook` may run its own statements on it inside the ingest transaction. */
  readonly db: Database;
  private readonly stmt: Record<string, Statement>;
  /** Undefined for `:memory:`, which has no file to make durable. */
  private readonly walSync: WalSync | undefined;
  /** The fsync running now, and the callers that arrived while it ran (they need the next one). */
  private syncing: Promise<void> | undefined;
  private nextSync: Promise<void> | undefined;

  constructor(options: SqliteStoreOptions) {
    this.db = new BetterSqlite3(options.path);
    this.walSync = options.path === ':memory:' || options.path === '' ? undefined : new WalSync(`${options.path}-wal`);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    // Checkpoint every ~40 MB of WAL instead of ~4 MB. An ingest batch dirties a page of the
    // person index per passage (random keys), so at the default nearly every commit paid a
    // checkpoint and its fsync; batching them writes each hot page back once per checkpoint.
    this.db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
    const p = (sql: string) => this.db.prepare(sql);
    this.stmt = {
      // Positional parameters bound from one reused array: no object per row (the hot path of ingest).
      insertEvent: p(`INSERT INTO events (gate_id, seq, compound_id, ts, direction, method, result, reason, person_id,
        id_hash, pass_id, health, mode, passed, guard, decision_ms, received_at, open_reason)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (gate_id, seq) DO NOTHING`),
      getAck: p('SELECT up_to FROM gate_acks WHERE gate_id = ?'),
      setAck: p(
        'INSERT INTO gate_acks (gate_id, up_to) VALUES (?, ?) ON CONFLICT (gate_id) DO UPDATE SET up_to = excluded.up_to',
      ),
      seqsAfter: p('SELECT seq FROM events WHERE gate_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
      hasSeq: p('SELECT 1 FROM events WHERE gate_id = ? AND seq = ?'),
      insertCompound: p(`INSERT INTO compounds (id, name, time_zone, created_at) VALUES (?, ?, ?, ?)`),
      getCompound: p('SELECT * FROM compounds WHERE id = ?'),
      listCompounds: p('SELECT * FROM compounds ORDER BY id'),
      setMode: p('UPDATE compounds SET mode = ?, mode_reason = ?, mode_changed_at = ? WHERE id = ?'),
      setQuota: p('UPDATE compounds SET quota_exits = ?, quota_period_hours = ? WHERE id = ?'),
      bumpRev: p('UPDATE compounds SET rev = rev + ? WHERE id = ? RETURNING rev'),
      appendChange: p('INSERT INTO change_log (compound_id, rev, change) VALUES (?, ?, ?)'),
      changesAfter: p('SELECT rev, change FROM change_log WHERE compound_id = ? AND rev > ? ORDER BY rev LIMIT ?'),
      oldestRev: p('SELECT MIN(rev) AS rev FROM change_log WHERE compound_id = ?'),
      insertGate: p(
        'INSERT INTO gates (id, compound_id, name, anti_passback, settings, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      setGateSettings: p('UPDATE gates SET anti_passback = ?, settings = ? WHERE id = ? RETURNING compound_id'),
      getGate: p('SELECT * FROM gates WHERE id = ?'),
      listGates: p('SELECT * FROM gates ORDER BY id'),
      listGatesOf: p('SELECT * FROM gates WHERE compound_id = ? ORDER BY id'),
      upsertResident:
        p(`INSERT INTO residents (person_id, compound_id, household_id, kind, name, masked_name, id_sealed,
        id_hash, masked_id_number, phone, cards, elderly, valid_from, valid_to, active, health, health_ts, created_at,
        updated_at) VALUES (@personId, @compoundId, @householdId, @kind, @name, @maskedName, @idSealed, @idHash,
        @maskedIdNumber, @phone, @cards, @elderly, @validFrom, @validTo, @active, @health, @healthTs, @createdAt,
        @updatedAt)
        ON CONFLICT (person_id) DO UPDATE SET compound_id = excluded.compound_id, household_id = excluded.household_id,
        kind = excluded.kind, name = excluded.name, masked_name = excluded.masked_name, id_sealed = excluded.id_sealed,
        id_hash = excluded.id_hash, masked_id_number = excluded.masked_id_number, phone = excluded.phone,
        cards = excluded.cards, elderly = excluded.elderly, valid_from = excluded.valid_from,
        valid_to = excluded.valid_to, active = excluded.active, updated_at = excluded.updated_at`),
      getResident: p('SELECT * FROM residents WHERE person_id = ?'),
      residentsByIdHash: p('SELECT * FROM residents WHERE id_hash = ?'),
      maskedName: p('SELECT masked_name FROM residents WHERE person_id = ?'),
      deleteResident: p('DELETE FROM residents WHERE person_id = ? RETURNING compound_id'),
      getHealth: p('SELECT compound_id, health_ts FROM residents WHERE person_id = ?'),
      setHealth: p('UPDATE residents SET health = ?, health_ts = ?, updated_at = ? WHERE person_id = ?'),
      insertPass: p(`INSERT INTO passes (pass_id, person_id, compound_id, kind, not_before, expires_at, use_limit, text,
        issued_by, issued_at, revoked_at) VALUES (@passId, @personId, @compoundId, @kind, @notBefore, @expiresAt,
        @useLimit, @text, @issuedBy, @issuedAt, @revokedAt)`),
      getPass: p('SELECT * FROM passes WHERE pass_id = ?'),
      revokePass: p('UPDATE passes SET revoked_at = ? WHERE pass_id = ? AND revoked_at IS NULL'),
      residentsOf: p('SELECT * FROM residents WHERE compound_id = ? ORDER BY person_id'),
      revokedPassesOf: p(
        'SELECT pass_id, revoked_at FROM passes WHERE compound_id = ? AND revoked_at IS NOT NULL AND expires_at > ?',
      ),
      getStatus: p('SELECT * FROM gate_status WHERE gate_id = ?'),
      upsertStatus: p(`INSERT INTO gate_status (gate_id, compound_id, status, online, mode, received_at)
        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (gate_id) DO UPDATE SET compound_id = excluded.compound_id,
        status = excluded.status, online = excluded.online, mode = excluded.mode, received_at = excluded.received_at`),
      lastStatusHistoryTs: p('SELECT MAX(ts) AS ts FROM gate_status_history WHERE gate_id = ?'),
      insertStatusHistory: p(
        'INSERT INTO gate_status_history (gate_id, compound_id, ts, online, mode) VALUES (?, ?, ?, ?, ?)',
      ),
      statusHistory: p(
        'SELECT ts, online, mode FROM gate_status_history WHERE gate_id = ? AND ts >= ? AND ts < ? ORDER BY ts',
      ),
      listStatuses: p('SELECT * FROM gate_status ORDER BY gate_id'),
      listStatusesOf: p('SELECT * FROM gate_status WHERE compound_id = ? ORDER BY gate_id'),
      insertAlarm: p(
        'INSERT INTO alarms (gate_id, compound_id, kind, ts, detail, received_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      recentAlarms: p('SELECT * FROM alarms WHERE gate_id = ? ORDER BY ts DESC, id DESC LIMIT ?'),
      insertCommand: p(`INSERT INTO commands (cmd_id, gate_id, kind, direction, reason, issued_by, issued_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      commandResult: p(`UPDATE commands SET result_ok = ?, result_error = ?, result_at = ?
        WHERE cmd_id = ? AND gate_id = ?`),
      recentCommands: p('SELECT * FROM commands WHERE gate_id = ? ORDER BY issued_at DESC, cmd_id LIMIT ?'),
      insertAudit: p(`INSERT INTO audit_log (at, actor, role, action, compound_id, target, detail)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      insertUser: p(
        'INSERT INTO users (username, password_hash, role, compound_id, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      getUser: p('SELECT * FROM users WHERE username = ?'),
      setPasswordHash: p('UPDATE users SET password_hash = ? WHERE username = ?'),
      listUsers: p('SELECT * FROM users ORDER BY username'),
      updateUser: p('UPDATE users SET role = ?, compound_id = ? WHERE username = ?'),
      deleteUser: p('DELETE FROM users WHERE username = ?'),
      // A loose index scan: the next gate id (or compound id) present in events, one index seek each.
      nextEventGate: p('SELECT gate_id FROM events WHERE gate_id > ? ORDER BY gate_id LIMIT 1').pluck(),
      nextEventCompound: p('SELECT compound_id FROM events WHERE compound_id > ? ORDER BY compound_id LIMIT 1').pluck(),
      purgeGateEvents: p(
        'DELETE FROM events WHERE id IN (SELECT id FROM events WHERE gate_id = ? AND ts < ? ORDER BY ts LIMIT ?)',
      ),
      purgeAlarms: p('DELETE FROM alarms WHERE id IN (SELECT id FROM alarms WHERE ts < ? ORDER BY ts LIMIT ?)'),
      purgeStatusHistory: p(
        'DELETE FROM gate_status_history WHERE id IN (SELECT id FROM gate_status_history WHERE ts < ? ORDER BY ts LIMIT ?)',
      ),
      purgeCommands: p(
        'DELETE FROM commands WHERE cmd_id IN (SELECT cmd_id FROM commands WHERE issued_at < ? ORDER BY issued_at LIMIT ?)',
      ),
      compactLog: p(`DELETE FROM change_log WHERE compound_id = ? AND rev <= ?`),
      compoundRevs: p('SELECT id, rev FROM compounds'),
    };
  }

  async close(): Promise<void> {
    await this.syncing?.catch(() => undefined);
    await this.nextSync?.catch(() => undefined);
    this.walSync?.close();
    if (this.db.open) this.db.close();
  }

  /**
   * Group commit: one fsync covers every commit made before it started, so callers arriving while
   * an fsync runs share the next one instead of each paying their own.
   */
  durable(): Promise<void> {
    const walSync = this.walSync;
    if (!walSync) return Promise.resolve();
    if (!this.syncing) {
      this.syncing = this.fsync(walSync).finally(() => {
        this.syncing = undefined;
      });
      return this.syncing;
    }
    this.nextSync ??= this.syncing
      .catch(() => undefined)
      .then(() => {
        this.nextSync = undefined;
        return this.durable();
      });
    return this.nextSync;
  }

  private fsync(walSync: WalSync): Promise<void> {
    return new Promise((resolve, reject) => walSync.sync((error) => (error ? reject(error) : resolve())));
  }

  // ---- events -------------------------------------------------------------------------------

  /** The 17 parameters of `insertEvent`, overwritten for each row (better-sqlite3 copies them on bind). */
  private readonly eventRow: unknown[] = new Array(18).fill(null);

  /** Committed ack marks, so a batch need not read them back (the store is their only writer). */
  private readonly ackMarks = new Map<string, number>();

  private readonly insertEventsTx = (events: readonly StoredEvent[], hook: IngestHook | undefined) => {
    const result = this.db.transaction((): InsertEventsResult => {
      const inserted: StoredEvent[] = [];
      const compoundOfGate = new Map<string, string>();
      /** Every seq of the batch per gate, new or duplicate: either way it is stored now. */
      const seqsOfGate = new Map<string, number[]>();
      const insert = this.stmt.insertEvent!;
      const row = this.eventRow;
      for (const e of events) {
        compoundOfGate.set(e.gateId, e.compoundId);
        const seqs = seqsOfGate.get(e.gateId);
        if (seqs) seqs.push(e.seq);
        else seqsOfGate.set(e.gateId, [e.seq]);
        row[0] = e.gateId;
        row[1] = e.seq;
        row[2] = e.compoundId;
        row[3] = e.ts;
        row[4] = e.direction;
        row[5] = e.method;
        row[6] = e.result;
        row[7] = e.reason;
        row[8] = e.personId ?? null;
        row[9] = e.idHash ?? null;
        row[10] = e.passId ?? null;
        row[11] = e.health;
        row[12] = e.mode;
        row[13] = e.passed === null ? null : e.passed ? 1 : 0;
        row[14] = e.guard ?? null;
        row[15] = e.decisionMs;
        row[16] = e.receivedAt;
        row[17] = e.openReason ?? null;
        if (insert.run(row).changes === 1) inserted.push(e);
      }
      if (hook && inserted.length > 0) {
        hook.onStored(inserted, (gateId) => compoundOfGate.get(gateId) ?? '');
      }
      const acks = new Map<string, number>();
      for (const [gateId, seqs] of seqsOfGate) acks.set(gateId, this.advanceAck(gateId, seqs));
      return { inserted, acks };
    })();
    // Only once committed: a rolled-back batch leaves the cached marks as they were.
    for (const [gateId, mark] of result.acks) this.ackMarks.set(gateId, mark);
    hook?.committed?.();
    return result;
  };

  /**
   * Moves the gate's cumulative mark (docs/architecture.md rule 2) over contiguous stored seqs: first over this batch's
   * own seqs (no query), then, if the next seq was already stored (a gap just filled), over the
   * table page by page. O(batch) in the usual case: one probe and one write per gate and batch.
   */
  private advanceAck(gateId: string, batchSeqs: number[]): number {
    const before =
      this.ackMarks.get(gateId) ?? (this.stmt.getAck!.get(gateId) as { up_to: number } | undefined)?.up_to ?? 0;
    let mark = before;
    batchSeqs.sort((a, b) => a - b);
    for (const seq of batchSeqs) {
      if (seq === mark + 1) mark = seq;
      else if (seq > mark + 1) break;
    }
    if (this.stmt.hasSeq!.get(gateId, mark + 1) !== undefined) {
      const page = 1000;
      for (;;) {
        const rows = this.stmt.seqsAfter!.all(gateId, mark, page) as { seq: number }[];
        let contiguous = true;
        for (const { seq } of rows) {
          if (seq !== mark + 1) {
            contiguous = false;
            break;
          }
          mark = seq;
        }
        if (!contiguous || rows.length < page) break;
      }
    }
    if (mark !== before) this.stmt.setAck!.run(gateId, mark);
    return mark;
  }

  async insertEvents(events: readonly StoredEvent[], hook?: IngestHook): Promise<InsertEventsResult> {
    return this.insertEventsTx(events, hook);
  }

  async ackedUpTo(gateId: string): Promise<number> {
    return (this.stmt.getAck!.get(gateId) as { up_to: number } | undefined)?.up_to ?? 0;
  }

  async queryEvents(query: EventQuery): Promise<EventPage> {
    const where = new WhereClause();
    if (query.compoundId !== undefined) where.add('compound_id = ?', query.compoundId);
    if (query.gateId !== undefined) where.add('gate_id = ?', query.gateId);
    if (query.personId !== undefined) where.add('person_id = ?', query.personId);
    if (query.result !== undefined) where.add('result = ?', query.result);
    if (query.from !== undefined) where.add('ts >= ?', query.from);
    if (query.to !== undefined) where.add('ts < ?', query.to);
    const after = cursorTuple(query.cursor, ['number', 'number']);
    if (after) where.add('(ts < ? OR (ts = ? AND id < ?))', after[0], after[0], after[1]);
    const narrowed = query.compoundId !== undefined || query.gateId !== undefined || query.personId !== undefined;
    const rows = narrowed
      ? this.eventRows(where, query.limit + 1)
      : this.eventRowsOfAllCompounds(where, query.limit + 1);
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      events: page.map(eventOfRow),
      nextCursor: rows.length > query.limit && last ? encodeCursor([Number(last.ts), Number(last.id)]) : null,
    };
  }

  private eventRows(where: WhereClause, limit: number): Row[] {
    const sql = `SELECT * FROM events ${where.sql()} ORDER BY ts DESC, id DESC LIMIT ?`;
    return this.db.prepare(sql).all(...where.args, limit) as Row[];
  }

  /**
   * Newest first across every compound without an index on ts alone: the first `limit` rows of
   * each compound (over `events_by_compound_ts`) merged. The newest `limit` overall are among them.
   */
  private eventRowsOfAllCompounds(where: WhereClause, limit: number): Row[] {
    const rows: Row[] = [];
    let compoundId = this.stmt.nextEventCompound!.get('') as string | undefined;
    while (compoundId !== undefined) {
      rows.push(...this.eventRows(where.with('compound_id = ?', compoundId), limit));
      compoundId = this.stmt.nextEventCompound!.get(compoundId) as string | undefined;
    }
    rows.sort((a, b) => Number(b.ts) - Number(a.ts) || Number(b.id) - Number(a.id));
    return rows.slice(0, limit);
  }

  // ---- change log ---------------------------------------------------------------------------

  /** Appends changes to a compound's log; call inside a transaction. */
  private appendChanges(compoundId: string, changes: Change[]): ChangeBatch {
    const row = this.stmt.bumpRev!.get(changes.length, compoundId) as { rev: number } | undefined;
    if (!row) throw new NotFoundError('compound', compoundId);
    const toRev = row.rev;
    const fromRev = toRev - changes.length;
    changes.forEach((change, i) => {
      this.stmt.appendChange!.run(compoundId, fromRev + i + 1, JSON.stringify(change));
    });
    return { compoundId, fromRev, toRev, changes };
  }

  /**
   * Appends changes to a compound's log in a transaction of its own, or as part of the caller's
   * (a savepoint) when called inside one — for extensions that log changes with their own rows.
   */
  logChanges(compoundId: string, changes: Change[]): ChangeBatch {
    return this.db.transaction(() => this.appendChanges(compoundId, changes))();
  }

  async readChanges(compoundId: string, fromRev: number, limit: number): Promise<ChangeLogRead> {
    return this.db.transaction((): ChangeLogRead => {
      const compound = this.stmt.getCompound!.get(compoundId) as Row | undefined;
      if (!compound) throw new NotFoundError('compound', compoundId);
      const currentRev = Number(compound.rev);
      if (fromRev === 0 || fromRev > currentRev) return { kind: 'snapshot-needed', currentRev };
      if (fromRev === currentRev) return { kind: 'delta', changes: [], currentRev };
      const oldest = (this.stmt.oldestRev!.get(compoundId) as { rev: number | null }).rev;
      if (oldest === null || oldest > fromRev + 1) return { kind: 'snapshot-needed', currentRev };
      const rows = this.stmt.changesAfter!.all(compoundId, fromRev, limit) as { rev: number; change: string }[];
      return {
        kind: 'delta',
        changes: rows.map((r) => ({ rev: r.rev, change: JSON.parse(r.change) as Change })),
        currentRev,
      };
    })();
  }

  async snapshot(compoundId: string): Promise<Snapshot> {
    return this.db.transaction((): Snapshot => {
      const row = this.stmt.getCompound!.get(compoundId) as Row | undefined;
      if (!row) throw new NotFoundError('compound', compoundId);
      const compound = compoundOfRow(row);
      const records: Change[] = [
        { op: 'quota.policy', exits: compound.quotaExits, periodHours: compound.quotaPeriodHours },
        {
          op: 'mode',
          mode: compound.mode,
          ts: compound.modeChangedAt ?? compound.createdAt,
          ...(compound.modeReason ? { reason: compound.modeReason } : {}),
        },
      ];
      for (const row of this.stmt.listGatesOf!.all(compoundId) as Row[]) {
        // Only gates whose settings were ever set: the others keep their gate.json values.
        if (row.settings === null) continue;
        const gate = gateOfRow(row);
        records.push({ op: 'gate.settings', gateId: gate.id, settings: gate.settings });
      }
      const residents = (this.stmt.residentsOf!.all(compoundId) as Row[]).map(residentOfRow);
      for (const r of residents) records.push({ op: 'person.upsert', person: personRecordOf(r) });
      for (const r of residents) {
        if (r.healthTs !== null) records.push({ op: 'health', personId: r.personId, colour: r.health, ts: r.healthTs });
      }
      const revoked = this.stmt.revokedPassesOf!.all(compoundId, Date.now()) as {
        pass_id: string;
        revoked_at: number;
      }[];
      for (const p of revoked) records.push({ op: 'pass.revoke', passId: p.pass_id, ts: p.revoked_at });
      return { rev: compound.rev, records };
    })();
  }

  async compactChangeLog(keepRevs: number): Promise<number> {
    return this.db.transaction(() => {
      let deleted = 0;
      for (const { id, rev } of this.stmt.compoundRevs!.all() as { id: string; rev: number }[]) {
        deleted += this.stmt.compactLog!.run(id, rev - keepRevs).changes;
      }
      return deleted;
    })();
  }

  // ---- registry -----------------------------------------------------------------------------

  async createCompound(c: Pick<Compound, 'id' | 'name' | 'timeZone'>, now: number): Promise<Compound> {
    try {
      this.stmt.insertCompound!.run(c.id, c.name, c.timeZone, now);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('compound', c.id);
      throw err;
    }
    return compoundOfRow(this.stmt.getCompound!.get(c.id) as Row);
  }

  async getCompound(id: string): Promise<Compound | undefined> {
    const row = this.stmt.getCompound!.get(id) as Row | undefined;
    return row ? compoundOfRow(row) : undefined;
  }

  async listCompounds(): Promise<Compound[]> {
    return (this.stmt.listCompounds!.all() as Row[]).map(compoundOfRow);
  }

  async setMode(compoundId: string, mode: Mode, reason: string, ts: number): Promise<ChangeBatch> {
    return this.db.transaction(() => {
      if (this.stmt.setMode!.run(mode, reason, ts, compoundId).changes === 0) {
        throw new NotFoundError('compound', compoundId);
      }
      return this.appendChanges(compoundId, [{ op: 'mode', mode, ts, reason }]);
    })();
  }

  async setQuotaPolicy(compoundId: string, exits: number, periodHours: number): Promise<ChangeBatch> {
    return this.db.transaction(() => {
      if (this.stmt.setQuota!.run(exits, periodHours, compoundId).changes === 0) {
        throw new NotFoundError('compound', compoundId);
      }
      return this.appendChanges(compoundId, [{ op: 'quota.policy', exits, periodHours }]);
    })();
  }

  async createGate(
    gate: Omit<Gate, 'createdAt' | 'settings'> & { settings?: GateSettings },
    now: number,
  ): Promise<Gate> {
    if (!this.stmt.getCompound!.get(gate.compoundId)) throw new NotFoundError('compound', gate.compoundId);
    const settings = { ...gate.settings, antiPassback: gate.antiPassback };
    try {
      // Without settings the cloud has no say yet: the gate keeps its gate.json values.
      this.stmt.insertGate!.run(
        gate.id,
        gate.compoundId,
        gate.name,
        gate.antiPassback ? 1 : 0,
        gate.settings ? JSON.stringify(settings) : null,
        now,
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('gate', gate.id);
      throw err;
    }
    return { ...gate, settings, createdAt: now };
  }

  async setGateSettings(gateId: string, settings: GateSettings): Promise<ChangeBatch> {
    return this.db.transaction(() => {
      const antiPassback = settings.antiPassback ?? false;
      const full = { ...settings, antiPassback };
      const row = this.stmt.setGateSettings!.get(antiPassback ? 1 : 0, JSON.stringify(full), gateId) as
        | { compound_id: string }
        | undefined;
      if (!row) throw new NotFoundError('gate', gateId);
      return this.appendChanges(row.compound_id, [{ op: 'gate.settings', gateId, settings: full }]);
    })();
  }

  async getGate(id: string): Promise<Gate | undefined> {
    const row = this.stmt.getGate!.get(id) as Row | undefined;
    return row ? gateOfRow(row) : undefined;
  }

  async listGates(compoundId?: string): Promise<Gate[]> {
    const rows = compoundId === undefined ? this.stmt.listGates!.all() : this.stmt.listGatesOf!.all(compoundId);
    return (rows as Row[]).map(gateOfRow);
  }

  async upsertResidents(residents: readonly Resident[]): Promise<ChangeBatch[]> {
    return this.db.transaction(() => {
      const byCompound = new Map<string, Change[]>();
      for (const r of residents) {
        const previous = this.stmt.getResident!.get(r.personId) as Row | undefined;
        if (previous && previous.compound_id !== r.compoundId) {
          // Moving a person between compounds: the old compound's gates must forget them.
          const changes = byCompound.get(String(previous.compound_id)) ?? [];
          changes.push({ op: 'person.delete', personId: r.personId });
          byCompound.set(String(previous.compound_id), changes);
        }
        try {
          this.stmt.upsertResident!.run({
            ...r,
            cards: JSON.stringify(r.cards),
            elderly: r.elderly ? 1 : 0,
            active: r.active ? 1 : 0,
          });
        } catch (err) {
          if (isUniqueViolation(err))
            throw new ConflictError('resident with ID number', r.maskedIdNumber ?? r.personId);
          throw err;
        }
        const changes = byCompound.get(r.compoundId) ?? [];
        changes.push({ op: 'person.upsert', person: personRecordOf(r) });
        byCompound.set(r.compoundId, changes);
      }
      return [...byCompound].map(([compoundId, changes]) => this.appendChanges(compoundId, changes));
    })();
  }

  async getResident(personId: string): Promise<Resident | undefined> {
    const row = this.stmt.getResident!.get(personId) as Row | undefined;
    return row ? residentOfRow(row) : undefined;
  }

  async findResidentsByIdHash(idHashes: readonly string[]): Promise<Resident[]> {
    const out: Resident[] = [];
    for (const h of new Set(idHashes)) {
      for (const row of this.stmt.residentsByIdHash!.all(h) as Row[]) out.push(residentOfRow(row));
    }
    return out;
  }

  async listResidents(query: ResidentQuery): Promise<{ residents: Resident[]; nextCursor: string | null }> {
    const where = new WhereClause();
    if (query.compoundId !== undefined) where.add('compound_id = ?', query.compoundId);
    if (query.householdId !== undefined) where.add('household_id = ?', query.householdId);
    const after = cursorTuple(query.cursor, ['string']);
    if (after) where.add('person_id > ?', after[0]);
    const sql = `SELECT * FROM residents ${where.sql()}
      ORDER BY person_id LIMIT ?`;
    const rows = this.db.prepare(sql).all(...where.args, query.limit + 1) as Row[];
    const page = rows.slice(0, query.limit).map(residentOfRow);
    const last = page[page.length - 1];
    return { residents: page, nextCursor: rows.length > query.limit && last ? encodeCursor([last.personId]) : null };
  }

  async maskedNames(personIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const id of new Set(personIds)) {
      const row = this.stmt.maskedName!.get(id) as { masked_name: string } | undefined;
      if (row) out.set(id, row.masked_name);
    }
    return out;
  }

  async deleteResident(personId: string): Promise<ChangeBatch | undefined> {
    return this.db.transaction(() => {
      const row = this.stmt.deleteResident!.get(personId) as { compound_id: string } | undefined;
      if (!row) return undefined;
      return this.appendChanges(row.compound_id, [{ op: 'person.delete', personId }]);
    })();
  }

  async setHealth(updates: readonly HealthUpdateRow[]): Promise<ChangeBatch[]> {
    return this.db.transaction(() => {
      const now = Date.now();
      const byCompound = new Map<string, Change[]>();
      for (const u of updates) {
        const row = this.stmt.getHealth!.get(u.personId) as
          | { compound_id: string; health_ts: number | null }
          | undefined;
        if (!row || (row.health_ts !== null && row.health_ts > u.ts)) continue;
        this.stmt.setHealth!.run(u.colour, u.ts, now, u.personId);
        const changes = byCompound.get(row.compound_id) ?? [];
        changes.push({ op: 'health', personId: u.personId, colour: u.colour, ts: u.ts });
        byCompound.set(row.compound_id, changes);
      }
      return [...byCompound].map(([compoundId, changes]) => this.appendChanges(compoundId, changes));
    })();
  }

  async createPass(pass: Pass): Promise<void> {
    try {
      this.stmt.insertPass!.run({ ...pass });
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('pass', pass.passId);
      throw err;
    }
  }

  async getPass(passId: string): Promise<Pass | undefined> {
    const row = this.stmt.getPass!.get(passId) as Row | undefined;
    return row ? passOfRow(row) : undefined;
  }

  async revokePass(passId: string, ts: number): Promise<ChangeBatch | undefined> {
    return this.db.transaction(() => {
      const row = this.stmt.getPass!.get(passId) as Row | undefined;
      if (!row) throw new NotFoundError('pass', passId);
      if (this.stmt.revokePass!.run(ts, passId).changes === 0) return undefined;
      return this.appendChanges(String(row.compound_id), [{ op: 'pass.revoke', passId, ts }]);
    })();
  }

  // ---- gate activity ------------------------------------------------------------------------

  async recordStatus(
    gateId: string,
    compoundId: string,
    status: GateStatus,
    receivedAt: number,
    options: { retained?: boolean } = {},
  ): Promise<void> {
    this.db.transaction(() => {
      const previous = this.stmt.getStatus!.get(gateId) as Row | undefined;
      if (!previous || bool(previous.online) !== status.online || previous.mode !== status.mode) {
        const last = (this.stmt.lastStatusHistoryTs!.get(gateId) as { ts: number | null }).ts ?? -Infinity;
        let ts = status.ts;
        if (!status.online) ts = Math.max(ts, options.retained ? last : receivedAt);
        ts = Math.max(ts, last);
        this.stmt.insertStatusHistory!.run(gateId, compoundId, ts, status.online ? 1 : 0, status.mode);
      }
      this.stmt.upsertStatus!.run(
        gateId,
        compoundId,
        JSON.stringify(status),
        status.online ? 1 : 0,
        status.mode,
        receivedAt,
      );
    })();
  }

  private statusOfRow(r: Row): GateStatusRecord {
    return {
      gateId: String(r.gate_id),
      compoundId: String(r.compound_id),
      status: JSON.parse(String(r.status)) as GateStatus,
      receivedAt: Number(r.received_at),
    };
  }

  async latestStatus(gateId: string): Promise<GateStatusRecord | undefined> {
    const row = this.stmt.getStatus!.get(gateId) as Row | undefined;
    return row ? this.statusOfRow(row) : undefined;
  }

  async latestStatuses(compoundId?: string): Promise<GateStatusRecord[]> {
    const rows = compoundId === undefined ? this.stmt.listStatuses!.all() : this.stmt.listStatusesOf!.all(compoundId);
    return (rows as Row[]).map((r) => this.statusOfRow(r));
  }

  async statusHistory(
    gateId: string,
    from: number,
    to: number,
  ): Promise<{ ts: number; online: boolean; mode: Mode }[]> {
    return (this.stmt.statusHistory!.all(gateId, from, to) as Row[]).map((r) => ({
      ts: Number(r.ts),
      online: bool(r.online),
      mode: r.mode as Mode,
    }));
  }

  async recordAlarm(a: StoredAlarm): Promise<void> {
    this.stmt.insertAlarm!.run(a.gateId, a.compoundId, a.kind, a.ts, a.detail, a.receivedAt);
  }

  async recentAlarms(gateId: string, limit: number): Promise<StoredAlarm[]> {
    return (this.stmt.recentAlarms!.all(gateId, limit) as Row[]).map((r) => ({
      gateId: String(r.gate_id),
      compoundId: String(r.compound_id),
      kind: r.kind as StoredAlarm['kind'],
      ts: Number(r.ts),
      detail: String(r.detail),
      receivedAt: Number(r.received_at),
    }));
  }

  async recordCommand(c: CommandRecord): Promise<void> {
    this.stmt.insertCommand!.run(c.cmdId, c.gateId, c.kind, c.direction, c.reason, c.by, c.issuedAt);
  }

  async recordCommandResult(
    gateId: string,
    cmdId: string,
    ok: boolean,
    error: string | null,
    at: number,
  ): Promise<boolean> {
    return this.stmt.commandResult!.run(ok ? 1 : 0, error, at, cmdId, gateId).changes === 1;
  }

  async recentCommands(gateId: string, limit: number): Promise<CommandRecord[]> {
    return (this.stmt.recentCommands!.all(gateId, limit) as Row[]).map(commandOfRow);
  }

  // ---- audit and users ----------------------------------------------------------------------

  async recordAudit(e: AuditEntry): Promise<void> {
    this.stmt.insertAudit!.run(
      e.at,
      e.actor,
      e.role,
      e.action,
      e.compoundId,
      e.target,
      e.detail === null ? null : JSON.stringify(e.detail),
    );
  }

  async listAudit(query: AuditQuery): Promise<{ entries: (AuditEntry & { id: number })[]; nextCursor: string | null }> {
    const where = new WhereClause();
    if (query.compoundId !== undefined) where.add('compound_id = ?', query.compoundId);
    if (query.actor !== undefined) where.add('actor = ?', query.actor);
    if (query.action !== undefined) where.add('action = ?', query.action);
    if (query.from !== undefined) where.add('at >= ?', query.from);
    if (query.to !== undefined) where.add('at < ?', query.to);
    const after = cursorTuple(query.cursor, ['number']);
    if (after) where.add('id < ?', after[0]);
    const sql = `SELECT * FROM audit_log ${where.sql()} ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...where.args, query.limit + 1) as Row[];
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      entries: page.map((r) => ({
        id: Number(r.id),
        at: Number(r.at),
        actor: String(r.actor),
        role: String(r.role),
        action: String(r.action),
        compoundId: strOrNull(r.compound_id),
        target: strOrNull(r.target),
        detail: r.detail === null ? null : (JSON.parse(String(r.detail)) as Record<string, unknown>),
      })),
      nextCursor: rows.length > query.limit && last ? encodeCursor([Number(last.id)]) : null,
    };
  }

  async createUser(u: User): Promise<void> {
    try {
      this.stmt.insertUser!.run(u.username, u.passwordHash, u.role, u.compoundId, u.createdAt);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('user', u.username);
      throw err;
    }
  }

  private userOfRow(r: Row): User {
    return {
      username: String(r.username),
      passwordHash: String(r.password_hash),
      role: r.role as HttpRole,
      compoundId: strOrNull(r.compound_id),
      createdAt: Number(r.created_at),
    };
  }

  async setPasswordHash(username: string, passwordHash: string): Promise<boolean> {
    return this.stmt.setPasswordHash!.run(passwordHash, username).changes === 1;
  }

  async updateUser(username: string, change: { role: HttpRole; compoundId: string | null }): Promise<boolean> {
    return this.stmt.updateUser!.run(change.role, change.compoundId, username).changes === 1;
  }

  async deleteUser(username: string): Promise<boolean> {
    return this.stmt.deleteUser!.run(username).changes === 1;
  }

  async getUser(username: string): Promise<User | undefined> {
    const row = this.stmt.getUser!.get(username) as Row | undefined;
    return row ? this.userOfRow(row) : undefined;
  }

  async listUsers(): Promise<User[]> {
    return (this.stmt.listUsers!.all() as Row[]).map((r) => this.userOfRow(r));
  }

  // ---- retention ----------------------------------------------------------------------------

  /**
   * Deletes up to `limit` events older than `before`, gate by gate over `events_by_gate_ts` (there
   * is no index on ts alone: it would cost every insert). Every gate present in the table is
   * visited, registered or not, so nothing escapes retention.
   */
  private purgeEvents(before: number, limit: number): number {
    let deleted = 0;
    let gateId = this.stmt.nextEventGate!.get('') as string | undefined;
    while (gateId !== undefined && deleted < limit) {
      deleted += this.stmt.purgeGateEvents!.run(gateId, before, limit - deleted).changes;
      gateId = this.stmt.nextEventGate!.get(gateId) as string | undefined;
    }
    return deleted;
  }

  async purgeBefore(before: number, limit: number): Promise<number> {
    return this.db.transaction(() => {
      let deleted = this.purgeEvents(before, limit);
      deleted += this.stmt.purgeAlarms!.run(before, limit).changes;
      deleted += this.stmt.purgeStatusHistory!.run(before, limit).changes;
      deleted += this.stmt.purgeCommands!.run(before, limit).changes;
      return deleted;
    })();
  }
}
