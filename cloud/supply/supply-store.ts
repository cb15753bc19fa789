/**
 * Where the crisis supplies are kept (docs/supplies.md), as the supply service sees it: async and
 * engine-neutral (cloud/store/engine.ts); `openSupplyStore` picks the SQLite or PostgreSQL
 * implementation. The supply service (supply-service.ts) holds the rules and the messages; the store holds
 * the rows and makes each decision about a household atomic:
 *
 * - **Once per household per round is the database's rule**: a unique index over
 *   `(round_id, household_id) WHERE standing = 'accepted'`, written with `ON CONFLICT DO NOTHING`.
 *   A handed-out record that loses on it is stored as a `double`. However many cloud instances
 *   share the database, no household has two accepted claims in a round.
 * - An ask or a cloud claim reads the household's facts (round, application, accepted claim, hold)
 *   and writes its hold or claim in one transaction, the household locked against the other
 *   instances (PostgreSQL: an advisory lock; SQLite: one writer), with the supply service's pure `decide`
 *   judging the facts in between.
 * - A point's claim records are stored once per `(gateId, seq)` and its cumulative ack mark is
 *   computed from the stored seqs, under a lock on the gate, never from one instance's memory.
 * - Every change the points must hear (`supply.round`, `supply.apply`, `supply.claim`) is appended
 *   to the compound's change log in the same transaction; the batch comes back for publishing.
 */
import type { ClaimRecord, ClaimRefusal, ClaimStanding, SupplyItem } from '../../shared/schemas/supply.ts';
import type { ChangeBatch } from '../store/store.ts';

export interface RoundRow {
  roundId: string;
  compoundId: string;
  name: string;
  items: SupplyItem[];
  /** Stock on hand per item name, where the provider gave one. */
  stock: Record<string, number>;
  form: 'pickup' | 'delivery';
  windowFrom: number;
  windowTo: number;
  eligibility: 'all' | 'applicants';
  status: 'open' | 'closed';
  providers: string[];
  /** Opened explicitly while the compound slept. */
  woken: boolean;
  createdBy: string;
  createdAt: number;
  closedAt: number | null;
}

export interface ClaimRow {
  claimId: string;
  roundId: string;
  compoundId: string;
  householdId: string | null;
  personId: string | null;
  gateId: string | null;
  seq: number | null;
  ts: number;
  method: string;
  outcome: string;
  refusal: string | null;
  decidedBy: string;
  askId: string | null;
  guard: string | null;
  reason: string | null;
  standing: ClaimStanding;
  storedAt: number;
}

/** A claim row with the claimant's masked name, for the round's claim list. */
export interface ClaimListRow extends ClaimRow {
  maskedName: string | null;
}

/** The household's accepted claim of a round: `gateId` null when made in the cloud. */
export interface FirstClaim {
  claimId: string;
  gateId: string | null;
  ts: number;
}

export interface Hold {
  gateId: string;
  askId: string;
  at: number;
}

/** What decides whether a household may claim now, read inside the deciding transaction. */
export interface HouseholdFacts {
  round: RoundRow | undefined;
  /** The household has a resident in the round's compound (false without a round). */
  householdKnown: boolean;
  applied: boolean;
  accepted: FirstClaim | undefined;
  hold: Hold | undefined;
}

export interface Refusal {
  refusal: ClaimRefusal;
  /** Where (a gate, or null: the office) and when the household claimed or is being served. */
  claimedAt?: { ts: number; gateId: string | null };
}

/** The supply service's rule, judged inside the store's transaction; undefined: the household may claim. */
export type Decide = (facts: HouseholdFacts) => Refusal | undefined;

export interface AskInput {
  roundId: string;
  householdId: string;
  gateId: string;
  askId: string;
  at: number;
}

export interface CloudClaimInput {
  roundId: string;
  householdId: string;
  personId: string | null;
  method: 'delivery' | 'guard';
  by: string;
  reason: string;
  at: number;
}

export interface StoredRecords {
  /** The gate's cumulative mark after this batch (every seq up to it is stored). */
  upTo: number;
  /** Records stored now (not seen before). */
  stored: number;
  /** Records already stored (a redelivery). */
  duplicates: number;
  /** Records naming a round of another compound, or none: stored as refused. */
  foreign: ClaimRecord[];
  /** Handed-out records for a household already served, with the claim that came first. */
  doubles: { record: ClaimRecord; first: FirstClaim }[];
  /** The accepted claims' `supply.claim` changes, logged. */
  batch: ChangeBatch | undefined;
}

export interface SnapshotRows {
  rounds: RoundRow[];
  applicants: { roundId: string; householdId: string }[];
  accepted: { roundId: string; householdId: string; claimId: string; ts: number }[];
}

export interface SupplyStore {
  /** The compound's mode (`normal` when unknown) and how many of its rounds are open. */
  awakeFacts(compoundId: string): Promise<{ mode: string; openRounds: number }>;
  round(roundId: string): Promise<RoundRow | undefined>;
  /** Newest first; every compound's when `compoundId` is undefined. */
  rounds(compoundId: string | undefined, limit: number): Promise<RoundRow[]>;
  /** Claims per standing, and the households the round is for (its applicants, or the compound's). */
  progress(round: RoundRow): Promise<{ standings: Partial<Record<ClaimStanding, number>>; households: number }>;
  householdKnown(compoundId: string, householdId: string): Promise<boolean>;
  hasApplied(roundId: string, householdId: string): Promise<boolean>;
  /** The household of a resident of the compound (undefined: none). */
  householdOf(compoundId: string, personId: string): Promise<string | undefined>;
  acceptedClaim(roundId: string, householdId: string): Promise<FirstClaim | undefined>;
  /** Oldest first. */
  claims(roundId: string, limit: number): Promise<ClaimListRow[]>;
  gateName(gateId: string): Promise<string | undefined>;
  /** Open rounds and those closed since `since`, their applicants and accepted claims, read at one moment. */
  forSnapshot(compoundId: string, since: number): Promise<SnapshotRows>;

  /** Stores a new round and logs its `supply.round` change. */
  createRound(round: RoundRow): Promise<ChangeBatch>;
  setStock(roundId: string, stock: Record<string, number>, at: number): Promise<void>;
  /** Closes an open round and logs the change; undefined when it was closed already. */
  closeRound(roundId: string, by: string, at: number): Promise<ChangeBatch | undefined>;
  /** Records a household's application and logs `supply.apply`; undefined when it had applied. */
  apply(round: RoundRow, householdId: string, by: string, at: number): Promise<ChangeBatch | undefined>;
  /** Holds the household for the ask unless `decide` refuses, in one transaction. */
  ask(ask: AskInput, decide: Decide): Promise<Refusal | undefined>;
  /** Stores a claim made in the cloud as the household's accepted claim unless `decide` (or the unique index) refuses. */
  recordCloudClaim(
    claim: CloudClaimInput,
    decide: Decide,
  ): Promise<{ refused: Refusal } | { claimId: string; batch: ChangeBatch }>;
  /** A point's claim records: each stored once, judged, holds released, the mark moved — one transaction. */
  storeRecords(gateId: string, compoundId: string, records: readonly ClaimRecord[], at: number): Promise<StoredRecords>;
}
