/**
 * What a distribution point decided, and the row the terminal shows for it (docs/supplies.md, "The
 * distribution role"): green *hand out* with the allocation, amber while the cloud is asked, red
 * *do not hand out* with the reason — the words of that very refusal (refusal-text.ts) and its own
 * reason code (`screenReason`), never another refusal's.
 */
import type { Direction, Method, Reason } from '../../shared/enums.ts';
import type { ClaimMethod, ClaimRecord } from '../../shared/schemas/supply.ts';
import { REASON_TEXT, TONE_COLOUR, TONE_ICON, type ScreenTone } from '../reason-text.ts';
import type { ScanReason, SupplyAllocation as Allocation, TerminalScan } from '../terminal/terminal-state.ts';
import { type PointRefusal, REFUSAL_TEXT } from './refusal-text.ts';

/**
 * A point's decision: a hand-out, or a refusal that always carries its reason (`PointRefusal`:
 * `no-reason-given` when the cloud said no without one).
 */
export type ClaimDecision =
  | { verdict: 'hand-out' }
  | {
      verdict: 'refused';
      refusal: PointRefusal;
      /** Where and when the household already claimed. */
      claimedAt?: { ts: number; where: string };
      /** For `credential-invalid`: the gate's reason the card or pass is not valid (`pass-expired`, …). */
      credentialFault?: Reason;
    };

/** A decision as shown, or `asking`: only on the first screen while the cloud is asked. */
export type DistributionOutcome = (ClaimDecision | { verdict: 'asking' }) & OutcomeDetail;

/** What a swipe or a guard's claim resolves to: always decided, never `asking`. */
export type DecidedOutcome = ClaimDecision & OutcomeDetail;

interface OutcomeDetail {
  allocation?: Allocation;
  decidedBy?: 'cloud' | 'replica';
  /** The journaled claim (absent: nothing to record, e.g. no round running). */
  record?: ClaimRecord;
  /** When the allocation or refusal was first on the screen (the swipe's clock, hrtime ns). */
  shownAt: bigint;
}

/** Who and how, for the row: the swipe's (or the guard's) side of it. */
export interface PointRowContext {
  method: ClaimMethod;
  lane: Direction;
  now: number;
  maskedName?: string | null;
  guard?: { guard: string; reason: string };
}

/**
 * The reason code of an outcome on the screen (`data-reason`) and the guard panel: the refusal
 * itself — for a card or pass that is not valid, the gate's reason why (`pass-expired`,
 * `bad-signature`, …) — and `ok` only when nothing was refused. Exhaustive: a refusal added to
 * `PointRefusal` does not compile until it is given its code here, so none falls back to another's.
 */
export function screenReason(outcome: DistributionOutcome): ScanReason {
  if (outcome.verdict !== 'refused') return 'ok';
  const { refusal } = outcome;
  switch (refusal) {
    case 'credential-invalid': {
      const fault = outcome.credentialFault;
      return fault !== undefined && fault !== 'ok' ? fault : refusal;
    }
    case 'already-claimed':
    case 'not-eligible':
    case 'outside-window':
    case 'round-closed':
    case 'unknown-person':
    case 'no-household':
    case 'no-round':
    case 'no-reason-given':
      return refusal;
    default:
      return unmapped(refusal);
  }
}

function unmapped(refusal: never): never {
  throw new Error(`distribution point: no screen reason for refusal ${String(refusal)}`);
}

/** The terminal's row for an outcome (`key`: the swipe's row, updated in place from amber to its verdict). */
export function pointScan(key: number, outcome: DistributionOutcome, d: PointRowContext): TerminalScan {
  const tone: ScreenTone =
    outcome.verdict === 'hand-out' ? 'grant' : outcome.verdict === 'refused' ? 'refuse' : 'guard';
  const items = outcome.allocation?.items.map((i) => `${i.name} ${i.quantity} ${i.unit}`).join(', ') ?? '';
  const household = outcome.allocation ? `户 ${outcome.allocation.householdId} · ${outcome.allocation.roundName}` : '';
  // A card or pass that is not valid: the next line says why, in the gate's own words (no household to show).
  const fault = outcome.verdict === 'refused' ? outcome.credentialFault : undefined;
  const why = fault !== undefined && fault !== 'ok' ? REASON_TEXT[fault] : undefined;
  return {
    key,
    seq: outcome.record?.seq ?? null,
    ts: outcome.record?.ts ?? d.now,
    direction: d.lane,
    method: screenMethod(d.method),
    result: outcome.verdict === 'hand-out' ? 'granted' : 'denied',
    reason: screenReason(outcome),
    health: 'unknown',
    tone,
    colour: TONE_COLOUR[tone],
    icon: TONE_ICON[tone],
    maskedName: d.maskedName ?? null,
    ...words(outcome, items),
    nextZh: outcome.verdict === 'asking' ? `${household} · 正在与平台核对` : (why?.zh ?? household),
    nextEn:
      outcome.verdict === 'asking'
        ? `${household} · checking with the cloud`
        : outcome.decidedBy === 'replica' && outcome.verdict === 'hand-out'
          ? `${household} · decided offline`
          : (why?.en ?? household),
    passed: null,
    waiting: outcome.verdict === 'asking',
    ...(d.guard ? { guard: d.guard.guard, openReason: d.guard.reason } : {}),
    supply: {
      verdict: outcome.verdict,
      ...(outcome.verdict === 'refused' ? { refusal: outcome.refusal } : {}),
      ...(outcome.allocation ? { allocation: outcome.allocation } : {}),
      ...(outcome.decidedBy ? { decidedBy: outcome.decidedBy } : {}),
    },
  };
}

/** The verdict in words: the items to hand out, or the refusal's own words (and where and when it claimed). */
function words(outcome: DistributionOutcome, items: string): { zh: string; en: string } {
  switch (outcome.verdict) {
    case 'hand-out':
      return { zh: `发放：${items}`, en: `Hand out: ${items}` };
    case 'asking':
      return { zh: `核对中：${items}`, en: `Checking: ${items}` };
    case 'refused': {
      const text = REFUSAL_TEXT[outcome.refusal];
      const when = outcome.claimedAt ? ` · ${outcome.claimedAt.where} ${clock(outcome.claimedAt.ts)}` : '';
      return { zh: `不发放：${text.zh}${when}`, en: `Do not hand out: ${text.en}${when}` };
    }
  }
}

function screenMethod(method: ClaimMethod): Method {
  return method === 'guard' || method === 'delivery' ? 'manual' : method;
}

function clock(ts: number): string {
  return new Date(ts).toISOString().slice(11, 16);
}
