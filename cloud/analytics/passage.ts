/**
 * What tracing and statistics read of a stored entry event, and the one rule that decides whether
 * an event is a physical crossing of the gate (docs/tracing.md, "What counts as a passage").
 */
import type { Direction, HealthColour, Method, Reason, Result } from '../../shared/enums.ts';

export interface Passage {
  gateId: string;
  seq: number;
  ts: number;
  personId: string | null;
  direction: Direction;
  method: Method;
  result: Result;
  reason: Reason;
  /** true: the turnstile confirmed; false: it timed out; null: not applicable. */
  passed: boolean | null;
  health: HealthColour;
}

/**
 * What a contact or exposure scan of a gate reads of a passage: no reason, no health colour
 * (docs/tracing.md, "Index and query design": a covering index of these columns would answer the
 * scan without a look-up of each events row).
 */
export type GatePassage = Pick<
  Passage,
  'gateId' | 'seq' | 'ts' | 'personId' | 'direction' | 'method' | 'result' | 'passed'
>;

/**
 * A granted event is a crossing when the turnstile confirmed it (`passed: true`), or when no
 * turnstile confirmation exists for it (`passed: null`, docs/contract.md "not applicable"): free
 * passage (turnstiles held open in `emergency-open`), manual opens by a guard, and every grant at a
 * gate without a turnstile (a door or a barrier with no pass sensor) — the person walked through.
 * A granted event that timed out (`passed: false`) is not a crossing; a denied one never is.
 */
export function isCrossing(p: Pick<Passage, 'result' | 'passed' | 'method'>): boolean {
  return p.result === 'granted' && p.passed !== false;
}

/** Which events tracing looks at: crossings by default, every attempt of a known person with `includeDenied`. */
export function isTraceable(
  p: Pick<Passage, 'personId' | 'result' | 'passed' | 'method'>,
  includeDenied: boolean,
): boolean {
  if (p.personId === null) return false;
  return includeDenied || isCrossing(p);
}
