/**
 * What the supply routes answer about rounds and claims (docs/supplies.md, "Rounds"): a round with
 * its stock (handed out = served + doubles, times the allocation) and progress, and a claim as the
 * manager's list and export show it.
 */
import type { ClaimStanding, RoundRecord } from '../../shared/schemas/supply.ts';
import type { ClaimListRow, RoundRow } from './supply-store.ts';
import { roundRecord } from './supply-rows.ts';

export interface RoundView extends RoundRecord {
  stock: {
    name: string;
    unit: string;
    perHousehold: number;
    stock: number | null;
    handedOut: number;
    left: number | null;
  }[];
  providers: string[];
  woken: boolean;
  createdBy: string;
  createdAt: number;
  closedAt: number | null;
  progress: { households: number; served: number; remaining: number; doubles: number; refused: number };
}

export interface ClaimView {
  claimId: string;
  householdId: string | null;
  maskedName: string | null;
  gateId: string | null;
  ts: number;
  method: string;
  outcome: string;
  refusal: string | null;
  decidedBy: string;
  standing: ClaimStanding;
  guard: string | null;
  reason: string | null;
}

export function roundView(
  round: RoundRow,
  progress: { standings: Partial<Record<ClaimStanding, number>>; households: number },
): RoundView {
  const served = progress.standings.accepted ?? 0;
  const doubles = progress.standings.double ?? 0;
  return {
    ...roundRecord(round),
    stock: round.items.map((i) => {
      const handedOut = (served + doubles) * i.perHousehold;
      const onHand = round.stock[i.name];
      return {
        name: i.name,
        unit: i.unit,
        perHousehold: i.perHousehold,
        stock: onHand ?? null,
        handedOut,
        left: onHand === undefined ? null : Math.max(0, onHand - handedOut),
      };
    }),
    providers: round.providers,
    woken: round.woken,
    createdBy: round.createdBy,
    createdAt: round.createdAt,
    closedAt: round.closedAt,
    progress: {
      households: progress.households,
      served,
      remaining: Math.max(0, progress.households - served),
      doubles,
      refused: progress.standings.refused ?? 0,
    },
  };
}

export function claimView(c: ClaimListRow): ClaimView {
  return {
    claimId: c.claimId,
    householdId: c.householdId,
    maskedName: c.maskedName,
    gateId: c.gateId,
    ts: c.ts,
    method: c.method,
    outcome: c.outcome,
    refusal: c.refusal,
    decidedBy: c.decidedBy,
    standing: c.standing,
    guard: c.guard,
    reason: c.reason,
  };
}
