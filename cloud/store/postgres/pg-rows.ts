/**
 * Rows of the PostgreSQL store as the store contract's records, and the small query-building
 * helpers its filtered lists share. With the pool's type parsers (pg-pool.ts) int8 columns arrive
 * as numbers and booleans as booleans; JSON columns are text, parsed here.
 */
import type { HealthColour, HttpRole, Mode } from '../../../shared/enums.ts';
import type { GateSettings, GateStatus } from '../../../shared/schemas/mqtt.ts';
import { InvalidCursorError } from '../../cloud-errors.ts';
import { decodeCursor } from '../cursor.ts';
import type {
  CommandRecord,
  Compound,
  Gate,
  GateStatusRecord,
  Pass,
  Resident,
  StoredAlarm,
  StoredEvent,
  User,
} from '../store.ts';

export type Row = Record<string, unknown>;

const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const strOrNull = (v: unknown) => (v === null || v === undefined ? null : String(v));

export function compoundOfRow(r: Row): Compound {
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

export function gateOfRow(r: Row): Gate {
  const antiPassback = r.anti_passback === true;
  return {
    id: String(r.id),
    compoundId: String(r.compound_id),
    name: String(r.name),
    antiPassback,
    // The column is the truth for anti-passback (it predates the settings).
    settings: { ...(r.settings ? (JSON.parse(String(r.settings)) as GateSettings) : {}), antiPassback },
    createdAt: Number(r.created_at),
  };
}

export function residentOfRow(r: Row): Resident {
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
    elderly: r.elderly === true,
    validFrom: numOrNull(r.valid_from),
    validTo: numOrNull(r.valid_to),
    active: r.active === true,
    health: r.health as HealthColour,
    healthTs: numOrNull(r.health_ts),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export function eventOfRow(r: Row): StoredEvent {
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
    passed: r.passed === null ? null : r.passed === true,
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

export function passOfRow(r: Row): Pass {
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

export function commandOfRow(r: Row): CommandRecord {
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
        : { ok: r.result_ok === true, error: strOrNull(r.result_error), at: Number(r.result_at) },
  };
}

export function statusOfRow(r: Row): GateStatusRecord {
  return {
    gateId: String(r.gate_id),
    compoundId: String(r.compound_id),
    status: JSON.parse(String(r.status)) as GateStatus,
    receivedAt: Number(r.received_at),
  };
}

export function alarmOfRow(r: Row): StoredAlarm {
  return {
    gateId: String(r.gate_id),
    compoundId: String(r.compound_id),
    kind: r.kind as StoredAlarm['kind'],
    ts: Number(r.ts),
    detail: String(r.detail),
    receivedAt: Number(r.received_at),
  };
}

export function userOfRow(r: Row): User {
  return {
    username: String(r.username),
    passwordHash: String(r.password_hash),
    role: r.role as HttpRole,
    compoundId: strOrNull(r.compound_id),
    createdAt: Number(r.created_at),
  };
}

export { numOrNull, strOrNull };

/** The typed tuple of an opaque cursor; throws `InvalidCursorError` when it is not one of this shape. */
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

/** AND-ed conditions written with `?`, numbered `$1…` for PostgreSQL when rendered. SQL stays parameterised. */
export class PgWhere {
  private readonly parts: string[] = [];
  readonly args: unknown[] = [];
  add(condition: string, ...args: unknown[]): this {
    this.parts.push(condition);
    this.args.push(...args);
    return this;
  }
  /** `WHERE …` with placeholders numbered from `first`; '' without conditions. */
  sql(first = 1): string {
    if (this.parts.length === 0) return '';
    let n = first;
    return `WHERE ${this.parts.join(' AND ').replace(/\?/g, () => `$${n++}`)}`;
  }
}
