/**
 * A guard's claim at the terminal (`POST /api/supply/claim`, docs/supplies.md "A member without a
 * card") as the terminal answers it (`GuardClaimReply`, terminal/terminal-state.ts). A refusal never
 * looks like success: it is HTTP 409 with the structured `error {code, message}` every terminal
 * route refuses with (like the role switch's `not-crisis`), `verdict: "refused"`, the precise reason
 * as `refusal` and the words the screen shows (`zh`, `en`) — and no allocation, so nothing in it
 * reads as "hand out". The reason is the point's own (`DecidedOutcome` carries one with every
 * refusal: `no-reason-given` when the cloud said no without one), never one made up here. A gate
 * that is not a distribution point now refuses with `not-a-distribution-point` and its role,
 * decides nothing, journals nothing and shows nothing on its passage screen.
 */
import type { Logger } from '../../shared/log.ts';
import type { GuardClaimRefused, GuardClaimReply } from '../terminal/terminal-state.ts';
import type { DecidedOutcome, DistributionPoint } from './distribution-point.ts';
import type { GateRoleName } from './gate-role.ts';
import { type GuardClaimRefusal, REFUSAL_TEXT } from './refusal-text.ts';

export type { GuardClaimRefusal } from './refusal-text.ts';

function refused(
  refusal: GuardClaimRefusal,
  detail: Omit<GuardClaimRefused, 'error' | 'verdict' | 'refusal' | 'zh' | 'en'>,
): GuardClaimReply {
  const text = REFUSAL_TEXT[refusal];
  return {
    ok: false,
    body: { error: { code: refusal, message: text.en }, verdict: 'refused', refusal, ...text, ...detail },
  };
}

/** The answer to a claim the distribution point decided (a hand-out, or a refusal with its own reason). */
function guardClaimAnswer(outcome: DecidedOutcome): GuardClaimReply {
  const { decidedBy, record } = outcome;
  const detail = { ...(decidedBy ? { decidedBy } : {}), ...(record ? { record } : {}) };
  switch (outcome.verdict) {
    case 'hand-out':
      return {
        ok: true,
        body: { verdict: 'hand-out', ...detail, ...(outcome.allocation ? { allocation: outcome.allocation } : {}) },
      };
    case 'refused':
      return refused(outcome.refusal, { ...detail, ...(outcome.claimedAt ? { claimedAt: outcome.claimedAt } : {}) });
  }
}

/**
 * A guard's claim for a member without a card: decided like a swipe at a distribution point (every
 * decided claim goes to `onClaim`); refused `not-a-distribution-point` in any other role.
 */
export async function guardClaimAt(
  point: Pick<DistributionPoint, 'guardClaim'>,
  request: { personId: string; guard: string; reason: string },
  role: GateRoleName,
  parts: { log: Logger; onClaim: (outcome: DecidedOutcome) => void },
): Promise<GuardClaimReply> {
  if (role !== 'distribution') {
    // Nothing decided, journaled or shown: the passage screen is not the place for a claim.
    parts.log.warn({ guard: request.guard, role }, 'guard claim refused: this gate is not a distribution point');
    return refused('not-a-distribution-point', { role });
  }
  const outcome = await point.guardClaim(request);
  parts.onClaim(outcome);
  return guardClaimAnswer(outcome);
}
