/**
 * The read side of the gate's replica that the decision function needs. Every method is one O(1)
 * lookup (a prepared statement on an indexed column in `ReplicaStore`, a Map in tests), so
 * `decideEntry` stays pure over plain data and fast (docs/architecture.md rule 4).
 *
 * The gate's own counters (pass uses, household exits, last direction) count a grant from the
 * moment it is journaled: confirmed passages plus those still waiting for the turnstile
 * (reserved, see journal-store.ts). A grant that times out no longer counts.
 */
import type { Direction, HealthColour, Mode } from '../shared/enums.ts';
import type { PersonRecord } from '../shared/schemas/mqtt.ts';
import type { SyncedCertificate } from './device-certificates.ts';

export interface ExitQuotaPolicy {
  exits: number;
  periodHours: number;
}

export interface ReplicaView {
  mode(): Mode;
  rev(): number;
  /** Epoch ms of the last message heard from the cloud, or null if never. */
  lastCloudContactAt(): number | null;
  personById(personId: string): PersonRecord | undefined;
  personByIdHash(idHash: string): PersonRecord | undefined;
  /** `facility:number` as in `PersonRecord.cards`. */
  personByCard(card: string): PersonRecord | undefined;
  /** 'unknown' when the cloud never sent a colour for the person. */
  health(personId: string): HealthColour;
  isPassRevoked(passId: string): boolean;
  /** Passages made on the pass, confirmed or still pending (for `useLimit`). */
  passUses(passId: string): number;
  /**
   * Direction of the person's passage still pending at this gate (the latest, if several), else of
   * their last confirmed one (anti-passback).
   */
  lastDirection(personId: string): Direction | undefined;
  /**
   * The time (ms) of the newest frame of a device pass this gate let through, confirmed or still
   * pending; undefined when none (docs/passes.md, "Replays"). A frame not newer is a replay.
   */
  lastFrameAt(passId: string): number | undefined;
  /**
   * The device pass certificate of this pass that the gate received by sync and verified then
   * (device-certificates.ts), if any: a first scan of it skips the cloud signature's check.
   */
  verifiedCertificate?(passId: string): SyncedCertificate | undefined;
  /** The lockdown exit quota, or null when the cloud never sent one (then no quota exits). */
  exitQuota(): ExitQuotaPolicy | null;
  /** Exits counted against the household's quota at or after `sinceMs`, confirmed or still pending. */
  householdExitsSince(householdId: string, sinceMs: number): number;
}
