/**
 * Crisis supplies in the cloud (docs/supplies.md): rounds, stock, applications and the claims of
 * the distribution points, with the one rule that matters — **a household claims at most once per
 * round**, across every point of the compound and the cloud itself.
 *
 * How it is kept (docs/supplies.md, "Once per household"):
 * 1. A point that reaches the cloud *asks* before it hands out (`claims/ask`): the cloud holds the
 *    household for that ask (`supply_holds`, one row per round and household) unless it has a claim
 *    already or another ask holds it, and answers on `claims/ack`. Two points racing for one
 *    household: one hold, one refusal — decided in one transaction with the household locked,
 *    whichever cloud instance answers (supply-store.ts).
 * 2. Whatever the point decided travels as a claim record in its claim journal (`claims`, stored
 *    once per (gateId, seq), acknowledged cumulatively like events). A handed-out record is the
 *    household's claim (`accepted`) unless another handed-out record was accepted before it: then it
 *    is a `double` — goods handed out twice, which only happens to points that were cut off (they
 *    decide from their replica) — stored, and raised as a `supply-double-claim` alarm. "Accepted
 *    before" is the database's unique index on accepted claims, not this process's memory.
 * 3. Every accepted claim is relayed to the compound's points (`supply.claim` change), so a point
 *    cut off later still refuses the household from its replica.
 *
 * The function sleeps in normal times: a round can be created only while the compound is in
 * `controlled` or `lockdown` mode, or explicitly (`wake: true`); it is awake while the mode is one
 * of those or an open round exists (`awake()`).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../shared/log.ts';
import type { ClaimAsk, ClaimRecord, RoundCreate, SupplyItem } from '../../shared/schemas/supply.ts';
import { topics } from '../../shared/topics.ts';
import { ApiError, notFound } from '../http/api-error.ts';
import type { LiveHub } from '../live/live-hub.ts';
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { ChangeBatch, CloudStore, Compound } from '../store/store.ts';
import type { Publish } from '../sync/change-publisher.ts';
import { openSupplyStore } from './open-supply-store.ts';
import type { FirstClaim, Refusal, RoundRow, SupplyStore } from './supply-store.ts';
import { claimChange, roundChange } from './supply-rows.ts';
import { decideWith } from './supply-rules.ts';
import { type ClaimView, claimView, type RoundView, roundView } from './supply-views.ts';

export type { ClaimView, RoundView } from './supply-views.ts';

/** A hold whose point never sent its record is let go after this long (the point crashed mid-claim). */
export const HOLD_MS = 60_000;
/** Closed rounds stay in the gates' snapshots this long (a point shows "round closed", not "unknown"). */
const CLOSED_KEEP_MS = 7 * 86_400_000;
const AWAKE_MODES = new Set(['controlled', 'lockdown']);

export interface SupplyServiceOptions {
  store: Pick<CloudStore, 'engine' | 'recordAlarm' | 'recordAudit' | 'getResident'>;
  publish: Publish;
  publishChanges(batches: readonly ChangeBatch[]): Promise<void>;
  live: LiveHub;
  logger: Logger;
  now: () => number;
  holdMs?: number;
  /** Where the rounds and claims are kept; by default the supply store on the store's engine. */
  supplies?: SupplyStore;
}

export const conflict = (code: string, message: string, extra?: Record<string, unknown>) =>
  new ApiError(409, code, message, undefined, extra);

export class SupplyService {
  private readonly supplies: SupplyStore;
  private readonly log: Logger;
  private readonly holdMs: number;
  readonly counters = { asks: 0, holds: 0, claimsStored: 0, doubles: 0, duplicates: 0, foreign: 0 };

  constructor(private readonly options: SupplyServiceOptions) {
    this.supplies = options.supplies ?? openSupplyStore(options.store.engine);
    this.log = options.logger.child({ component: 'cloud.supply' });
    this.holdMs = options.holdMs ?? HOLD_MS;
  }

  // ---- sleeping and waking ----

  /** Whether the supply function of a compound is awake, and why (docs/supplies.md, "Asleep in normal times"). */
  async awake(compoundId: string): Promise<{ awake: boolean; mode: string; openRounds: number; why: string }> {
    const { mode, openRounds } = await this.supplies.awakeFacts(compoundId);
    if (AWAKE_MODES.has(mode)) return { awake: true, mode, openRounds, why: `the compound is in ${mode} mode` };
    if (openRounds > 0) return { awake: true, mode, openRounds, why: `a round was explicitly opened` };
    return {
      awake: false,
      mode,
      openRounds,
      why: `asleep: the compound is in ${mode} mode and no round is open (a round can be opened with "wake": true)`,
    };
  }

  // ---- rounds ----

  async createRound(input: RoundCreate, by: string): Promise<RoundView> {
    const state = await this.awake(input.compoundId);
    if (!state.awake && !input.wake) throw conflict('supply-asleep', state.why, { mode: state.mode });
    const round: RoundRow = {
      roundId: `r-${randomUUID().slice(0, 8)}`,
      compoundId: input.compoundId,
      name: input.name,
      items: input.items.map(({ name, unit, perHousehold }): SupplyItem => ({ name, unit, perHousehold })),
      stock: Object.fromEntries(input.items.flatMap((i) => (i.stock === undefined ? [] : [[i.name, i.stock]]))),
      form: input.form,
      windowFrom: input.window.from,
      windowTo: input.window.to,
      eligibility: input.eligibility,
      status: 'open',
      providers: input.providers,
      woken: !state.awake && input.wake === true,
      createdBy: by,
      createdAt: this.options.now(),
      closedAt: null,
    };
    this.relay(await this.supplies.createRound(round));
    return this.view(round.roundId);
  }

  /** The compound's open rounds as a household sees them: allocation, window, application, its claim. */
  async roundsForResident(compoundId: string, householdId: string | null) {
    const open = (await this.supplies.rounds(compoundId, 100)).filter((r) => r.status === 'open');
    return Promise.all(
      open.map(async (round) => {
        const claim = householdId ? await this.supplies.acceptedClaim(round.roundId, householdId) : undefined;
        const applied = householdId !== null && (await this.supplies.hasApplied(round.roundId, householdId));
        return {
          roundId: round.roundId,
          name: round.name,
          form: round.form,
          window: { from: round.windowFrom, to: round.windowTo },
          items: round.items,
          eligibility: round.eligibility,
          mustApply: round.eligibility === 'applicants' && !applied,
          applied,
          claimed: claim ? { ts: claim.ts, where: await this.whereOf(claim.gateId) } : null,
        };
      }),
    );
  }

  /** Rounds of one compound (or every compound), newest first; a provider sees only the rounds naming it. */
  async listRounds(compoundId: string | undefined, provider?: string, limit = 100): Promise<RoundView[]> {
    const rounds = (await this.supplies.rounds(compoundId, limit)).filter(
      (r) => provider === undefined || r.providers.includes(provider),
    );
    return Promise.all(rounds.map(async (r) => roundView(r, await this.supplies.progress(r))));
  }

  async compoundOf(roundId: string): Promise<string | undefined> {
    return (await this.supplies.round(roundId))?.compoundId;
  }

  async providersOf(roundId: string): Promise<string[]> {
    return (await this.supplies.round(roundId))?.providers ?? [];
  }

  async view(roundId: string): Promise<RoundView> {
    const round = await this.roundOrNotFound(roundId);
    return roundView(round, await this.supplies.progress(round));
  }

  private async roundOrNotFound(roundId: string): Promise<RoundRow> {
    const round = await this.supplies.round(roundId);
    if (!round) throw notFound('round', roundId);
    return round;
  }

  private async openRound(roundId: string): Promise<RoundRow> {
    const round = await this.roundOrNotFound(roundId);
    if (round.status !== 'open') throw conflict('round-closed', `round ${roundId} is closed`);
    return round;
  }

  async updateStock(roundId: string, items: { name: string; stock: number }[]): Promise<RoundView> {
    const round = await this.openRound(roundId);
    const known = new Set(round.items.map((i) => i.name));
    const unknown = items.filter((i) => !known.has(i.name)).map((i) => i.name);
    if (unknown.length > 0) {
      throw new ApiError(
        400,
        'invalid-request',
        'unknown items',
        unknown.map((name) => ({ path: 'items', message: `no item ${name} in this round` })),
      );
    }
    const stock = { ...round.stock };
    for (const i of items) stock[i.name] = i.stock;
    await this.supplies.setStock(roundId, stock, this.options.now());
    return this.view(roundId);
  }

  async close(roundId: string, by: string): Promise<RoundView> {
    await this.roundOrNotFound(roundId);
    this.relay(await this.supplies.closeRound(roundId, by, this.options.now()));
    return this.view(roundId);
  }

  /** A household applies for a round (eligibility `applicants`); idempotent. */
  async apply(roundId: string, householdId: string, by: string): Promise<{ applied: boolean }> {
    const round = await this.openRound(roundId);
    if (round.eligibility !== 'applicants') throw conflict('no-application', `round ${roundId} is for every household`);
    this.relay(await this.supplies.apply(round, householdId, by, this.options.now()));
    return { applied: true };
  }

  householdKnown(compoundId: string, householdId: string): Promise<boolean> {
    return this.supplies.householdKnown(compoundId, householdId);
  }

  hasApplied(roundId: string, householdId: string): Promise<boolean> {
    return this.supplies.hasApplied(roundId, householdId);
  }

  /** The household of a resident of the compound (undefined: none). */
  householdOf(compoundId: string, personId: string): Promise<string | undefined> {
    return this.supplies.householdOf(compoundId, personId);
  }

  // ---- claims ----

  /**
   * A claim recorded in the cloud (door delivery; a claim phoned in). Decided here at once:
   * refused with 409 `already-claimed` when the household has a claim or a point holds it.
   */
  async recordCloudClaim(
    roundId: string,
    input: { householdId: string; personId?: string; method: 'delivery' | 'guard'; reason: string },
    by: string,
  ): Promise<ClaimView> {
    const round = await this.roundOrNotFound(roundId);
    if (!(await this.supplies.householdKnown(round.compoundId, input.householdId))) {
      throw notFound('household', input.householdId);
    }
    const now = this.options.now();
    const result = await this.supplies.recordCloudClaim(
      {
        roundId,
        householdId: input.householdId,
        personId: input.personId ?? null,
        method: input.method,
        by,
        reason: input.reason,
        at: now,
      },
      decideWith({ compoundId: round.compoundId, now, holdMs: this.holdMs }),
    );
    if ('refused' in result) {
      const { refusal, claimedAt } = await this.placed(result.refused);
      throw conflict(refusal, `the household cannot claim: ${refusal}`, claimedAt ? { claimedAt } : undefined);
    }
    this.relay(result.batch);
    this.counters.claimsStored += 1;
    return (await this.claims(roundId, 100_000)).find((c) => c.claimId === result.claimId) as ClaimView;
  }

  async claims(roundId: string, limit = 10_000): Promise<ClaimView[]> {
    return (await this.supplies.claims(roundId, limit)).map(claimView);
  }

  /** A point asks whether a household may claim now; the answer goes back on its `claims/ack`. */
  async onAsk(gateId: string, compoundId: string, ask: ClaimAsk): Promise<void> {
    this.counters.asks += 1;
    const now = this.options.now();
    const refused = await this.supplies.ask(
      { roundId: ask.roundId, householdId: ask.householdId, gateId, askId: ask.askId, at: now },
      decideWith({ compoundId, now, holdMs: this.holdMs, askId: ask.askId }),
    );
    if (!refused) this.counters.holds += 1;
    if (refused?.refusal === 'no-household') {
      // Not a household of the point's compound: no hold was made; audited (docs/supplies.md, "Compound isolation").
      const detail = { askId: ask.askId, foreign: ['householdId'] };
      await this.refuseForeign(gateId, compoundId, 'supply.ask.refused', ask.roundId, detail);
    }
    const answer = refused
      ? { askId: ask.askId, granted: false, ...(await this.placed(refused)) }
      : { askId: ask.askId, granted: true };
    await this.sendAck(gateId, { ts: this.options.now(), answer });
  }

  /** A lost answer is the point's timeout (it decides from its replica); a lost ack, its resend. */
  private async sendAck(gateId: string, ack: unknown): Promise<void> {
    try {
      await this.options.publish(topics.gateClaimAck(gateId), ack);
    } catch (err) {
      this.log.warn({ err, gateId }, 'claim ack not published');
    }
  }

  /** A refusal as the point and the manager see it: where by gate name (or the office). */
  private async placed(r: Refusal) {
    if (!r.claimedAt) return { refusal: r.refusal };
    return { refusal: r.refusal, claimedAt: { ts: r.claimedAt.ts, where: await this.whereOf(r.claimedAt.gateId) } };
  }

  private async whereOf(gateId: string | null): Promise<string> {
    if (gateId === null) return 'the office';
    return (await this.supplies.gateName(gateId)) ?? gateId;
  }

  /**
   * A point's claim records: each stored once per (gateId, seq), judged (accepted / refused /
   * double), accepted ones relayed, doubles raised; then the cumulative ack.
   */
  async onClaims(gateId: string, compoundId: string, records: readonly ClaimRecord[]): Promise<void> {
    const screened = await Promise.all(records.map((r) => this.screen(gateId, compoundId, r)));
    const stored = await this.supplies.storeRecords(gateId, compoundId, screened, this.options.now());
    this.counters.claimsStored += stored.stored;
    this.counters.duplicates += stored.duplicates;
    for (const record of stored.foreign) {
      this.log.warn(
        { gateId, seq: record.seq, roundId: record.roundId },
        'claim for a foreign or unknown round ignored',
      );
    }
    this.relay(stored.batch);
    for (const d of stored.doubles) await this.raiseDouble(gateId, compoundId, d.record, d.first);
    await this.sendAck(gateId, { upTo: stored.upTo, ts: this.options.now() });
  }

  /**
   * A point's record naming a household or a person that is not of its compound is kept (its seq
   * is acknowledged like any other) as a refusal that names neither — never accepted, relayed or
   * shown with another compound's member — and audited.
   */
  private async screen(gateId: string, compoundId: string, record: ClaimRecord): Promise<ClaimRecord> {
    if (record.gateId !== gateId) return record; // not stored at all (supply-store.ts)
    const { householdId, personId } = record;
    const householdOk = householdId === undefined || (await this.supplies.householdKnown(compoundId, householdId));
    const person = personId === undefined ? undefined : await this.options.store.getResident(personId);
    const personOk = personId === undefined || person?.compoundId === compoundId;
    if (householdOk && personOk) return record;
    await this.refuseForeign(gateId, compoundId, 'supply.claim.refused', record.roundId, {
      seq: record.seq,
      foreign: [...(householdOk ? [] : ['householdId']), ...(personOk ? [] : ['personId'])],
    });
    const { householdId: _h, personId: _p, ...rest } = record;
    return { ...rest, outcome: 'refused', refusal: householdOk ? 'unknown-person' : 'no-household' };
  }

  /**
   * A point named a household or person of another compound (or of none): counted, logged and
   * audited in the point's compound — which field, not its value (another compound's ids are not
   * for this compound's managers to read).
   */
  private async refuseForeign(
    gateId: string,
    compoundId: string,
    action: string,
    roundId: string,
    detail: Record<string, unknown>,
  ): Promise<void> {
    this.counters.foreign += 1;
    this.log.warn({ gateId, compoundId, roundId, ...detail }, 'supply message naming another compound refused');
    const entry = { at: this.options.now(), actor: gateId, role: 'gate', action, compoundId, target: roundId };
    await this.options.store
      .recordAudit({ ...entry, detail: { ...detail, why: "not of the gate's compound" } })
      .catch((err: unknown) => this.log.error({ err }, 'supply refusal not audited'));
  }

  private async raiseDouble(gateId: string, compoundId: string, record: ClaimRecord, first: FirstClaim) {
    this.counters.doubles += 1;
    const at = (ts: number) => new Date(ts).toISOString().slice(11, 19);
    const detail =
      `round ${record.roundId}: household ${record.householdId} claimed twice — ${await this.whereOf(first.gateId)} ${at(first.ts)} UTC ` +
      `and ${await this.whereOf(gateId)} ${at(record.ts)} UTC (${record.decidedBy === 'replica' ? 'decided offline' : 'decided online'})`;
    this.log.warn({ gateId, roundId: record.roundId, householdId: record.householdId }, 'supply double claim');
    const alarm = { kind: 'supply-double-claim' as const, ts: record.ts, detail };
    // Awaited before the claims' ack: once a point is acked, its doubles' alarms are stored (on
    // PostgreSQL the INSERT goes over another pooled connection and could land after a reader's).
    await this.options.store
      .recordAlarm({ ...alarm, gateId, compoundId, receivedAt: this.options.now() })
      .catch((err: unknown) => this.log.error({ err }, 'double-claim alarm not stored'));
    this.options.live.publish({ type: 'alarm', data: { ...alarm, gateId, compoundId } });
  }

  /** A snapshot carries the rounds, accepted claims and applications a point needs. */
  async snapshotRecords(compound: Compound): Promise<Change[]> {
    const rows = await this.supplies.forSnapshot(compound.id, this.options.now() - CLOSED_KEEP_MS);
    return [
      ...rows.rounds.map(roundChange),
      ...rows.applicants.map(({ roundId, householdId }) => ({ op: 'supply.apply' as const, roundId, householdId })),
      ...rows.accepted.map(claimChange),
    ];
  }

  private relay(batch: ChangeBatch | undefined): void {
    if (!batch) return;
    this.options.publishChanges([batch]).catch((err: unknown) => this.log.warn({ err }, 'supply change not published'));
  }
}
