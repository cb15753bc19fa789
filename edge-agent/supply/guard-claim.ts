/**
 * A guard's claim at the terminal (`POST /api/supply/claim`, docs/supplies.md "A member without a
 * card") as the terminal answers it. A refusal never looks like success: it is HTTP 409 with the
 * structured `error {code, message}` every terminal route refuses with (like the role switch's
 * `not-crisis`), `verdict: "refused"`, the precise reason as `refusal` and the words the screen
 * shows (`zh`, `en`) — and no allocation, so nothing in it reads as "hand out". A gate that is not a
 * distribution point now refuses with `not-a-distribution-point` and its role, decides nothing,
 * journals nothing and shows nothing on its passage screen.
 */
import type { ClaimRecord } from '../../shared/schemas/supply.ts';
import type { Logger } from '../../shared/log.ts';
import type { Allocation, DistributionOutcome, DistributionPoint } from './distribution-point.ts';
import type { GateRoleName } from './gate-role.ts';
import { type GuardClaimRefusal, REFUSAL_TEXT } from './refusal-text.ts';

export type { GuardClaimRefusal } from './refusal-text.ts';

export interface GuardClaimHandOut {
  verdict: 'hand-out';
  decidedBy?: 'cloud' | 'replica';
  allocation?: Allocation;
  record?: ClaimRecord;
}

export interface GuardClaimRefused {
  error: { code: GuardClaimRefusal; message: string };
  verdict: 'refused';
  refusal: GuardClaimRefusal;
  zh: string;
  en: string;
  decidedBy?: 'cloud' | 'replica';
  /** Where and when the household already claimed. */
  claimedAt?: { ts: number; where: string };
  /** The journaled refusal (absent: nothing recorded, e.g. no round running, not a point). */
  record?: ClaimRecord;
  /** The gate's role, when that is why (`not-a-distribution-point`). */
  role?: GateRoleName;
}

/** `ok`: answered 200; otherwise 409 with the refusal. */
export type GuardClaimAnswer = { ok: true; body: GuardClaimHandOut } | { ok: false; body: GuardClaimRefused };

function refused(
  refusal: GuardClaimRefusal,
  detail: Omit<GuardClaimRefused, 'error' | 'verdict' | 'refusal' | 'zh' | 'en'>,
): GuardClaimAnswer {
  const text = REFUSAL_TEXT[refusal];
  return {
    ok: false,
    body: { error: { code: refusal, message: text.en }, verdict: 'refused', refusal, ...text, ...detail },
  };
}

/** The answer to a claim the distribution point decided (the screen's clock left out). */
export function guardClaimAnswer(outcome: DistributionOutcome): GuardClaimAnswer {
  const { decidedBy, record, claimedAt } = outcome;
  const detail = { ...(decidedBy ? { decidedBy } : {}), ...(record ? { record } : {}) };
  if (outcome.verdict === 'hand-out') {
    return {
      ok: true,
      body: { verdict: 'hand-out', ...detail, ...(outcome.allocation ? { allocation: outcome.allocation } : {}) },
    };
  }
  // A claim is decided before it is answered: `asking` never reaches here, and is no hand-out.
  return refused(outcome.refusal ?? 'already-claimed', { ...detail, ...(claimedAt ? { claimedAt } : {}) });
}

/** The answer at a gate that is not a distribution point now. */
export function notADistributionPoint(role: GateRoleName): GuardClaimAnswer {
  return refused('not-a-distribution-point', { role });
}

/**
 * A guard's claim for a member without a card: decided like a swipe at a distribution point (every
 * decided claim goes to `onClaim`); refused `not-a-distribution-point` in any other role.
 */
export async function guardClaimAt(
  point: Pick<DistributionPoint, 'guardClaim'>,
  request: { personId: string; guard: string; reason: string },
  role: GateRoleName,
  parts: { log: Logger; onClaim: (outcome: DistributionOutcome) => void },
): Promise<GuardClaimAnswer> {
  if (role !== 'distribution') {
    // Nothing decided, journaled or shown: the passage screen is not the place for a claim.
    parts.log.warn({ guard: request.guard, role }, 'guard claim refused: this gate is not a distribution point');
    return notADistributionPoint(role);
  }
  const outcome = await point.guardClaim(request);
  parts.onClaim(outcome);
  return guardClaimAnswer(outcome);
}
