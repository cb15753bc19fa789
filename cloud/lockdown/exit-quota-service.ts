/**
 * The lockdown exit quota across the compound (docs/edge-agent.md "Exit quota across the compound").
 *
 * A gate grants a lockdown exit against the household's quota and marks the passage with
 * `quotaHousehold`. This service
 *
 * 1. records every such use (a granted passage not timed out) in `exit_uses`, inside the ingest
 *    transaction that stores the passage (`hook`), so a stored use is never lost;
 * 2. after the commit relays each use to the compound's gates as an `exit.use` change (change log,
 *    live on `changes`, in deltas and snapshots), marking it relayed in the same transaction that
 *    logs the change; whatever a crash left unrelayed goes out at the next start (`relayPending`);
 * 3. checks the household's uses around each new one against the policy; a use that found the
 *    quota already used (uses made while gates were cut off, or two gates within the relay time)
 *    is an over-use: stored in `exit_overuse`, raised as an `exit-quota-exceeded` alarm (alarms
 *    table, live feed) and listed by `GET /api/v1/compounds/:id/exit-quota`.
 *
 * The gate's rule is "grant while fewer than `exits` uses in the last `periodHours`", so a use at
 * time t is an over-use when the household has more than `exits` uses in [t − period, t].
 */
import type { Logger } from '../../shared/log.ts';
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { LiveHub } from '../live/live-hub.ts';
import type { CompoundOf, IngestHook } from '../store/ingest-hook.ts';
import type { ChangeBatch, CloudStore, Compound, StoredEvent } from '../store/store.ts';
import type { ExitOveruse, ExitQuotaStore, ExitUse } from './exit-quota-store.ts';
import { openExitQuotaStore } from './open-exit-quota-store.ts';

export type { ExitOveruse } from './exit-quota-store.ts';

const HOUR_MS = 3_600_000;
/** Uses relayed per change-log batch. */
const RELAY_BATCH = 500;

export interface ExitQuotaServiceOptions {
  /** The over-use alarms go to the store's alarms; uses and over-uses to the engine's exit quota store. */
  store: Pick<CloudStore, 'engine' | 'recordAlarm'>;
  /** Default: `openExitQuotaStore(store.engine)`. */
  uses?: ExitQuotaStore;
  publishChanges(batches: readonly ChangeBatch[]): Promise<void>;
  live: LiveHub;
  logger: Logger;
  now: () => number;
}

const exitUseChange = (u: ExitUse): Change => ({
  op: 'exit.use',
  householdId: u.householdId,
  gateId: u.gateId,
  seq: u.seq,
  ts: u.ts,
});

export class ExitQuotaService {
  private readonly log: Logger;
  private readonly uses: ExitQuotaStore;
  private chain: Promise<unknown> = Promise.resolve();
  readonly counters = { recorded: 0, relayed: 0, overuses: 0 };
  /** Runs inside the ingest transaction: the uses are stored with their passages or not at all. */
  readonly hook: IngestHook;

  constructor(private readonly options: ExitQuotaServiceOptions) {
    this.log = options.logger.child({ component: 'cloud.exit-quota' });
    this.uses = options.uses ?? openExitQuotaStore(options.store.engine);
    this.hook = this.uses.ingestHook(quotaUsesOf, (fresh) => {
      this.counters.recorded += fresh;
    });
  }

  /** After the ingest commit: relay and check what was stored (one at a time, in order). */
  afterStored(events: readonly StoredEvent[]): void {
    if (!events.some(isQuotaUse)) return;
    this.schedule();
  }

  /** At start: relay what a crash left unrelayed. Resolves when done. */
  relayPending(): Promise<void> {
    this.schedule();
    return this.idle();
  }

  /** Resolves once every relay scheduled so far is done: its changes logged, its over-uses and their alarms stored. */
  idle(): Promise<void> {
    return this.chain.then(() => undefined);
  }

  private schedule(): void {
    this.chain = this.chain
      .then(() => this.relay())
      .catch((err: unknown) => this.log.error({ err }, 'exit quota relay failed'));
  }

  private async relay(): Promise<void> {
    for (;;) {
      const uses = await this.uses.unrelayed(RELAY_BATCH);
      if (uses.length === 0) return;
      const byCompound = new Map<string, Change[]>();
      for (const u of uses) byCompound.set(u.compoundId, [...(byCompound.get(u.compoundId) ?? []), exitUseChange(u)]);
      const batches = await this.uses.relay(byCompound, uses);
      this.counters.relayed += uses.length;
      await this.options.publishChanges(batches);
      for (const use of uses) await this.checkOveruse(use);
    }
  }

  private async checkOveruse(use: ExitUse): Promise<void> {
    const policy = await this.uses.policy(use.compoundId);
    if (!policy) return;
    const period = policy.periodHours * HOUR_MS;
    // Every use whose window [t − period, t] holds this one: t in [use.ts, use.ts + period].
    const around = await this.uses.householdUses(use.compoundId, use.householdId, use.ts - period, use.ts + period);
    for (const candidate of around) {
      if (candidate.ts < use.ts) continue;
      const inWindow = around.filter((u) => u.ts >= candidate.ts - period && u.ts <= candidate.ts);
      if (inWindow.length <= policy.exits) continue;
      await this.raise(use, candidate, inWindow, policy.exits, policy.periodHours);
    }
  }

  private async raise(
    use: ExitUse,
    over: ExitUse,
    inWindow: readonly ExitUse[],
    quota: number,
    periodHours: number,
  ): Promise<void> {
    const gates = [...new Set(inWindow.map((u) => u.gateId))].sort();
    const detectedAt = this.options.now();
    const overuse: ExitOveruse = {
      householdId: use.householdId,
      gateId: over.gateId,
      seq: over.seq,
      ts: over.ts,
      uses: inWindow.length,
      quota,
      periodHours,
      gates,
      detectedAt,
    };
    if (!(await this.uses.recordOveruse(use.compoundId, overuse))) return;
    this.counters.overuses += 1;
    const detail =
      `household ${use.householdId}: ${inWindow.length} lockdown exits within ${periodHours} h ` +
      `(quota ${quota}) at ${gates.join(', ')}`;
    this.log.warn(
      { householdId: use.householdId, gateId: over.gateId, seq: over.seq, uses: inWindow.length, quota },
      'exit quota exceeded',
    );
    const alarm = { kind: 'exit-quota-exceeded' as const, ts: over.ts, detail };
    // Awaited, so that `idle()` means the alarm is stored too: on PostgreSQL it goes over another
    // pooled connection, and a reader after `idle()` could otherwise run before its INSERT.
    await this.options.store
      .recordAlarm({ ...alarm, gateId: over.gateId, compoundId: use.compoundId, receivedAt: detectedAt })
      .catch((err: unknown) => this.log.error({ err }, 'over-use alarm not stored'));
    this.options.live.publish({ type: 'alarm', data: { ...alarm, gateId: over.gateId, compoundId: use.compoundId } });
  }

  /** A snapshot carries the uses a gate needs to count: those within the compound's period. */
  async snapshotRecords(compound: Compound): Promise<Change[]> {
    const since = this.options.now() - compound.quotaPeriodHours * HOUR_MS;
    return (await this.uses.usesSince(compound.id, since)).map(exitUseChange);
  }

  /** The over-uses found in a compound since `since`, newest first (the manager's list). */
  overuses(compoundId: string, since: number, limit = 100): Promise<ExitOveruse[]> {
    return this.uses.overuses(compoundId, since, limit);
  }
}

function quotaUsesOf(events: readonly StoredEvent[], compoundOf: CompoundOf): ExitUse[] {
  return events.filter(isQuotaUse).map((e) => ({
    gateId: e.gateId,
    seq: e.seq,
    compoundId: e.compoundId || compoundOf(e.gateId),
    householdId: e.quotaHousehold!,
    ts: e.ts,
  }));
}

function isQuotaUse(e: StoredEvent): boolean {
  return e.quotaHousehold !== undefined && e.result === 'granted' && e.passed !== false;
}
