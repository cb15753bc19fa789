/**
 * The cloud's storage contract. Every method is asynchronous and speaks in plain records (epoch-ms
 * numbers, arrays, `null` for absent values) so that a PostgreSQL implementation can sit behind the
 * same interface as the embedded SQLite one (docs/architecture.md, "Scaling out"; docs/cloud.md).
 *
 * Mutations of the registry that gates must learn about append to the compound's change log in
 * the same transaction and return the resulting `ChangeBatch`es (an outbox): the caller publishes
 * them after the commit, and a gate that misses one sees a rev gap and asks for a resync.
 */
import type {
  AlarmKind,
  CommandKind,
  Direction,
  HealthColour,
  HttpRole,
  Mode,
  PassKind,
  PersonKind,
  Result,
} from '../../shared/enums.ts';
import type { Change, GateSettings, GateStatus, PersonRecord } from '../../shared/schemas/mqtt.ts';
import type { StoreEngine } from './engine.ts';
import type { IngestHook } from './ingest-hook.ts';
import type { StoredEvent } from './stored-event.ts';

export type { CompoundOf, IngestHook, PgIngestHook, SqliteIngestHook } from './ingest-hook.ts';
export type { StoredEvent } from './stored-event.ts';

export interface EventQuery {
  compoundId?: string;
  gateId?: string;
  personId?: string;
  result?: Result;
  from?: number;
  to?: number;
  limit: number;
  /** Opaque cursor from a previous page (newest first). */
  cursor?: string;
}

export interface EventPage {
  events: StoredEvent[];
  nextCursor: string | null;
}

/**
 * An event ingest refused (cloud/ingest/event-admission.ts): never stored, but its seq counts as
 * answered, so the gate's cumulative ack steps over it and the gate prunes it instead of sending
 * it forever (docs/security.md, "A stolen gate").
 */
export interface RefusedSeq {
  gateId: string;
  seq: number;
  /** Why, e.g. `foreign-person`, `ts-in-future` (the `anxin_ingest_rejects_total` reason). */
  reason: string;
  refusedAt: number;
}

/**
 * A passage not stored because another copy of its `(gateId, seq)` with another `ts` was stored
 * first: a gate that sent two passages under one seq (a journal restored from a backup, a
 * cloned SD card). The seq is answered like a duplicate — the stored copy stays — so the caller
 * logs and counts it (`anxin_ingest_rejects_total{reason="seq-clash"}`), never silently.
 */
export interface SeqClash {
  gateId: string;
  seq: number;
  /** The copy that stays. */
  storedTs: number;
  /** The copy of this batch that was not stored. */
  droppedTs: number;
}

export interface InsertEventsResult {
  /** The events that were new (duplicates of `(gateId, seq)` are left out). */
  inserted: StoredEvent[];
  /** The batch's passages left out because another copy of their seq, with another ts, is stored. */
  clashes?: SeqClash[];
  /** Every gate of the batch → the highest n such that all of its seq ≤ n are stored or refused. */
  acks: Map<string, number>;
  /**
   * When the marks were read, on the database's clock (ms; PostgreSQL, where several instances
   * ack the same gates): the acks' `ts`, so the gate orders them by what they saw, not by when
   * each instance published (cloud/store/postgres/pg-acks.ts). Absent: the cloud's clock at publish.
   */
  acksReadAt?: number;
  /**
   * Why no marks could be moved after the batch was committed (PostgreSQL: the database lost
   * between the COMMIT and the marks); `acks` is then empty. The batch is stored: nothing is
   * acknowledged, the gates resend, the copies are skipped and the mark moves then.
   */
  ackError?: unknown;
}

export interface EventStore {
  /**
   * Stores the events in one transaction, ignoring `(gateId, seq)` duplicates, records the
   * `refused` seqs (not the events: only gate, seq, reason and time, kept as long as passages),
   * advances each gate's cumulative ack mark over seqs that are stored or refused, and runs
   * `hook.onStored` with the new events inside the same transaction, handing it that transaction
   * (ingest-hook.ts; a hook of another engine is refused before it begins). Resolves only after
   * the commit, once `hook.committed` ran.
   */
  insertEvents(
    events: readonly StoredEvent[],
    hook?: IngestHook,
    refused?: readonly RefusedSeq[],
  ): Promise<InsertEventsResult>;
  /** Newest first; cursor pagination over `(ts, id)`. */
  queryEvents(query: EventQuery): Promise<EventPage>;
  /** The persisted cumulative ack mark of a gate (0 when nothing is stored). */
  ackedUpTo(gateId: string): Promise<number>;
  /**
   * Resolves once everything committed before the call is on stable storage (survives a power
   * cut, not only a crash of the process). Ingest acknowledges a batch only after this: a gate
   * prunes its journal on the ack (docs/architecture.md rule 2). An engine whose commits are durable
   * by themselves resolves at once.
   */
  durable(): Promise<void>;
}

export interface Compound {
  id: string;
  name: string;
  timeZone: string;
  mode: Mode;
  modeReason: string | null;
  modeChangedAt: number | null;
  /** Lockdown exit quota: at most `exits` exits per household per `periodHours`. */
  quotaExits: number;
  quotaPeriodHours: number;
  /** The compound's change-log revision (0: nothing yet). */
  rev: number;
  createdAt: number;
}

export interface Gate {
  id: string;
  compoundId: string;
  name: string;
  antiPassback: boolean;
  /** What a manager set for this gate, pushed to it as a `gate.settings` change (docs/edge-agent.md). */
  settings: GateSettings;
  createdAt: number;
}

export interface GateStatusRecord {
  gateId: string;
  compoundId: string;
  status: GateStatus;
  receivedAt: number;
}

export interface Resident {
  personId: string;
  compoundId: string;
  householdId: string | null;
  kind: PersonKind;
  /** Full name: the cloud only, revealed to managers with an audit record. */
  name: string;
  maskedName: string;
  /** AES-256-GCM sealed ID number (see cloud/identity-seal.ts), or null when none was given. */
  idSealed: string | null;
  idHash: string | null;
  maskedIdNumber: string | null;
  phone: string | null;
  cards: string[];
  elderly: boolean;
  validFrom: number | null;
  validTo: number | null;
  active: boolean;
  health: HealthColour;
  healthTs: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface ResidentQuery {
  compoundId?: string;
  householdId?: string;
  /** Matches the start of the masked name or the person id. */
  limit: number;
  cursor?: string;
}

export interface Pass {
  passId: string;
  personId: string;
  compoundId: string;
  kind: PassKind;
  notBefore: number;
  expiresAt: number;
  useLimit: number | null;
  /** The signed `AX1:` text (needed to render the QR code again). */
  text: string;
  issuedBy: string;
  issuedAt: number;
  revokedAt: number | null;
}

/** What a mutation appended to a compound's change log: publish it on `compounds/{id}/changes`. */
export interface ChangeBatch {
  compoundId: string;
  fromRev: number;
  toRev: number;
  changes: Change[];
}

export type ChangeLogRead =
  | { kind: 'delta'; changes: { rev: number; change: Change }[]; currentRev: number }
  /** The log no longer holds `fromRev + 1` (or the gate is ahead of the cloud): send a snapshot. */
  | { kind: 'snapshot-needed'; currentRev: number };

/**
 * Where a store delivers a compound's snapshot as it reads it (`readSnapshot`), so the first part
 * can go to the gate while the rest is still being read (docs/cloud.md, "Sync protocol").
 */
export interface SnapshotSink {
  /** First and once: the rev the snapshot is consistent at, and how many records follow in all. */
  begin(rev: number, records: number): void | Promise<void>;
  /**
   * Then the records in order, a page at a time, each the JSON text of a `Change` (the gate's wire
   * form: written once, never parsed back on the way out). The store waits for a returned promise.
   */
  page(records: readonly string[]): void | Promise<void>;
}

export interface HealthUpdateRow {
  personId: string;
  colour: HealthColour;
  ts: number;
}

export interface RegistryStore {
  createCompound(compound: Pick<Compound, 'id' | 'name' | 'timeZone'>, now: number): Promise<Compound>;
  getCompound(id: string): Promise<Compound | undefined>;
  listCompounds(): Promise<Compound[]>;
  setMode(compoundId: string, mode: Mode, reason: string, ts: number): Promise<ChangeBatch>;
  setQuotaPolicy(compoundId: string, exits: number, periodHours: number): Promise<ChangeBatch>;

  createGate(gate: Omit<Gate, 'createdAt' | 'settings'> & { settings?: GateSettings }, now: number): Promise<Gate>;
  /** Replaces a gate's settings and logs a `gate.settings` change for its compound's gates. */
  setGateSettings(gateId: string, settings: GateSettings): Promise<ChangeBatch>;
  getGate(id: string): Promise<Gate | undefined>;
  listGates(compoundId?: string): Promise<Gate[]>;

  /** Inserts or replaces residents (by personId) and logs `person.upsert` for each. */
  upsertResidents(residents: readonly Resident[]): Promise<ChangeBatch[]>;
  getResident(personId: string): Promise<Resident | undefined>;
  findResidentsByIdHash(idHashes: readonly string[]): Promise<Resident[]>;
  listResidents(query: ResidentQuery): Promise<{ residents: Resident[]; nextCursor: string | null }>;
  /** personId → masked name, for the live feed. */
  maskedNames(personIds: readonly string[]): Promise<Map<string, string>>;
  /**
   * personId → compoundId of those that are residents (the unknown left out): ingest's admission
   * check of every passage's person (cloud/ingest/event-admission.ts), so one narrow read, not a
   * resident's whole row.
   */
  compoundsOfPersons(personIds: readonly string[]): Promise<Map<string, string>>;
  /**
   * The ids of a compound's residents (from the `(compound_id, person_id)` index alone), or
   * undefined when it has more than `limit`: admission holds a compound's set in memory.
   */
  personIdsOfCompound(compoundId: string, limit: number): Promise<string[] | undefined>;
  /** Of these people, the visitors (`kind: visitor`): their passages are marked for the guards. */
  visitorsAmong(personIds: readonly string[]): Promise<Set<string>>;
  deleteResident(personId: string): Promise<ChangeBatch | undefined>;
  /** Applies each update whose `ts` is not older than the stored one; logs `health` changes. */
  setHealth(updates: readonly HealthUpdateRow[]): Promise<ChangeBatch[]>;

  createPass(pass: Pass): Promise<void>;
  getPass(passId: string): Promise<Pass | undefined>;
  revokePass(passId: string, ts: number): Promise<ChangeBatch | undefined>;

  /** Changes with rev > fromRev, at most `limit`, or the verdict that a snapshot is needed. */
  readChanges(compoundId: string, fromRev: number, limit: number): Promise<ChangeLogRead>;
  /**
   * Everything a replica needs, streamed into `sink` page by page from one read transaction
   * (consistent at the rev `begin` names). Rejects with `NotFoundError` for an unknown compound before `begin`.
   */
  readSnapshot(compoundId: string, sink: SnapshotSink): Promise<void>;
  /** Keeps the last `keepRevs` revisions of every compound's change log; returns rows deleted. */
  compactChangeLog(keepRevs: number): Promise<number>;
}

export interface GateActivityStore {
  /**
   * Latest status per gate, plus a history row whenever `online` or `mode` changes (for uptime).
   * The row's time is the status's `ts`, except for an offline status: a last will carries the
   * time its gate connected, so a live one counts from when it arrived (`receivedAt`), and a
   * retained one (delivered when the cloud subscribes; when it happened is unknown) from no
   * earlier than the gate's previous row. History times never go backwards.
   */
  recordStatus(
    gateId: string,
    compoundId: string,
    status: GateStatus,
    receivedAt: number,
    options?: { retained?: boolean },
  ): Promise<void>;
  latestStatus(gateId: string): Promise<GateStatusRecord | undefined>;
  latestStatuses(compoundId?: string): Promise<GateStatusRecord[]>;
  statusHistory(gateId: string, from: number, to: number): Promise<{ ts: number; online: boolean; mode: Mode }[]>;
  recordAlarm(alarm: StoredAlarm): Promise<void>;
  recentAlarms(gateId: string, limit: number): Promise<StoredAlarm[]>;
  recordCommand(command: CommandRecord): Promise<void>;
  /** Records a gate's answer; the command's kind, or undefined when this gate was not sent `cmdId`. */
  recordCommandResult(
    gateId: string,
    cmdId: string,
    ok: boolean,
    error: string | null,
    at: number,
  ): Promise<CommandKind | undefined>;
  recentCommands(gateId: string, limit: number): Promise<CommandRecord[]>;
}

export interface StoredAlarm {
  gateId: string;
  compoundId: string;
  kind: AlarmKind;
  ts: number;
  detail: string;
  receivedAt: number;
}

export interface CommandRecord {
  cmdId: string;
  gateId: string;
  kind: CommandKind;
  direction: Direction | null;
  reason: string | null;
  by: string;
  issuedAt: number;
  result: { ok: boolean; error: string | null; at: number } | null;
}

export interface AuditEntry {
  at: number;
  actor: string;
  role: string;
  /** e.g. `mode.change`, `gate.open`, `identity.reveal`, `trace.contacts`. */
  action: string;
  compoundId: string | null;
  target: string | null;
  detail: Record<string, unknown> | null;
}

export interface AuditQuery {
  compoundId?: string;
  actor?: string;
  action?: string;
  from?: number;
  to?: number;
  limit: number;
  cursor?: string;
}

export interface AuditStore {
  recordAudit(entry: AuditEntry): Promise<void>;
  listAudit(query: AuditQuery): Promise<{ entries: (AuditEntry & { id: number })[]; nextCursor: string | null }>;
}

export interface User {
  username: string;
  passwordHash: string;
  role: HttpRole;
  compoundId: string | null;
  createdAt: number;
}

export interface UserStore {
  createUser(user: User): Promise<void>;
  getUser(username: string): Promise<User | undefined>;
  listUsers(): Promise<User[]>;
  /** Replaces a user's password hash; false when there is no such user. */
  setPasswordHash(username: string, passwordHash: string): Promise<boolean>;
  /** Changes a user's role and compound binding; false when there is no such user. */
  updateUser(username: string, change: { role: HttpRole; compoundId: string | null }): Promise<boolean>;
  /** Deletes a login; false when there is no such user. */
  deleteUser(username: string): Promise<boolean>;
}

export interface RetentionStore {
  /**
   * Deletes at most `limit` events (and alarms, status history, commands, refused seqs) older than
   * `before`; returns rows deleted.
   */
  purgeBefore(before: number, limit: number): Promise<number>;
  /** Deletes at most `limit` audit entries recorded before `before` (their own, longer horizon); returns rows deleted. */
  purgeAuditBefore(before: number, limit: number): Promise<number>;
}

/** The whole store a cloud runs on. */
export interface CloudStore
  extends EventStore,
    RegistryStore,
    GateActivityStore,
    AuditStore,
    UserStore,
    RetentionStore {
  /** The database handle, for the extensions' storage implementations only (cloud/store/engine.ts). */
  readonly engine: StoreEngine;
  close(): Promise<void>;
}

/** What a gate's replica holds about a person (the cloud's `Resident` without name and ID number). */
export function personRecordOf(resident: Resident): PersonRecord {
  return {
    personId: resident.personId,
    compoundId: resident.compoundId,
    householdId: resident.householdId,
    kind: resident.kind,
    idHash: resident.idHash,
    maskedName: resident.maskedName,
    cards: resident.cards,
    validFrom: resident.validFrom,
    validTo: resident.validTo,
    active: resident.active,
    elderly: resident.elderly,
  };
}
