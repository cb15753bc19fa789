/**
 * The `CloudStore` on PostgreSQL through node-postgres, for a street office's or a city's cloud:
 * several cloud instances on one database (docs/cloud.md, "Store"; docs/deploy.md, "Scaling out").
 * Same contract and same answers as the embedded SQLite store (cloud/store/sqlite-store.ts), which
 * test/cloud/store holds both to. Each section lives in its own module: events (pg-events.ts),
 * registry and change log (pg-registry.ts), gate activity, audit and users (pg-activity.ts).
 *
 * `open()` migrates the schema (once across instances) before the store is handed out.
 */
import type pg from 'pg';
import type { CommandKind, HttpRole, Mode } from '../../../shared/enums.ts';
import type { Change, GateSettings, GateStatus } from '../../../shared/schemas/mqtt.ts';
import type { StoreEngine } from '../engine.ts';
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
import { PgActivity } from './pg-activity.ts';
import { PgEvents } from './pg-events.ts';
import { migratePostgres } from './pg-migrations.ts';
import { EventPartitions } from './pg-partitions.ts';
import { createPgPool, type PgPoolOptions } from './pg-pool.ts';
import { PgRegistry } from './pg-registry.ts';
import { readPgSnapshot } from './pg-snapshot-read.ts';

export type PostgresStoreOptions = PgPoolOptions;

/** Whether `--db` names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//.test(db);
}

/** The URL with its password replaced, for logs and `--print-config`. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

export class PostgresCloudStore implements CloudStore {
  /** The pool; an extension may run its own statements on it (its own transactions). */
  readonly pool: pg.Pool;
  readonly engine: StoreEngine;
  private readonly events: PgEvents;
  private readonly registry: PgRegistry;
  private readonly activity: PgActivity;

  private constructor(pool: pg.Pool) {
    this.pool = pool;
    this.engine = { kind: 'postgres', pool };
    this.events = new PgEvents(pool, new EventPartitions(pool));
    this.registry = new PgRegistry(pool);
    this.activity = new PgActivity(pool);
  }

  /** Connects, migrates the schema and returns the store; the pool is closed again if that fails. */
  static async open(options: PostgresStoreOptions): Promise<PostgresCloudStore> {
    const pool = createPgPool(options);
    try {
      await migratePostgres(pool);
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return new PostgresCloudStore(pool);
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }

  // ---- events -------------------------------------------------------------------------------

  insertEvents(
    events: readonly StoredEvent[],
    hook?: IngestHook,
    refused: readonly RefusedSeq[] = [],
  ): Promise<InsertEventsResult> {
    return this.events.insert(events, hook, refused);
  }
  queryEvents(query: EventQuery): Promise<EventPage> {
    return this.events.query(query);
  }
  ackedUpTo(gateId: string): Promise<number> {
    return this.events.ackedUpTo(gateId);
  }
  /** A commit is on stable storage when COMMIT returns (synchronous_commit = on, the server default). */
  durable(): Promise<void> {
    return Promise.resolve();
  }

  // ---- registry -----------------------------------------------------------------------------

  createCompound(c: Pick<Compound, 'id' | 'name' | 'timeZone'>, now: number): Promise<Compound> {
    return this.registry.createCompound(c, now);
  }
  getCompound(id: string): Promise<Compound | undefined> {
    return this.registry.getCompound(id);
  }
  listCompounds(): Promise<Compound[]> {
    return this.registry.listCompounds();
  }
  setMode(compoundId: string, mode: Mode, reason: string, ts: number): Promise<ChangeBatch> {
    return this.registry.setMode(compoundId, mode, reason, ts);
  }
  setQuotaPolicy(compoundId: string, exits: number, periodHours: number): Promise<ChangeBatch> {
    return this.registry.setQuotaPolicy(compoundId, exits, periodHours);
  }
  createGate(gate: Omit<Gate, 'createdAt' | 'settings'> & { settings?: GateSettings }, now: number): Promise<Gate> {
    return this.registry.createGate(gate, now);
  }
  setGateSettings(gateId: string, settings: GateSettings): Promise<ChangeBatch> {
    return this.registry.setGateSettings(gateId, settings);
  }
  getGate(id: string): Promise<Gate | undefined> {
    return this.registry.getGate(id);
  }
  listGates(compoundId?: string): Promise<Gate[]> {
    return this.registry.listGates(compoundId);
  }
  upsertResidents(residents: readonly Resident[]): Promise<ChangeBatch[]> {
    return this.registry.upsertResidents(residents);
  }
  getResident(personId: string): Promise<Resident | undefined> {
    return this.registry.getResident(personId);
  }
  findResidentsByIdHash(idHashes: readonly string[]): Promise<Resident[]> {
    return this.registry.findResidentsByIdHash(idHashes);
  }
  listResidents(query: ResidentQuery): Promise<{ residents: Resident[]; nextCursor: string | null }> {
    return this.registry.listResidents(query);
  }
  maskedNames(personIds: readonly string[]): Promise<Map<string, string>> {
    return this.registry.maskedNames(personIds);
  }
  compoundsOfPersons(personIds: readonly string[]): Promise<Map<string, string>> {
    return this.registry.compoundsOfPersons(personIds);
  }
  personIdsOfCompound(compoundId: string, limit: number): Promise<string[] | undefined> {
    return this.registry.personIdsOfCompound(compoundId, limit);
  }
  visitorsAmong(personIds: readonly string[]): Promise<Set<string>> {
    return this.registry.visitorsAmong(personIds);
  }
  deleteResident(personId: string): Promise<ChangeBatch | undefined> {
    return this.registry.deleteResident(personId);
  }
  setHealth(updates: readonly HealthUpdateRow[]): Promise<ChangeBatch[]> {
    return this.registry.setHealth(updates);
  }
  createPass(pass: Pass): Promise<void> {
    return this.registry.createPass(pass);
  }
  getPass(passId: string): Promise<Pass | undefined> {
    return this.registry.getPass(passId);
  }
  revokePass(passId: string, ts: number): Promise<ChangeBatch | undefined> {
    return this.registry.revokePass(passId, ts);
  }
  /** Appends changes to a compound's log in a transaction of its own (for extensions). */
  logChanges(compoundId: string, changes: Change[]): Promise<ChangeBatch> {
    return this.registry.logChanges(compoundId, changes);
  }
  readChanges(compoundId: string, fromRev: number, limit: number): Promise<ChangeLogRead> {
    return this.registry.readChanges(compoundId, fromRev, limit);
  }
  readSnapshot(compoundId: string, sink: SnapshotSink): Promise<void> {
    return readPgSnapshot(this.pool, compoundId, sink);
  }
  compactChangeLog(keepRevs: number): Promise<number> {
    return this.registry.compactChangeLog(keepRevs);
  }

  // ---- gate activity, audit, users ------------------------------------------------------------

  recordStatus(
    gateId: string,
    compoundId: string,
    status: GateStatus,
    receivedAt: number,
    options?: { retained?: boolean },
  ): Promise<void> {
    return this.activity.recordStatus(gateId, compoundId, status, receivedAt, options);
  }
  latestStatus(gateId: string): Promise<GateStatusRecord | undefined> {
    return this.activity.latestStatus(gateId);
  }
  latestStatuses(compoundId?: string): Promise<GateStatusRecord[]> {
    return this.activity.latestStatuses(compoundId);
  }
  statusHistory(gateId: string, from: number, to: number): Promise<{ ts: number; online: boolean; mode: Mode }[]> {
    return this.activity.statusHistory(gateId, from, to);
  }
  recordAlarm(alarm: StoredAlarm): Promise<void> {
    return this.activity.recordAlarm(alarm);
  }
  recentAlarms(gateId: string, limit: number): Promise<StoredAlarm[]> {
    return this.activity.recentAlarms(gateId, limit);
  }
  recordCommand(command: CommandRecord): Promise<void> {
    return this.activity.recordCommand(command);
  }
  recordCommandResult(
    gateId: string,
    cmdId: string,
    ok: boolean,
    error: string | null,
    at: number,
  ): Promise<CommandKind | undefined> {
    return this.activity.recordCommandResult(gateId, cmdId, ok, error, at);
  }
  recentCommands(gateId: string, limit: number): Promise<CommandRecord[]> {
    return this.activity.recentCommands(gateId, limit);
  }
  recordAudit(entry: AuditEntry): Promise<void> {
    return this.activity.recordAudit(entry);
  }
  listAudit(query: AuditQuery): Promise<{ entries: (AuditEntry & { id: number })[]; nextCursor: string | null }> {
    return this.activity.listAudit(query);
  }
  createUser(user: User): Promise<void> {
    return this.activity.createUser(user);
  }
  getUser(username: string): Promise<User | undefined> {
    return this.activity.getUser(username);
  }
  listUsers(): Promise<User[]> {
    return this.activity.listUsers();
  }
  setPasswordHash(username: string, passwordHash: string): Promise<boolean> {
    return this.activity.setPasswordHash(username, passwordHash);
  }
  updateUser(username: string, change: { role: HttpRole; compoundId: string | null }): Promise<boolean> {
    return this.activity.updateUser(username, change);
  }
  deleteUser(username: string): Promise<boolean> {
    return this.activity.deleteUser(username);
  }

  // ---- retention ----------------------------------------------------------------------------

  /** Events by dropping whole month partitions, then bounded deletes; alarms, history and commands bounded. */
  async purgeBefore(before: number, limit: number): Promise<number> {
    return (await this.events.purge(before, limit)) + (await this.activity.purge(before, limit));
  }

  purgeAuditBefore(before: number, limit: number): Promise<number> {
    return this.activity.purgeAudit(before, limit);
  }
}
