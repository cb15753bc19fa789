/**
 * Where the lockdown exit quota's uses and over-uses are kept (exit-quota-service.ts), as the
 * exit quota service sees them. The uses are recorded inside the ingest transaction (`ingestHook`, an ingest
 * hook of the store's engine: cloud/store/ingest-hook.ts), so a stored use is never lost;
 * everything else runs after the commit. open-exit-quota-store.ts picks the engine's implementation.
 */
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { CompoundOf, IngestHook } from '../store/ingest-hook.ts';
import type { ChangeBatch, StoredEvent } from '../store/store.ts';

/** One granted lockdown exit against a household's quota. */
export interface ExitUse {
  gateId: string;
  seq: number;
  compoundId: string;
  householdId: string;
  ts: number;
}

export interface ExitOveruse {
  householdId: string;
  gateId: string;
  seq: number;
  ts: number;
  /** Uses in the period ending at `ts`, this one included. */
  uses: number;
  quota: number;
  periodHours: number;
  /** The gates those uses were made at. */
  gates: string[];
  detectedAt: number;
}

/** Picks the quota uses out of a batch of newly stored passages. */
export type UsesOf = (events: readonly StoredEvent[], compoundOf: CompoundOf) => ExitUse[];

export interface ExitQuotaStore {
  /**
   * The ingest hook that records the uses `usesOf` picks from each batch, in the batch's own
   * transaction (a use already recorded is skipped); once the batch committed, `recorded` is told
   * how many were new.
   */
  ingestHook(usesOf: UsesOf, recorded: (fresh: number) => void): IngestHook;
  /** Uses not yet relayed to the gates, by compound and time, at most `limit`. */
  unrelayed(limit: number): Promise<ExitUse[]>;
  /** In one transaction: appends each compound's changes to its change log and marks `uses` relayed. */
  relay(changes: ReadonlyMap<string, Change[]>, uses: readonly ExitUse[]): Promise<ChangeBatch[]>;
  /** The compound's quota policy, or undefined for an unknown compound. */
  policy(compoundId: string): Promise<{ exits: number; periodHours: number } | undefined>;
  /** A household's uses with `from ≤ ts ≤ to`, by time. */
  householdUses(compoundId: string, householdId: string, from: number, to: number): Promise<ExitUse[]>;
  /** The compound's uses since `since`, by time. */
  usesSince(compoundId: string, since: number): Promise<ExitUse[]>;
  /** Records an over-use; false when this (gate, seq) was recorded already. */
  recordOveruse(compoundId: string, overuse: ExitOveruse): Promise<boolean>;
  /** The compound's over-uses detected since `since`, newest first. */
  overuses(compoundId: string, since: number, limit: number): Promise<ExitOveruse[]>;
}
