/**
 * The store's rows as both engines return them — the same tables under the same column names on
 * SQLite (cloud/store/sqlite/) and PostgreSQL (cloud/store/postgres/) — and their mapping to the
 * store's records (cloud/store/store.ts), written once so the two engines cannot drift apart. What
 * differs is absorbed here: a boolean is SQLite's INTEGER 0/1 or PostgreSQL's boolean (`bool`), and
 * every number goes through `Number`. Also the page cursor's tuple, which both engines decode alike.
 */
import type { HealthColour, HttpRole, Mode } from '../../shared/enums.ts';
import type { GateSettings, GateStatus } from '../../shared/schemas/mqtt.ts';
import { InvalidCursorError } from '../cloud-errors.ts';
import { decodeCursor } from './cursor.ts';
import type {
  AuditEntry,
  CommandRecord,
  Compound,
  Gate,
  GateStatusRecord,
  Pass,
  Resident,
  StoredAlarm,
  StoredEvent,
  User,
} from './store.ts';

/** A boolean column: SQLite's INTEGER 0/1, PostgreSQL's boolean. */
export type BoolColumn = 0 | 1 | boolean;
export const bool = (v: unknown) => v === 1 || v === true;
export const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));
export const strOrNull = (v: unknown) => (v === null || v === undefined ? null : String(v));

export interface CompoundRow {
  id: string;
  name: string;
  time_zone: string;
  mode: Mode;
  mode_reason: string | null;
  mode_changed_at: number | null;
  quota_exits: number;
  quota_period_hours: number;
  rev: number;
  created_at: number;
}

export function compoundOfRow(r: CompoundRow): Compound {
  return {
    id: r.id,
    name: r.name,
    timeZone: r.time_zone,
    mode: r.mode,
    modeReason: strOrNull(r.mode_reason),
    modeChangedAt: numOrNull(r.mode_changed_at),
    quotaExits: Number(r.quota_exits),
    quotaPeriodHours: Number(r.quota_period_hours),
    rev: Number(r.rev),
    createdAt: Number(r.created_at),
  };
}

export interface GateRow {
  id: string;
  compound_id: string;
  name: string;
  anti_passback: BoolColumn;
  /** JSON of `GateSettings`, or null while the cloud never set any. */
  settings: string | null;
  created_at: number;
}

export function gateOfRow(r: GateRow): Gate {
  return {
    id: r.id,
    compoundId: r.compound_id,
    name: r.name,
    antiPassback: bool(r.anti_passback),
    // The column is the truth for anti-passback (it predates the settings).
    settings: {
      ...(r.settings ? (JSON.parse(r.settings) as GateSettings) : {}),
      antiPassback: bool(r.anti_passback),
    },
    createdAt: Number(r.created_at),
  };
}

export interface ResidentRow {
  person_id: string;
  compound_id: string;
  household_id: string | null;
  kind: Resident['kind'];
  name: string;
  masked_name: string;
  id_sealed: string | null;
  id_hash: string | null;
  masked_id_number: string | null;
  phone: string | null;
  /** JSON array of card numbers. */
  cards: string;
  elderly: BoolColumn;
  valid_from: number | null;
  valid_to: number | null;
  active: BoolColumn;
  health: HealthColour;
  health_ts: number | null;
  created_at: number;
  updated_at: number;
}

export function residentOfRow(r: ResidentRow): Resident {
  return {
    personId: r.person_id,
    compoundId: r.compound_id,
    householdId: strOrNull(r.household_id),
    kind: r.kind,
    name: r.name,
    maskedName: r.masked_name,
    idSealed: strOrNull(r.id_sealed),
    idHash: strOrNull(r.id_hash),
    maskedIdNumber: strOrNull(r.masked_id_number),
    phone: strOrNull(r.phone),
    cards: JSON.parse(r.cards) as string[],
    elderly: bool(r.elderly),
    validFrom: numOrNull(r.valid_from),
    validTo: numOrNull(r.valid_to),
    active: bool(r.active),
    health: r.health,
    healthTs: numOrNull(r.health_ts),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export interface EventRow {
  id: number;
  gate_id: string;
  seq: number;
  compound_id: string;
  ts: number;
  direction: StoredEvent['direction'];
  method: StoredEvent['method'];
  result: StoredEvent['result'];
  reason: StoredEvent['reason'];
  person_id: string | null;
  id_hash: string | null;
  pass_id: string | null;
  health: StoredEvent['health'];
  mode: StoredEvent['mode'];
  passed: BoolColumn | null;
  guard: string | null;
  decision_ms: number;
  received_at: number;
  open_reason: string | null;
}

export function eventOfRow(r: EventRow): StoredEvent {
  const event: StoredEvent = {
    gateId: r.gate_id,
    seq: Number(r.seq),
    ts: Number(r.ts),
    direction: r.direction,
    method: r.method,
    result: r.result,
    reason: r.reason,
    health: r.health,
    mode: r.mode,
    passed: r.passed === null ? null : bool(r.passed),
    decisionMs: Number(r.decision_ms),
    compoundId: r.compound_id,
    receivedAt: Number(r.received_at),
  };
  if (r.person_id !== null) event.personId = r.person_id;
  if (r.id_hash !== null) event.idHash = r.id_hash;
  if (r.pass_id !== null) event.passId = r.pass_id;
  if (r.guard !== null) event.guard = r.guard;
  if (r.open_reason !== null && r.open_reason !== undefined) event.openReason = r.open_reason;
  return event;
}

export interface PassRow {
  pass_id: string;
  person_id: string;
  compound_id: string;
  kind: Pass['kind'];
  not_before: number;
  expires_at: number;
  use_limit: number | null;
  text: string;
  issued_by: string;
  issued_at: number;
  revoked_at: number | null;
}

export function passOfRow(r: PassRow): Pass {
  return {
    passId: r.pass_id,
    personId: r.person_id,
    compoundId: r.compound_id,
    kind: r.kind,
    notBefore: Number(r.not_before),
    expiresAt: Number(r.expires_at),
    useLimit: numOrNull(r.use_limit),
    text: r.text,
    issuedBy: r.issued_by,
    issuedAt: Number(r.issued_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

export interface CommandRow {
  cmd_id: string;
  gate_id: string;
  kind: CommandRecord['kind'];
  direction: CommandRecord['direction'];
  reason: string | null;
  issued_by: string;
  issued_at: number;
  result_ok: BoolColumn | null;
  result_error: string | null;
  result_at: number | null;
}

export function commandOfRow(r: CommandRow): CommandRecord {
  return {
    cmdId: r.cmd_id,
    gateId: r.gate_id,
    kind: r.kind,
    direction: strOrNull(r.direction) as CommandRecord['direction'],
    reason: strOrNull(r.reason),
    by: r.issued_by,
    issuedAt: Number(r.issued_at),
    result:
      r.result_at === null
        ? null
        : { ok: bool(r.result_ok), error: strOrNull(r.result_error), at: Number(r.result_at) },
  };
}

export interface StatusRow {
  gate_id: string;
  compound_id: string;
  /** JSON of `GateStatus`. */
  status: string;
  online: BoolColumn;
  mode: Mode;
  received_at: number;
}

export function statusOfRow(r: StatusRow): GateStatusRecord {
  return {
    gateId: r.gate_id,
    compoundId: r.compound_id,
    status: JSON.parse(r.status) as GateStatus,
    receivedAt: Number(r.received_at),
  };
}

export interface StoredAlarmRow {
  gate_id: string;
  compound_id: string;
  kind: StoredAlarm['kind'];
  ts: number;
  detail: string;
  received_at: number;
}

export function storedAlarmOfRow(r: StoredAlarmRow): StoredAlarm {
  return {
    gateId: r.gate_id,
    compoundId: r.compound_id,
    kind: r.kind,
    ts: Number(r.ts),
    detail: r.detail,
    receivedAt: Number(r.received_at),
  };
}

export interface AuditRow {
  id: number;
  at: number;
  actor: string;
  role: string;
  action: string;
  compound_id: string | null;
  target: string | null;
  /** JSON object, or null. */
  detail: string | null;
}

export function auditEntryOfRow(r: AuditRow): AuditEntry & { id: number } {
  return {
    id: Number(r.id),
    at: Number(r.at),
    actor: r.actor,
    role: r.role,
    action: r.action,
    compoundId: strOrNull(r.compound_id),
    target: strOrNull(r.target),
    detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
  };
}

export interface UserRow {
  username: string;
  password_hash: string;
  role: HttpRole;
  compound_id: string | null;
  created_at: number;
}

export function userOfRow(r: UserRow): User {
  return {
    username: r.username,
    passwordHash: r.password_hash,
    role: r.role,
    compoundId: strOrNull(r.compound_id),
    createdAt: Number(r.created_at),
  };
}

/** The tuple of a page cursor of the given shape; an `InvalidCursorError` (400) for anything else. */
export function cursorTuple(
  cursor: string | undefined,
  shape: ('number' | 'string')[],
): (string | number)[] | undefined {
  if (cursor === undefined) return undefined;
  const parts = decodeCursor(cursor);
  if (!parts || parts.length !== shape.length || parts.some((p, i) => typeof p !== shape[i])) {
    throw new InvalidCursorError();
  }
  return parts;
}
