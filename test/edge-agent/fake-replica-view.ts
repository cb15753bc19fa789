/** A Map-backed `ReplicaView` fed by the same `Change`s as the real store, for decision tests. */
import type { Direction, HealthColour, Mode } from '../../shared/enums.ts';
import type { Change, PersonRecord } from '../../shared/schemas/mqtt.ts';
import type { ExitQuotaPolicy, ReplicaView } from '../../edge-agent/replica-view.ts';

export class FakeReplicaView implements ReplicaView {
  currentMode: Mode = 'normal';
  currentRev = 0;
  contactAt: number | null = null;
  readonly persons = new Map<string, PersonRecord>();
  readonly colours = new Map<string, HealthColour>();
  readonly revoked = new Set<string>();
  readonly uses = new Map<string, number>();
  readonly directions = new Map<string, Direction>();
  readonly exits: { householdId: string; at: number }[] = [];
  readonly frames = new Map<string, number>();
  quota: ExitQuotaPolicy | null = null;

  apply(changes: readonly Change[]): this {
    for (const change of changes) {
      switch (change.op) {
        case 'person.upsert':
          this.persons.set(change.person.personId, change.person);
          break;
        case 'person.delete':
          this.persons.delete(change.personId);
          break;
        case 'health':
          this.colours.set(change.personId, change.colour);
          break;
        case 'pass.revoke':
          this.revoked.add(change.passId);
          break;
        case 'mode':
          this.currentMode = change.mode;
          break;
        case 'quota.policy':
          this.quota = { exits: change.exits, periodHours: change.periodHours };
          break;
      }
    }
    return this;
  }

  /** Same contract as `ReplicaStore.recordPassage`. */
  recordPassage(
    effects: {
      passUse?: string;
      householdExit?: string;
      passageOf?: string;
      deviceFrame?: { passId: string; at: number };
    },
    direction: Direction,
    at: number,
  ): void {
    const frame = effects.deviceFrame;
    if (frame) this.frames.set(frame.passId, Math.max(frame.at, this.frames.get(frame.passId) ?? -1));
    if (effects.passUse) this.uses.set(effects.passUse, this.passUses(effects.passUse) + 1);
    if (effects.householdExit) this.exits.push({ householdId: effects.householdExit, at });
    if (effects.passageOf) this.directions.set(effects.passageOf, direction);
  }

  mode(): Mode {
    return this.currentMode;
  }
  rev(): number {
    return this.currentRev;
  }
  lastCloudContactAt(): number | null {
    return this.contactAt;
  }
  personById(personId: string): PersonRecord | undefined {
    return this.persons.get(personId);
  }
  personByIdHash(idHash: string): PersonRecord | undefined {
    for (const person of this.persons.values()) if (person.idHash === idHash) return person;
    return undefined;
  }
  personByCard(card: string): PersonRecord | undefined {
    for (const person of this.persons.values()) if (person.cards.includes(card)) return person;
    return undefined;
  }
  health(personId: string): HealthColour {
    return this.colours.get(personId) ?? 'unknown';
  }
  isPassRevoked(passId: string): boolean {
    return this.revoked.has(passId);
  }
  passUses(passId: string): number {
    return this.uses.get(passId) ?? 0;
  }
  lastDirection(personId: string): Direction | undefined {
    return this.directions.get(personId);
  }
  lastFrameAt(passId: string): number | undefined {
    return this.frames.get(passId);
  }
  exitQuota(): ExitQuotaPolicy | null {
    return this.quota;
  }
  householdExitsSince(householdId: string, sinceMs: number): number {
    return this.exits.filter((e) => e.householdId === householdId && e.at >= sinceMs).length;
  }
}
