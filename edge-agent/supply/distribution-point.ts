/**
 * A gate in the distribution role (docs/supplies.md, "The distribution role"): a swipe of an ID
 * card or a pass shows the household's allocation and records the claim, once per household per
 * round, instead of opening the turnstile.
 *
 * The allocation (or the refusal) is shown from the replica at once — no network on that path
 * (docs/architecture.md rule 1). Then, when the cloud is reachable, the point asks it
 * (`claims/ask`): the cloud holds the household for this point or says where and when it already
 * claimed; unreachable or silent for `answerMs`, the point decides from its replica. Whatever it
 * decided goes into the claim journal (claim-journal-store.ts), which travels exactly once like passages.
 */
import type { Direction, Reason } from '../../shared/enums.ts';
import type { Logger } from '../../shared/log.ts';
import type { PersonRecord } from '../../shared/schemas/mqtt.ts';
import {
  CLAIM_REFUSALS,
  type ClaimMethod,
  type ClaimRecord,
  type ClaimRefusal,
  type RoundRecord,
} from '../../shared/schemas/supply.ts';
import { type Credential, type GateContext, identify } from '../decision.ts';
import type { ReplicaStore } from '../replica-store.ts';
import type { TerminalFeed } from '../terminal/terminal-feed.ts';
import type { SupplyAllocation as Allocation, SupplyHousehold } from '../terminal/terminal-state.ts';
import type { ClaimEntry, ClaimJournalStore } from './claim-journal-store.ts';
import type { ClaimAnswer, ClaimUplink } from './claim-uplink.ts';
import {
  type ClaimDecision,
  type DecidedOutcome,
  type DistributionOutcome,
  type PointRowContext,
  pointScan,
} from './point-outcome.ts';
import type { PointRefusal } from './refusal-text.ts';

export type { ClaimDecision, DecidedOutcome, DistributionOutcome } from './point-outcome.ts';

export interface DistributionPointOptions {
  gateId: string;
  gate: GateContext;
  replica: ReplicaStore;
  journal: ClaimJournalStore;
  uplink: ClaimUplink;
  feed: TerminalFeed;
  now: () => number;
  log: Logger;
  /** A row was shown (the status and the terminal may follow). */
  changed?: () => void;
}

export class DistributionPoint {
  readonly counters = { swipes: 0, handedOut: 0, refused: 0, askedCloud: 0, decidedOffline: 0 };

  constructor(private readonly o: DistributionPointOptions) {}

  /**
   * A swipe. Resolves once the claim is decided and journaled; `onShown` gets the first screen
   * (the allocation while asking, or the final verdict) synchronously, before any network.
   */
  present(
    credential: Credential,
    readAt?: bigint,
    onShown?: (first: DistributionOutcome) => void,
  ): Promise<DecidedOutcome> {
    const startedAt = readAt ?? process.hrtime.bigint();
    const now = this.o.now();
    this.counters.swipes += 1;
    const { identity, fault } = identify(credential, this.o.gate, this.o.replica, now);
    const method = claimMethodOf(credential);
    const lane = credential.direction;
    const person = identity.person;
    if (fault || !person) {
      const refusal: ClaimRefusal =
        fault === 'unknown-person' || (!fault && !person) ? 'unknown-person' : 'credential-invalid';
      const maskedName = identity.maskedName ?? null;
      // Why the card or pass is not valid goes with the refusal: the screen's reason code says it.
      const credentialFault = refusal === 'credential-invalid' ? fault : undefined;
      return Promise.resolve(
        this.refuseEarly(refusal, {
          method,
          lane,
          now,
          startedAt,
          maskedName,
          onShown,
          ...(credentialFault ? { credentialFault } : {}),
        }),
      );
    }
    return this.claimFor(person, { method, lane, now, startedAt, onShown });
  }

  /** A guard records a claim for a household member without a card (docs/supplies.md, "A member without a card"). */
  guardClaim(request: { personId: string; guard: string; reason: string }): Promise<DecidedOutcome> {
    const startedAt = process.hrtime.bigint();
    const now = this.o.now();
    const person = this.o.replica.personById(request.personId);
    if (!person) {
      return Promise.resolve(
        this.refuseEarly('unknown-person', {
          method: 'guard',
          lane: 'in',
          now,
          startedAt,
          maskedName: null,
          guard: request,
        }),
      );
    }
    return this.claimFor(person, { method: 'guard', lane: 'in', now, startedAt, guard: request });
  }

  private async claimFor(
    person: PersonRecord,
    at: {
      method: ClaimMethod;
      lane: Direction;
      now: number;
      startedAt: bigint;
      onShown?: ((first: DistributionOutcome) => void) | undefined;
      guard?: { guard: string; reason: string };
    },
  ): Promise<DecidedOutcome> {
    const { supply } = this.o.replica;
    const round = supply.currentRound(at.now);
    const base = {
      method: at.method,
      lane: at.lane,
      now: at.now,
      startedAt: at.startedAt,
      maskedName: person.maskedName,
      onShown: at.onShown,
      ...(at.guard ? { guard: at.guard } : {}),
    };
    if (!round) {
      const next = supply.nextRound(at.now);
      return this.refuseEarly(next ? 'outside-window' : 'no-round', { ...base, ...(next ? { round: next } : {}) });
    }
    const householdId = person.householdId;
    if (!householdId) return this.refuseEarly('no-household', { ...base, round, personId: person.personId });
    const allocation = allocationOf(round, householdId, person.maskedName);
    const who = { round, householdId, personId: person.personId, allocation };
    const local = this.localRefusal(round, householdId);
    if (local) return this.finish({ ...base, ...who, verdict: 'refused', ...local, decidedBy: 'replica' });

    if (!this.o.uplink.isConnected) {
      this.counters.decidedOffline += 1;
      return this.finish({ ...base, ...who, verdict: 'hand-out', decidedBy: 'replica' });
    }
    // Online: the allocation is on the screen (amber) while the cloud is asked.
    const key = this.o.feed.nextKey();
    const asking: DistributionOutcome = { verdict: 'asking', allocation, shownAt: process.hrtime.bigint() };
    this.show(key, asking, { ...base, ...who });
    at.onShown?.(asking);
    this.counters.askedCloud += 1;
    const answer: ClaimAnswer | undefined = await this.o.uplink.ask(round.roundId, householdId);
    if (answer?.granted)
      return this.finish({
        ...base,
        ...who,
        key,
        verdict: 'hand-out',
        decidedBy: 'cloud',
        askId: answer.askId,
        shown: true,
      });
    if (answer) {
      return this.finish({
        ...base,
        ...who,
        key,
        verdict: 'refused',
        // The cloud said no: with its reason, or as a refusal without one — never a guessed reason.
        refusal: answer.refusal ?? 'no-reason-given',
        decidedBy: 'cloud',
        askId: answer.askId,
        shown: true,
        ...(answer.claimedAt ? { claimedAt: answer.claimedAt } : {}),
      });
    }
    // No answer: the replica decides (it may have heard of a claim meanwhile).
    this.counters.decidedOffline += 1;
    const late = this.localRefusal(round, householdId);
    if (late)
      return this.finish({ ...base, ...who, key, verdict: 'refused', ...late, decidedBy: 'replica', shown: true });
    return this.finish({ ...base, ...who, key, verdict: 'hand-out', decidedBy: 'replica', shown: true });
  }

  /** A household's members (masked) and where it stands in the current round: the guard's view. */
  household(householdId: string): SupplyHousehold {
    const { supply } = this.o.replica;
    const round = supply.currentRound(this.o.now());
    const claim = round ? supply.claimOf(round.roundId, householdId) : undefined;
    return {
      householdId,
      members: supply.members(householdId),
      round: round
        ? { roundId: round.roundId, name: round.name, items: allocationOf(round, householdId, null).items }
        : null,
      claimed: claim ? { ts: claim.at, claimId: claim.claimId } : null,
    };
  }

  /** What the replica says against a claim now (undefined: it may claim). */
  private localRefusal(
    round: RoundRecord,
    householdId: string,
  ): { refusal: ClaimRefusal; claimedAt?: { ts: number; where: string } } | undefined {
    const { supply } = this.o.replica;
    if (round.eligibility === 'applicants' && !supply.hasApplied(round.roundId, householdId))
      return { refusal: 'not-eligible' };
    const claim = supply.claimOf(round.roundId, householdId);
    if (claim)
      return { refusal: 'already-claimed', claimedAt: { ts: claim.at, where: whereOf(claim.claimId, this.o.gateId) } };
    return undefined;
  }

  private refuseEarly(
    refusal: ClaimRefusal | 'no-round',
    at: {
      method: ClaimMethod;
      lane: Direction;
      now: number;
      startedAt: bigint;
      maskedName: string | null;
      round?: RoundRecord;
      personId?: string;
      guard?: { guard: string; reason: string };
      credentialFault?: Reason;
      onShown?: ((first: DistributionOutcome) => void) | undefined;
    },
  ): DecidedOutcome {
    const round = at.round ?? this.o.replica.supply.nextRound(at.now);
    return this.finish({
      ...at,
      verdict: 'refused',
      refusal,
      decidedBy: 'replica',
      ...(round ? { round } : {}),
      record: refusal !== 'no-round' && round !== undefined,
    });
  }

  private finish(
    d: ClaimDecision & {
      decidedBy: 'cloud' | 'replica';
      method: ClaimMethod;
      lane: Direction;
      now: number;
      startedAt: bigint;
      maskedName?: string | null;
      round?: RoundRecord;
      householdId?: string;
      personId?: string;
      allocation?: Allocation;
      askId?: string;
      guard?: { guard: string; reason: string };
      key?: number;
      shown?: boolean;
      record?: boolean;
      onShown?: ((first: DistributionOutcome) => void) | undefined;
    },
  ): DecidedOutcome {
    let record: ClaimRecord | undefined;
    if (d.round && d.record !== false) {
      const entry: ClaimEntry = {
        gateId: this.o.gateId,
        ts: this.o.now(),
        roundId: d.round.roundId,
        method: d.method,
        outcome: d.verdict === 'hand-out' ? 'handed-out' : 'refused',
        decidedBy: d.decidedBy,
        ...(d.householdId ? { householdId: d.householdId } : {}),
        ...(d.personId ? { personId: d.personId } : {}),
        // The journal's refusal is a `ClaimRefusal` or absent: a refusal without a reason is recorded as one.
        ...(d.verdict === 'refused' && isClaimRefusal(d.refusal) ? { refusal: d.refusal } : {}),
        ...(d.askId ? { askId: d.askId } : {}),
        ...(d.guard ? { guard: d.guard.guard, reason: d.guard.reason } : {}),
      };
      try {
        record = this.o.journal.append(entry);
        this.o.uplink.pump();
      } catch (error) {
        this.o.log.error({ err: (error as Error).message }, 'claim journal write failed; this claim is not recorded');
      }
    }
    if (d.verdict === 'hand-out') this.counters.handedOut += 1;
    else this.counters.refused += 1;
    const shown = {
      decidedBy: d.decidedBy,
      shownAt: 0n,
      ...(d.allocation ? { allocation: d.allocation } : {}),
      ...(record ? { record } : {}),
    };
    const outcome: DecidedOutcome =
      d.verdict === 'hand-out'
        ? { ...shown, verdict: 'hand-out' }
        : {
            ...shown,
            verdict: 'refused',
            refusal: d.refusal,
            ...(d.claimedAt ? { claimedAt: d.claimedAt } : {}),
            ...(d.credentialFault ? { credentialFault: d.credentialFault } : {}),
          };
    this.show(d.key ?? this.o.feed.nextKey(), outcome, d);
    outcome.shownAt = process.hrtime.bigint();
    if (!d.shown) d.onShown?.(outcome);
    this.o.log.info(
      {
        roundId: d.round?.roundId,
        householdId: d.householdId,
        verdict: d.verdict,
        refusal: d.verdict === 'refused' ? d.refusal : undefined,
        decidedBy: d.decidedBy,
        seq: record?.seq,
      },
      'supply claim',
    );
    return outcome;
  }

  private show(key: number, outcome: DistributionOutcome, d: PointRowContext): void {
    this.o.feed.push(pointScan(key, outcome, d));
    this.o.changed?.();
  }
}

export function allocationOf(round: RoundRecord, householdId: string, maskedName: string | null): Allocation {
  return {
    roundId: round.roundId,
    roundName: round.name,
    householdId,
    maskedName,
    items: round.items.map((i) => ({ name: i.name, unit: i.unit, quantity: i.perHousehold })),
  };
}

function isClaimRefusal(refusal: PointRefusal): refusal is ClaimRefusal {
  return (CLAIM_REFUSALS as readonly string[]).includes(refusal);
}

function claimMethodOf(credential: Credential): ClaimMethod {
  return credential.method === 'manual' ? 'guard' : credential.method;
}

/** `g-2:17` → `g-2`, `cloud:3` → the office. */
function whereOf(claimId: string, ownGateId: string): string {
  const gate = claimId.slice(0, claimId.lastIndexOf(':'));
  if (gate === 'cloud') return 'the office';
  return gate === ownGateId ? 'this point' : gate;
}
