/**
 * The supply tables' rows as the supply service sees them, shared by the SQLite and PostgreSQL stores
 * (supply-store.ts): the mapping from a database row (same column names on both engines; JSON kept
 * as text), the round record the gates receive, and how a point's claim record becomes a row.
 */
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { ClaimRecord, ClaimStanding, RoundRecord, SupplyItem } from '../../shared/schemas/supply.ts';
import type { ClaimListRow, ClaimRow, CloudClaimInput, FirstClaim, RoundRow } from './supply-store.ts';

type Raw = Record<string, unknown>;

const text = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const int = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function roundOfRow(r: Raw): RoundRow {
  return {
    roundId: String(r.round_id),
    compoundId: String(r.compound_id),
    name: String(r.name),
    items: JSON.parse(String(r.items)) as SupplyItem[],
    stock: JSON.parse(String(r.stock)) as Record<string, number>,
    form: r.form as RoundRow['form'],
    windowFrom: Number(r.window_from),
    windowTo: Number(r.window_to),
    eligibility: r.eligibility as RoundRow['eligibility'],
    status: r.status as RoundRow['status'],
    providers: JSON.parse(String(r.providers)) as string[],
    // SQLite keeps 0/1, PostgreSQL a boolean.
    woken: r.woken === true || Number(r.woken) === 1,
    createdBy: String(r.created_by),
    createdAt: Number(r.created_at),
    closedAt: int(r.closed_at),
  };
}

/** The values of an inserted round, in the column order of both stores' `insertRound`. */
export function roundValues(r: RoundRow) {
  return [
    r.roundId,
    r.compoundId,
    r.name,
    JSON.stringify(r.items),
    JSON.stringify(r.stock),
    r.form,
    r.windowFrom,
    r.windowTo,
    r.eligibility,
    JSON.stringify(r.providers),
    // 0/1: SQLite binds no booleans, PostgreSQL reads '1'/'0' as one.
    r.woken ? 1 : 0,
    r.createdBy,
    r.createdAt,
  ] as const;
}

export function claimOfRow(r: Raw): ClaimListRow {
  return {
    claimId: String(r.claim_id),
    roundId: String(r.round_id),
    compoundId: String(r.compound_id),
    householdId: text(r.household_id),
    personId: text(r.person_id),
    gateId: text(r.gate_id),
    seq: int(r.seq),
    ts: Number(r.ts),
    method: String(r.method),
    outcome: String(r.outcome),
    refusal: text(r.refusal),
    decidedBy: String(r.decided_by),
    askId: text(r.ask_id),
    guard: text(r.guard),
    reason: text(r.reason),
    standing: r.standing as ClaimStanding,
    storedAt: Number(r.stored_at),
    maskedName: text(r.masked_name),
  };
}

/** The values of an inserted claim, in the column order of both stores' `insertClaim`. */
export function claimValues(c: ClaimRow) {
  return [
    c.claimId,
    c.roundId,
    c.compoundId,
    c.householdId,
    c.personId,
    c.gateId,
    c.seq,
    c.ts,
    c.method,
    c.outcome,
    c.refusal,
    c.decidedBy,
    c.askId,
    c.guard,
    c.reason,
    c.standing,
    c.storedAt,
  ] as const;
}

export const firstClaimOfRow = (r: Raw): FirstClaim => ({
  claimId: String(r.claim_id),
  gateId: text(r.gate_id),
  ts: Number(r.ts),
});

/** What the gates receive about a round (`supply.round`). */
export function roundRecord(r: RoundRow): RoundRecord {
  return {
    roundId: r.roundId,
    compoundId: r.compoundId,
    name: r.name,
    items: r.items,
    form: r.form,
    window: { from: r.windowFrom, to: r.windowTo },
    eligibility: r.eligibility,
    status: r.status,
  };
}

export const roundChange = (r: RoundRow): Change => ({ op: 'supply.round', round: roundRecord(r) });

/** An accepted claim as the points hear it (`supply.claim`). */
export const claimChange = (c: { roundId: string; householdId: string; claimId: string; ts: number }): Change => ({
  op: 'supply.claim',
  roundId: c.roundId,
  householdId: c.householdId,
  claimId: c.claimId,
  ts: c.ts,
});

/**
 * A point's claim record as a row, judged as far as it can be without the other claims: a record
 * for a round of another compound (or none) is not the point's to make and is kept as refused; a
 * handed-out record for a household is a candidate for `accepted` (the unique index decides
 * between it and `double`); anything else is `refused`.
 */
export function rowOfRecord(
  record: ClaimRecord,
  compoundId: string,
  round: RoundRow | undefined,
  at: number,
): { row: ClaimRow; foreign: boolean } {
  const foreign = !round || round.compoundId !== compoundId;
  const row: ClaimRow = {
    claimId: `${record.gateId}:${record.seq}`,
    roundId: record.roundId,
    compoundId,
    householdId: foreign ? null : (record.householdId ?? null),
    personId: foreign ? null : (record.personId ?? null),
    gateId: record.gateId,
    seq: record.seq,
    ts: record.ts,
    method: record.method,
    outcome: foreign ? 'refused' : record.outcome,
    refusal: foreign ? 'round-closed' : (record.refusal ?? null),
    decidedBy: record.decidedBy,
    askId: record.askId ?? null,
    guard: record.guard ?? null,
    reason: record.reason ?? null,
    standing: !foreign && record.outcome === 'handed-out' && record.householdId ? 'accepted' : 'refused',
    storedAt: at,
  };
  return { row, foreign };
}

/** The cumulative mark moved over the stored seqs that follow it without a gap (ascending). */
export function walkMark(mark: number, seqsAfter: readonly number[]): number {
  let upTo = mark;
  for (const seq of seqsAfter) {
    if (seq !== upTo + 1) break;
    upTo = seq;
  }
  return upTo;
}

/** A claim made in the cloud (door delivery, phoned in): `cloud:N`, accepted, decided by the cloud. */
export function cloudClaimRow(claim: CloudClaimInput, compoundId: string, n: number): ClaimRow {
  return {
    claimId: `cloud:${n}`,
    roundId: claim.roundId,
    compoundId,
    householdId: claim.householdId,
    personId: claim.personId,
    gateId: null,
    seq: null,
    ts: claim.at,
    method: claim.method,
    outcome: 'handed-out',
    refusal: null,
    decidedBy: 'cloud',
    askId: null,
    guard: claim.by,
    reason: claim.reason,
    standing: 'accepted',
    storedAt: claim.at,
  };
}
