/**
 * The embedded `CloudStore` on better-sqlite3 (docs/cloud.md, "Store"): one connection shared by
 * the table families of this folder, each with its own typed prepared statements. better-sqlite3
 * is synchronous; the methods are `async` only to keep the contract engine-neutral.
 */
import type { Database } from 'better-sqlite3';
import type { CommandKind, HttpRole, Mode } from '../../../shared/enums.ts';
import type { Change, GateSettings, GateStatus } from '../../../shared/schemas/mqtt.ts';
import type {
  AuditEntry,
  AuditQuery,
  ChangeBatch,
  ChangeLogRead,
  CloudStore,
  CommandRecord,
  Compound,
  EventPage,
  EventQuery,
  Gate,
  GateStatusRecord,
  HealthUpdateRow,
  IngestHook,
  InsertEventsResult,
  Pass,
  RefusedSeq,
  Resident,
  ResidentQuery,
  SnapshotSink,
  StoredAlarm,
  StoredEvent,
  User,
} from '../store.ts';
import type { StoreEngine } from '../engine.ts';
import { SqliteAuditUserTables } from './audit-user-tables.ts';
import { SqliteChangeLog } from './change-log.ts';
import { GroupCommit, openCloudDatabase } from './connection.ts';
import { SqliteEventTables } from './event-tables.ts';
import { SqliteGateActivityTables } from './gate-activity-tables.ts';
import { SqliteRegistryTables } from './registry-tables.ts';
import { SqliteResidentTables } from './resident-tables.ts';
import { SqliteSnapshotReads } from './snapshot-reads.ts';

export interface SqliteStoreOptions {
  /** File path, or `:memory:` for tests. */
  path: string;
}

export class SqliteCloudStore implements CloudStore {
  /** The connection; an `IngestHook` may run its own statements on it inside the ingest transaction. */
  readonly db: Database;
  readonly engine: StoreEngine;
  private readonly commits: GroupCommit;
  private readonly events: SqliteEventTables;
  private readonly changeLog: SqliteChangeLog;
  private readonly registry: SqliteRegistryTables;
  private readonly residents: SqliteResidentTables;
  private readonly activity: SqliteGateActivityTables;
  private readonly accounts: SqliteAuditUserTables;
  private readonly snapshots: SqliteSnapshotReads;

  constructor(options: SqliteStoreOptions) {
    this.db = openCloudDatabase(options.path);
    this.engine = { kind: 'sqlite', db: this.db };
    this.commits = new GroupCommit(options.path);
    this.events = new SqliteEventTables(this.db);
    this.changeLog = new SqliteChangeLog(this.db);
    this.registry = new SqliteRegistryTables(this.db, this.changeLog);
    this.residents = new SqliteResidentTables(this.db, this.changeLog);
    this.activity = new SqliteGateActivityTables(this.db);
    this.accounts = new SqliteAuditUserTables(this.db);
    this.snapshots = new SqliteSnapshotReads(this.db, options.path);
  }

  async close(): Promise<void> {
    await this.commits.close();
    this.snapshots.close();
    if (this.db.open) this.db.close();
  }

  /** Resolves once every commit made before the call is fsynced (group commit). */
  durable(): Promise<void> {
    return this.commits.durable();
  }

  // ---- events -------------------------------------------------------------------------------

  async insertEvents(
    events: readonly StoredEvent[],
    hook?: IngestHook,
    refused: readonly RefusedSeq[] = [],
  ): Promise<InsertEventsResult> {
    return this.events.insert(events, hook, refused);
  }

  async ackedUpTo(gateId: string): Promise<number> {
    return this.events.ackedUpTo(gateId);
  }

  async queryEvents(query: EventQuery): Promise<EventPage> {
    return this.events.query(query);
  }

  // ---- change log ---------------------------------------------------------------------------

  /**
   * Appends changes to a compound's log in a transaction of its own, or as part of the caller's
   * (a savepoint) when called inside one — for extensions that log changes with their own rows.
   */
  logChanges(compoundId: string, changes: Change[]): ChangeBatch {
    return this.db.transaction(() => this.changeLog.append(compoundId, changes))();
  }

  async readChanges(compoundId: string, fromRev: number, limit: number): Promise<ChangeLogRead> {
    return this.changeLog.read(compoundId, fromRev, limit);
  }

  readSnapshot(compoundId: string, sink: SnapshotSink): Promise<void> {
    return this.snapshots.read(compoundId, sink);
  }

  async compactChangeLog(keepRevs: number): Promise<number> {
    return this.changeLog.compact(keepRevs);
  }

  // ---- registry -----------------------------------------------------------------------------

  async createCompound(c: Pick<Compound, 'id' | 'name' | 'timeZone'>, now: number): Promise<Compound> {
    return this.registry.createCompound(c, now);
  }

  async getCompound(id: string): Promise<Compound | undefined> {
    return this.registry.compound(id);
  }

  async listCompounds(): Promise<Compound[]> {
    return this.registry.compounds();
  }

  async setMode(compoundId: string, mode: Mode, reason: string, ts: number): Promise<ChangeBatch> {
    return this.registry.setMode(compoundId, mode, reason, ts);
  }

  async setQuotaPolicy(compoundId: string, exits: number, periodHours: number): Promise<ChangeBatch> {
    return this.registry.setQuotaPolicy(compoundId, exits, periodHours);
  }

  async createGate(
    gate: Omit<Gate, 'createdAt' | 'settings'> & { settings?: GateSettings },
    now: number,
  ): Promise<Gate> {
    return this.registry.createGate(gate, now);
  }

  async setGateSettings(gateId: string, settings: GateSettings): Promise<ChangeBatch> {
    return this.registry.setGateSettings(gateId, settings);
  }

  async getGate(id: string): Promise<Gate | undefined> {
    return this.registry.gate(id);
  }

  async listGates(compoundId?: string): Promise<Gate[]> {
    return this.registry.gates(compoundId);
  }

  async createPass(pass: Pass): Promise<void> {
    this.registry.createPass(pass);
  }

  async getPass(passId: string): Promise<Pass | undefined> {
    return this.registry.pass(passId);
  }

  async revokePass(passId: string, ts: number): Promise<ChangeBatch | undefined> {
    return this.registry.revokePass(passId, ts);
  }

  // ---- residents ----------------------------------------------------------------------------

  async upsertResidents(residents: readonly Resident[]): Promise<ChangeBatch[]> {
    return this.residents.upsertAll(residents);
  }

  async getResident(personId: string): Promise<Resident | undefined> {
    return this.residents.resident(personId);
  }

  async findResidentsByIdHash(idHashes: readonly string[]): Promise<Resident[]> {
    return this.residents.byIdHashes(idHashes);
  }

  async listResidents(query: ResidentQuery): Promise<{ residents: Resident[]; nextCursor: string | null }> {
    return this.residents.list(query);
  }

  async maskedNames(personIds: readonly string[]): Promise<Map<string, string>> {
    return this.residents.maskedNames(personIds);
  }

  async compoundsOfPersons(personIds: readonly string[]): Promise<Map<string, string>> {
    return this.residents.compoundsOf(personIds);
  }

  async personIdsOfCompound(compoundId: string, limit: number): Promise<string[] | undefined> {
    return this.residents.idsOfCompound(compoundId, limit);
  }

  async visitorsAmong(personIds: readonly string[]): Promise<Set<string>> {
    return this.residents.visitorsAmong(personIds);
  }

  async deleteResident(personId: string): Promise<ChangeBatch | undefined> {
    return this.residents.delete(personId);
  }

  async setHealth(updates: readonly HealthUpdateRow[]): Promise<ChangeBatch[]> {
    return this.residents.setHealth(updates);
  }

  // ---- gate activity ------------------------------------------------------------------------

  async recordStatus(
    gateId: string,
    compoundId: string,
    status: GateStatus,
    receivedAt: number,
    options: { retained?: boolean } = {},
  ): Promise<void> {
    this.activity.recordStatus(gateId, compoundId, status, receivedAt, options.retained === true);
  }

  async latestStatus(gateId: string): Promise<GateStatusRecord | undefined> {
    return this.activity.latestStatus(gateId);
  }

  async latestStatuses(compoundId?: string): Promise<GateStatusRecord[]> {
    return this.activity.latestStatuses(compoundId);
  }

  async statusHistory(
    gateId: string,
    from: number,
    to: number,
  ): Promise<{ ts: number; online: boolean; mode: Mode }[]> {
    return this.activity.statusHistory(gateId, from, to);
  }

  async recordAlarm(alarm: StoredAlarm): Promise<void> {
    this.activity.recordAlarm(alarm);
  }

  async recentAlarms(gateId: string, limit: number): Promise<StoredAlarm[]> {
    return this.activity.recentAlarms(gateId, limit);
  }

  async recordCommand(command: CommandRecord): Promise<void> {
    this.activity.recordCommand(command);
  }

  async recordCommandResult(
    gateId: string,
    cmdId: string,
    ok: boolean,
    error: string | null,
    at: number,
  ): Promise<CommandKind | undefined> {
    return this.activity.recordCommandResult(gateId, cmdId, ok, error, at);
  }

  async recentCommands(gateId: string, limit: number): Promise<CommandRecord[]> {
    return this.activity.recentCommands(gateId, limit);
  }

  // ---- audit and users ----------------------------------------------------------------------

  async recordAudit(entry: AuditEntry): Promise<void> {
    this.accounts.recordAudit(entry);
  }

  async listAudit(query: AuditQuery): Promise<{ entries: (AuditEntry & { id: number })[]; nextCursor: string | null }> {
    return this.accounts.listAudit(query);
  }

  async createUser(user: User): Promise<void> {
    this.accounts.createUser(user);
  }

  async getUser(username: string): Promise<User | undefined> {
    return this.accounts.user(username);
  }

  async listUsers(): Promise<User[]> {
    return this.accounts.users();
  }

  async setPasswordHash(username: string, passwordHash: string): Promise<boolean> {
    return this.accounts.setPasswordHash(username, passwordHash);
  }

  async updateUser(username: string, change: { role: HttpRole; compoundId: string | null }): Promise<boolean> {
    return this.accounts.updateUser(username, change);
  }

  async deleteUser(username: string): Promise<boolean> {
    return this.accounts.deleteUser(username);
  }

  // ---- retention ----------------------------------------------------------------------------

  async purgeBefore(before: number, limit: number): Promise<number> {
    return this.db.transaction(() => this.events.purge(before, limit) + this.activity.purge(before, limit))();
  }

  async purgeAuditBefore(before: number, limit: number): Promise<number> {
    return this.accounts.purgeAudit(before, limit);
  }
}
