/**
 * The read side of the gate's replica that the decision function needs. Every method is one O(1)
 * lookup (a prepared statement on an indexed column in `ReplicaStore`, a Map in tests), so
 * `decideEntry` stays pure over plain data and fast (ARCHITECTURE.md rule 4).
 */
import type { Direction, HealthColour, Mode } from '../shared/enums.ts';
import type { PersonRecord } from '../shared/schemas/mqtt.ts';

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
  /** Confirmed passages already made on the pass (for `useLimit`). */
  passUses(passId: string): number;
  /** Direction of the person's last confirmed passage at this gate (anti-passback). */
  lastDirection(personId: string): Direction | undefined;
  /** The lockdown exit quota, or null when the cloud never sent one (then no quota exits). */
  exitQuota(): ExitQuotaPolicy | null;
  /** Exits counted against the household's quota at or after `sinceMs`. */
  householdExitsSince(householdId: string, sinceMs: number): number;
}
