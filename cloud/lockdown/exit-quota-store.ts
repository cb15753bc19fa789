/**
 * Where the lockdown exit quota's uses and over-uses are kept (exit-quota-ledger.ts), as the
 * ledger sees them. `recordInIngest` is the one synchronous part: it runs inside the ingest
 * transaction (an `IngestHook`), so a stored use is never lost; everything else runs after the
 * commit. open-exit-quota-store.ts picks the engine's implementation.
 */
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { ChangeBatch } from '../store/store.ts';

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

export interface ExitQuotaStore {
  /** Inside the ingest transaction: records the uses (a use already recorded is skipped); returns how many were new. */
  recordInIngest(uses: readonly ExitUse[]): number;
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
