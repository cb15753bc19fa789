/**
 * Passage handling: a credential in, a decision, a journal row, the turnstile, the terminal's row.
 *
 * The path from a read to the unlock is synchronous and local (docs/architecture.md rule 1): decide
 * over the SQLite replica, append to the SQLite journal, command the turnstile. The uplink is only
 * nudged; nothing here waits on the network.
 */
import type { Direction } from '../shared/enums.ts';
import type { Logger } from '../shared/log.ts';
import type { EntryEvent } from '../shared/schemas/mqtt.ts';
import type { AlarmWatch } from './gate-alarms.ts';
import type { GateClock } from './gate-clock.ts';
import { type Credential, type Decision, decideEntry, type GateContext } from './decision.ts';
import type { JournalEntry, JournalStore } from './journal-store.ts';
import type { ReplicaStore } from './replica-store.ts';
import { freePassageScan, scanOf, type TerminalFeed } from './terminal/terminal-feed.ts';
import type { ManualOpenRequest, TerminalScan } from './terminal/terminal-state.ts';
import type { TurnstileControl } from './turnstile-control.ts';
import type { Uplink } from './uplink.ts';

export interface PresentResult {
  decision: Decision;
  /** The journaled event (undefined only if the journal could not be written). */
  event: EntryEvent | undefined;
  /** Resolves with the final event once the turnstile confirmed or timed out (at once when not applicable). */
  passage: Promise<EntryEvent | undefined>;
}

export interface PassageDeskOptions {
  gateId: string;
  now: () => number;
  log: Logger;
  counters: { decisions: number; journalErrors: number };
  gate: GateContext;
  clock: GateClock;
  replica: ReplicaStore;
  journal: JournalStore;
  turnstile: TurnstileControl;
  uplink: Uplink;
  feed: TerminalFeed;
  watch: AlarmWatch;
  /** false once the agent stopped (a late turnstile answer then changes nothing). */
  open: () => boolean;
  /** A configured turnstile is faulty (a grant then must not read as "go"). */
  turnstileDown: () => boolean;
  /** A scan row changed: the status may have too. */
  changed: () => void;
  onDecision: (event: EntryEvent | undefined, decision: Decision) => void;
}

export class PassageDesk {
  private readonly passages = new Set<Promise<unknown>>();

  constructor(private readonly o: PassageDeskOptions) {}

  /** Decides a credential as if a device had read it (the devices call this too). */
  present(credential: Credential, readAt?: bigint): PresentResult {
    const { o } = this;
    const startedAt = readAt ?? process.hrtime.bigint();
    const now = o.now();
    // Pass validity is judged at the cloud-checked time when the wall clock has jumped (gate-clock.ts).
    const decision = decideEntry(credential, o.gate, o.replica, o.clock.decisionNow());
    const decisionMs = Math.min(60_000, Math.max(0, Number(process.hrtime.bigint() - startedAt) / 1e6));
    o.counters.decisions += 1;
    const granted = decision.result === 'granted';
    const awaitTurnstile = granted && o.turnstile.hasDevice;
    const key = o.feed.nextKey();
    const entry = journalEntryOf(decision, this.o.gateId, now, decisionMs);
    const event = this.append(entry, !awaitTurnstile, granted ? decision.effects : undefined);

    let passage: Promise<EntryEvent | undefined>;
    if (granted) {
      passage = o.turnstile.authorise(decision.direction).then((passed) => {
        if (!awaitTurnstile || !event || !o.open()) return event;
        const final = o.journal.finalize(event.seq, passed, decision.effects);
        o.uplink.pump();
        if (final) this.show(this.scan(key, decision, final, false));
        return final ?? event;
      });
      this.track(passage);
    } else {
      o.turnstile.deny();
      passage = Promise.resolve(event);
    }
    o.uplink.pump();
    this.show(this.scan(key, decision, event, awaitTurnstile));
    o.onDecision(event, decision);
    o.log.debug({ seq: event?.seq, reason: decision.reason, method: decision.method }, 'decided');
    return { decision, event, passage };
  }

  /** The terminal's and the `open` command's manual passage. */
  manualOpen(request: ManualOpenRequest): { seq: number | null } {
    const { event } = this.present({
      method: 'manual',
      direction: request.direction,
      guard: request.guard,
      reason: request.reason,
    });
    this.o.log.info(
      { seq: event?.seq, guard: request.guard, reason: request.reason, direction: request.direction },
      'manual open',
    );
    return { seq: event?.seq ?? null };
  }

  /** A passage the turnstile allowed by itself (free passage): journaled as passed, shown as such. */
  recordFreePassage(direction: Direction): void {
    const { o } = this;
    const event = this.append(
      {
        gateId: o.gateId,
        ts: o.now(),
        direction,
        method: 'free',
        result: 'granted',
        reason: 'free-passage',
        health: 'unknown',
        mode: o.replica.mode(),
        passed: true,
        decisionMs: 0,
      },
      true,
      undefined,
    );
    o.uplink.pump();
    if (event) this.show(freePassageScan(o.feed.nextKey(), event));
  }

  /** Waits for every passage still waiting on the turnstile (stop). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.passages]);
  }

  private append(
    entry: JournalEntry,
    final: boolean,
    effects: Decision['effects'] | undefined,
  ): EntryEvent | undefined {
    const { o } = this;
    try {
      const event = o.journal.append(entry, { final, ...(effects ? { effects } : {}) });
      o.watch.journalWritten();
      return event;
    } catch (error) {
      o.counters.journalErrors += 1;
      o.log.error({ err: (error as Error).message }, 'journal write failed; this passage is not recorded');
      o.watch.journalWriteFailed(error as Error);
      return undefined;
    }
  }

  private scan(key: number, decision: Decision, event: EntryEvent | undefined, waiting: boolean): TerminalScan {
    return scanOf(key, decision, event, { waiting, turnstileDown: this.o.turnstileDown(), now: this.o.now() });
  }

  private show(scan: TerminalScan): void {
    this.o.feed.push(scan);
    this.o.changed();
  }

  private track(promise: Promise<unknown>): void {
    this.passages.add(promise);
    void promise.finally(() => this.passages.delete(promise));
  }
}

/** The journal entry of a decided scan at `gateId` (its passage not yet reported: `passed` null). */
export function journalEntryOf(decision: Decision, gateId: string, now: number, decisionMs: number): JournalEntry {
  const granted = decision.result === 'granted';
  return {
    gateId,
    ts: now,
    direction: decision.direction,
    method: decision.method,
    result: decision.result,
    reason: decision.reason,
    health: decision.health,
    mode: decision.mode,
    passed: null,
    decisionMs: Math.round(decisionMs * 1000) / 1000,
    ...(decision.personId ? { personId: decision.personId } : {}),
    ...(decision.idHash ? { idHash: decision.idHash } : {}),
    ...(decision.passId ? { passId: decision.passId } : {}),
    ...(decision.guard ? { guard: decision.guard } : {}),
    ...(granted && decision.effects.householdExit ? { quotaHousehold: decision.effects.householdExit } : {}),
    ...(decision.openReason ? { openReason: decision.openReason } : {}),
  };
}
