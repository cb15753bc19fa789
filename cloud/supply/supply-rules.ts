/**
 * Whether a household may claim now (docs/supplies.md, "Once per household"): judged from the
 * facts the store reads inside the deciding transaction (supply-store.ts), so the same rule holds on
 * every engine and across cloud instances.
 */
import type { Decide, HouseholdFacts, Refusal } from './supply-store.ts';

export interface AskContext {
  /** The compound of the point (or of the request): a round of another compound is refused as closed. */
  compoundId: string;
  now: number;
  /** How long a hold whose point never sent its record keeps the household. */
  holdMs: number;
  /** The ask being decided: a hold of its own is no obstacle. */
  askId?: string;
}

export function refusalOf(facts: HouseholdFacts, ctx: AskContext): Refusal | undefined {
  const { round } = facts;
  if (!round || round.compoundId !== ctx.compoundId || round.status !== 'open') return { refusal: 'round-closed' };
  // A household of another compound (or of none) is never held or claimed for in this one.
  if (!facts.householdKnown) return { refusal: 'no-household' };
  if (ctx.now < round.windowFrom || ctx.now > round.windowTo) return { refusal: 'outside-window' };
  if (round.eligibility === 'applicants' && !facts.applied) return { refusal: 'not-eligible' };
  if (facts.accepted) {
    return { refusal: 'already-claimed', claimedAt: { ts: facts.accepted.ts, gateId: facts.accepted.gateId } };
  }
  const { hold } = facts;
  if (hold && hold.askId !== ctx.askId && ctx.now - hold.at < ctx.holdMs) {
    return { refusal: 'already-claimed', claimedAt: { ts: hold.at, gateId: hold.gateId } };
  }
  return undefined;
}

export const decideWith =
  (ctx: AskContext): Decide =>
  (facts) =>
    refusalOf(facts, ctx);
