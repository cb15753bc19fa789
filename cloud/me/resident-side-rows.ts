/**
 * The resident side's rows as the routes see them, shared by the SQLite and PostgreSQL stores
 * (resident-side-store.ts): the same column names on both engines, times as numbers, absent values
 * as null.
 */
import type { HealthColour } from '../../shared/enums.ts';
import {
  DEFAULT_RESIDENT_POLICY,
  type ResidentPolicy,
  residentPolicySchema,
  type Transport,
} from '../../shared/schemas/resident-side.ts';
import type {
  ActivationCodeRow,
  ResidentAccount,
  ReturnMemberRow,
  ReturnRow,
  ReturnStatus,
  VisitorInviteRow,
} from './resident-side-store.ts';

export type Raw = Record<string, unknown>;

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));

export function codeOfRow(r: Raw): ActivationCodeRow {
  return {
    codeId: String(r.code_id),
    personId: String(r.person_id),
    compoundId: String(r.compound_id),
    issuedBy: String(r.issued_by),
    issuedAt: Number(r.issued_at),
    expiresAt: Number(r.expires_at),
    usedAt: num(r.used_at),
    revokedAt: num(r.revoked_at),
  };
}

export function accountOfRow(r: Raw): ResidentAccount {
  return {
    personId: String(r.person_id),
    login: String(r.login),
    compoundId: String(r.compound_id),
    passwordHash: String(r.password_hash),
    activatedAt: Number(r.activated_at),
  };
}

export function inviteOfRow(r: Raw): VisitorInviteRow {
  return {
    inviteId: String(r.invite_id),
    compoundId: String(r.compound_id),
    householdId: String(r.household_id),
    invitedBy: String(r.invited_by),
    visitorPersonId: String(r.visitor_person_id),
    passId: String(r.pass_id),
    maskedName: String(r.masked_name),
    phoneTail: String(r.phone_tail),
    visitDate: String(r.visit_date),
    uses: Number(r.uses),
    validFrom: Number(r.valid_from),
    validTo: Number(r.valid_to),
    createdAt: Number(r.created_at),
    revokedAt: num(r.revoked_at),
  };
}

/** The values of a reserved invitation, in the column order of both stores' `reserveInvite` insert. */
export function inviteValues(row: VisitorInviteRow & { linkHash: string }, pendingUntil: number) {
  return [
    row.inviteId,
    row.compoundId,
    row.householdId,
    row.invitedBy,
    row.visitorPersonId,
    row.passId,
    row.linkHash,
    row.maskedName,
    row.phoneTail,
    row.visitDate,
    row.uses,
    row.validFrom,
    row.validTo,
    row.createdAt,
    pendingUntil,
  ] as const;
}

export function memberOfRow(m: Raw): ReturnMemberRow {
  return {
    personId: String(m.person_id),
    previousColour: String(m.previous_colour) as HealthColour,
    setTs: num(m.set_ts),
    restoredAt: num(m.restored_at),
  };
}

export function returnOfRow(r: Raw, members: ReturnMemberRow[]): ReturnRow {
  return {
    returnId: String(r.return_id),
    compoundId: String(r.compound_id),
    householdId: str(r.household_id),
    registeredBy: String(r.registered_by),
    origin: String(r.origin),
    returnDate: String(r.return_date),
    transport: String(r.transport) as Transport,
    transportDetail: str(r.transport_detail),
    createdAt: Number(r.created_at),
    yellowUntil: num(r.yellow_until),
    status: String(r.status) as ReturnStatus,
    reviewedBy: str(r.reviewed_by),
    reviewedAt: num(r.reviewed_at),
    reviewNote: str(r.review_note),
    members,
  };
}

/** The values of an inserted registration, in the column order of both stores' `insertReturn`. */
export function returnValues(row: Omit<ReturnRow, 'status' | 'reviewedBy' | 'reviewedAt' | 'reviewNote'>) {
  return [
    row.returnId,
    row.compoundId,
    row.householdId,
    row.registeredBy,
    row.origin,
    row.returnDate,
    row.transport,
    row.transportDetail,
    row.createdAt,
    row.yellowUntil,
  ] as const;
}

/** A stored policy, or the default when there is none or it no longer parses. */
export function policyOfText(text: string | undefined): ResidentPolicy {
  if (text === undefined) return DEFAULT_RESIDENT_POLICY;
  const parsed = residentPolicySchema.safeParse(JSON.parse(text));
  return parsed.success ? parsed.data : DEFAULT_RESIDENT_POLICY;
}
