/**
 * Crisis supplies in the cloud (docs/supplies.md): rounds, stock, applications and the claims of
 * the distribution points, with the one rule that matters — **a household claims at most once per
 * round**, across every point of the compound and the cloud itself.
 *
 * How it is kept (docs/supplies.md, "Once per household"):
 * 1. A point that reaches the cloud *asks* before it hands out (`claims/ask`): the cloud holds the
 *    household for that ask (`supply_holds`, one row per round and household) unless it has a claim
 *    already or another ask holds it, and answers on `claims/ack`. Two points racing for one
 *    household: one hold, one refusal — decided here, in one SQLite transaction.
 * 2. Whatever the point decided travels as a claim record in its claim journal (`claims`, stored
 *    once per (gateId, seq), acknowledged cumulatively like events). A handed-out record is the
 *    household's claim (`accepted`) unless another handed-out record was accepted before it: then it
 *    is a `double` — goods handed out twice, which only happens to points that were cut off (they
 *    decide from their replica) — stored, and raised as a `supply-double-claim` alarm.
 * 3. Every accepted claim is relayed to the compound's points (`supply.claim` change), so a point
 *    cut off later still refuses the household from its replica.
 *
 * The function sleeps in normal times: a round can be created only while the compound is in
 * `controlled` or `lockdown` mode, or explicitly (`wake: true`); it is awake while the mode is one
 * of those or an open round exists (`awake()`).
 */
import type { Database, Statement } from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../shared/log.ts';
import type { Change } from '../../shared/schemas/mqtt.ts';
import type {
  ClaimAck,
  ClaimAsk,
  ClaimRecord,
  ClaimRefusal,
  ClaimStanding,
  RoundCreate,
  RoundRecord,
  SupplyItem,
} from '../../shared/schemas/supply.ts';
import { topics } from '../../shared/topics.ts';
import { ApiError, notFound } from '../http/api-error.ts';
import type { LiveHub } from '../live/live-hub.ts';
import { runMigrations } from '../store/migration-runner.ts';
import type { SqliteCloudStore } from '../store/sqlite-store.ts';
import type { ChangeBatch, Snapshot } from '../store/store.ts';
import type { Publish } from '../sync/change-publisher.ts';
import { SUPPLY_MIGRATIONS } from './supply-migrations.ts';
import { prepareStatements } from './supply-statements.ts';

/** A hold whose point never sent its record is let go after this long (the point crashed mid-claim). */
export const HOLD_MS = 60_000;
/** Closed rounds stay in the gates' snapshots this long (a point shows "round closed", not "unknown"). */
const CLOSED_KEEP_MS = 7 * 86_400_000;
const AWAKE_MODES = new Set(['controlled', 'lockdown']);

export interface RoundView extends RoundRecord {
  stock: {
    name: string;
    unit: string;
    perHousehold: number;
    stock: number | null;
    handedOut: number;
    left: number | null;
  }[];
  providers: string[];
  woken: boolean;
  createdBy: string;
  createdAt: number;
  closedAt: number | null;
  progress: { households: number; served: number; remaining: number; doubles: number; refused: number };
}

export interface ClaimView {
  claimId: string;
  householdId: string | null;
  maskedName: string | null;
  gateId: string | null;
  ts: number;
  method: string;
  outcome: string;
  refusal: string | null;
  decidedBy: string;
  standing: ClaimStanding;
  guard: string | null;
  reason: string | null;
}

export interface SupplyLedgerOptions {
  store: SqliteCloudStore;
  publish: Publish;
  publishChanges(batches: readonly ChangeBatch[]): Promise<void>;
  live: LiveHub;
  logger: Logger;
  now: () => number;
  holdMs?: number;
}

type Row = Record<string, unknown>;

export const conflict = (code: string, message: string, extra?: Record<string, unknown>) =>
  new ApiError(409, code, message, undefined, extra);

export class SupplyLedger {
  private readonly db: Database;
  private readonly log: Logger;
  private readonly holdMs: number;
  private stmt!: ReturnType<typeof prepareStatements>;
  readonly counters = { asks: 0, holds: 0, claimsStored: 0, doubles: 0, duplicates: 0 };

  constructor(private readonly options: SupplyLedgerOptions) {
    this.db = options.store.db;
    this.log = options.logger.child({ component: 'cloud.supply' });
    this.holdMs = options.holdMs ?? HOLD_MS;
  }

  start(): this {
    runMigrations(this.db, 'supply_migrations', SUPPLY_MIGRATIONS);
    this.stmt = prepareStatements(this.db);
    return this;
  }

  // ---- sleeping and waking ----

  /** Whether the supply function of a compound is awake, and why (docs/supplies.md, "Asleep in normal times"). */
  awake(compoundId: string): { awake: boolean; mode: string; openRounds: number; why: string } {
    const mode = String((this.stmt.mode.get(compoundId) as Row | undefined)?.mode ?? 'normal');
    const openRounds = Number((this.stmt.openCount.get(compoundId) as Row).n);
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

  createRound(input: RoundCreate, by: string): RoundView {
    const state = this.awake(input.compoundId);
    if (!state.awake && !input.wake) throw conflict('supply-asleep', state.why, { mode: state.mode });
    const roundId = `r-${randomUUID().slice(0, 8)}`;
    const now = this.options.now();
    const items: SupplyItem[] = input.items.map(({ name, unit, perHousehold }) => ({ name, unit, perHousehold }));
    const stock = Object.fromEntries(input.items.flatMap((i) => (i.stock === undefined ? [] : [[i.name, i.stock]])));
    let batch: ChangeBatch | undefined;
    this.db.transaction(() => {
      this.stmt.insertRound.run(
        roundId,
        input.compoundId,
        input.name,
        JSON.stringify(items),
        JSON.stringify(stock),
        input.form,
        input.window.from,
        input.window.to,
        input.eligibility,
        JSON.stringify(input.providers),
        !state.awake && input.wake ? 1 : 0,
        by,
        now,
      );
      batch = this.options.store.logChanges(input.compoundId, [{ op: 'supply.round', round: this.recordOf(roundId) }]);
    })();
    this.relay(batch);
    return this.view(roundId);
  }

  /** The compound's open rounds as a household sees them: allocation, window, application, its claim. */
  roundsForResident(compoundId: string, householdId: string | null) {
    return (this.stmt.roundsOf.all(compoundId, 100) as Row[])
      .filter((r) => r.status === 'open')
      .map((r) => {
        const round = this.recordOfRow(r);
        const claim = householdId ? (this.stmt.accepted.get(round.roundId, householdId) as Row | undefined) : undefined;
        const applied = householdId !== null && this.hasApplied(round.roundId, householdId);
        return {
          roundId: round.roundId,
          name: round.name,
          form: round.form,
          window: round.window,
          items: round.items,
          eligibility: round.eligibility,
          mustApply: round.eligibility === 'applicants' && !applied,
          applied,
          claimed: claim ? { ts: Number(claim.ts), where: this.whereOf(claim.gate_id) } : null,
        };
      });
  }

  /** Rounds of one compound (or every compound), newest first; a provider sees only the rounds naming it. */
  listRounds(compoundId: string | undefined, provider?: string, limit = 100): RoundView[] {
    const rows = (compoundId ? this.stmt.roundsOf.all(compoundId, limit) : this.stmt.allRounds.all(limit)) as Row[];
    return rows
      .filter((r) => provider === undefined || (JSON.parse(String(r.providers)) as string[]).includes(provider))
      .map((r) => this.viewOf(r));
  }

  compoundOf(roundId: string): string | undefined {
    const row = this.stmt.round.get(roundId) as Row | undefined;
    return row ? String(row.compound_id) : undefined;
  }

  providersOf(roundId: string): string[] {
    const row = this.stmt.round.get(roundId) as Row | undefined;
    return row ? (JSON.parse(String(row.providers)) as string[]) : [];
  }

  view(roundId: string): RoundView {
    const row = this.stmt.round.get(roundId) as Row | undefined;
    if (!row) throw notFound('round', roundId);
    return this.viewOf(row);
  }

  updateStock(roundId: string, items: { name: string; stock: number }[]): RoundView {
    const row = this.stmt.round.get(roundId) as Row | undefined;
    if (!row) throw notFound('round', roundId);
    if (row.status !== 'open') throw conflict('round-closed', `round ${roundId} is closed`);
    const known = new Set((JSON.parse(String(row.items)) as SupplyItem[]).map((i) => i.name));
    const unknown = items.filter((i) => !known.has(i.name)).map((i) => i.name);
    if (unknown.length > 0) {
      throw new ApiError(
        400,
        'invalid-request',
        'unknown items',
        unknown.map((name) => ({ path: 'items', message: `no item ${name} in this round` })),
      );
    }
    const stock = { ...(JSON.parse(String(row.stock)) as Record<string, number>) };
    for (const i of items) stock[i.name] = i.stock;
    this.stmt.setStock.run(JSON.stringify(stock), this.options.now(), roundId);
    return this.view(roundId);
  }

  close(roundId: string, by: string): RoundView {
    const row = this.stmt.round.get(roundId) as Row | undefined;
    if (!row) throw notFound('round', roundId);
    let batch: ChangeBatch | undefined;
    this.db.transaction(() => {
      if (this.stmt.close.run(by, this.options.now(), roundId).changes === 0) return;
      batch = this.options.store.logChanges(String(row.compound_id), [
        { op: 'supply.round', round: this.recordOf(roundId) },
      ]);
    })();
    this.relay(batch);
    return this.view(roundId);
  }

  /** A household applies for a round (eligibility `applicants`); idempotent. */
  apply(roundId: string, householdId: string, by: string): { applied: boolean } {
    const row = this.stmt.round.get(roundId) as Row | undefined;
    if (!row) throw notFound('round', roundId);
    if (row.status !== 'open') throw conflict('round-closed', `round ${roundId} is closed`);
    if (row.eligibility !== 'applicants') throw conflict('no-application', `round ${roundId} is for every household`);
    let batch: ChangeBatch | undefined;
    this.db.transaction(() => {
      if (this.stmt.apply.run(roundId, householdId, this.options.now(), by).changes === 0) return;
      batch = this.options.store.logChanges(String(row.compound_id), [{ op: 'supply.apply', roundId, householdId }]);
    })();
    this.relay(batch);
    return { applied: true };
  }

  householdKnown(compoundId: string, householdId: string): boolean {
    return this.stmt.householdKnown.get(compoundId, householdId) !== undefined;
  }

  hasApplied(roundId: string, householdId: string): boolean {
    return this.stmt.applied.get(roundId, householdId) !== undefined;
  }

  /** The household of a resident of the compound (undefined: none). */
  householdOf(compoundId: string, personId: string): string | undefined {
    const row = this.stmt.personHousehold.get(compoundId, personId) as Row | undefined;
    return row?.household_id ? String(row.household_id) : undefined;
  }

  // ---- claims ----

  /**
   * A claim recorded in the cloud (door delivery; a claim phoned in). Decided here at once:
   * refused with 409 `already-claimed` when the household has a claim or a point holds it.
   */
  recordCloudClaim(
    roundId: string,
    input: { householdId: string; personId?: string; method: 'delivery' | 'guard'; reason: string },
    by: string,
  ): ClaimView {
    const row = this.stmt.round.get(roundId) as Row | undefined;
    if (!row) throw notFound('round', roundId);
    const compoundId = String(row.compound_id);
    if (this.stmt.householdKnown.get(compoundId, input.householdId) === undefined) {
      throw notFound('household', input.householdId);
    }
    const refusal = this.refusalFor(row, input.householdId, this.options.now());
    if (refusal)
      throw conflict(
        refusal.refusal,
        `the household cannot claim: ${refusal.refusal}`,
        refusal.claimedAt ? { claimedAt: refusal.claimedAt } : undefined,
      );
    const now = this.options.now();
    let claimId = '';
    let batch: ChangeBatch | undefined;
    this.db.transaction(() => {
      claimId = `cloud:${Number((this.stmt.nextId.get() as Row).n)}`;
      this.stmt.insertClaim.run(
        claimId,
        roundId,
        compoundId,
        input.householdId,
        input.personId ?? null,
        null,
        null,
        now,
        input.method,
        'handed-out',
        null,
        'cloud',
        null,
        by,
        input.reason,
        'accepted',
        now,
      );
      batch = this.options.store.logChanges(compoundId, [
        { op: 'supply.claim', roundId, householdId: input.householdId, claimId, ts: now },
      ]);
    })();
    this.relay(batch);
    this.counters.claimsStored += 1;
    return this.claims(roundId, 100_000).find((c) => c.claimId === claimId)!;
  }

  claims(roundId: string, limit = 10_000): ClaimView[] {
    return (this.stmt.claimsOf.all(roundId, limit) as Row[]).map((r) => ({
      claimId: String(r.claim_id),
      householdId: r.household_id === null ? null : String(r.household_id),
      maskedName: r.masked_name === null || r.masked_name === undefined ? null : String(r.masked_name),
      gateId: r.gate_id === null ? null : String(r.gate_id),
      ts: Number(r.ts),
      method: String(r.method),
      outcome: String(r.outcome),
      refusal: r.refusal === null ? null : String(r.refusal),
      decidedBy: String(r.decided_by),
      standing: r.standing as ClaimStanding,
      guard: r.guard === null ? null : String(r.guard),
      reason: r.reason === null ? null : String(r.reason),
    }));
  }

  /** A point asks whether a household may claim now; the answer goes back on its `claims/ack`. */
  async onAsk(gateId: string, compoundId: string, ask: ClaimAsk): Promise<void> {
    this.counters.asks += 1;
    const answer = this.db.transaction((): NonNullable<ClaimAck['answer']> => {
      const row = this.stmt.round.get(ask.roundId) as Row | undefined;
      if (!row || row.compound_id !== compoundId) return { askId: ask.askId, granted: false, refusal: 'round-closed' };
      const now = this.options.now();
      const refusal = this.refusalFor(row, ask.householdId, now, ask.askId);
      if (refusal) return { askId: ask.askId, granted: false, ...refusal };
      this.stmt.putHold.run(ask.roundId, ask.householdId, gateId, ask.askId, now);
      this.counters.holds += 1;
      return { askId: ask.askId, granted: true };
    })();
    await this.sendAck(gateId, { ts: this.options.now(), answer });
  }

  /** A lost answer is the point's timeout (it decides from its replica); a lost ack, its resend. */
  private async sendAck(gateId: string, ack: ClaimAck): Promise<void> {
    try {
      await this.options.publish(topics.gateClaimAck(gateId), ack);
    } catch (err) {
      this.log.warn({ err, gateId }, 'claim ack not published');
    }
  }

  /** Why a household may not claim now (undefined: it may). `askId`: an ask already holding it is no obstacle. */
  private refusalFor(
    row: Row,
    householdId: string,
    now: number,
    askId?: string,
  ): { refusal: ClaimRefusal; claimedAt?: { ts: number; where: string } } | undefined {
    const roundId = String(row.round_id);
    if (row.status !== 'open') return { refusal: 'round-closed' };
    if (now < Number(row.window_from) || now > Number(row.window_to)) return { refusal: 'outside-window' };
    if (row.eligibility === 'applicants' && !this.hasApplied(roundId, householdId)) return { refusal: 'not-eligible' };
    const accepted = this.stmt.accepted.get(roundId, householdId) as Row | undefined;
    if (accepted)
      return {
        refusal: 'already-claimed',
        claimedAt: { ts: Number(accepted.ts), where: this.whereOf(accepted.gate_id) },
      };
    const hold = this.stmt.hold.get(roundId, householdId) as Row | undefined;
    if (hold && hold.ask_id !== askId && now - Number(hold.at) < this.holdMs) {
      return { refusal: 'already-claimed', claimedAt: { ts: Number(hold.at), where: this.whereOf(hold.gate_id) } };
    }
    return undefined;
  }

  private whereOf(gateId: unknown): string {
    if (gateId === null || gateId === undefined) return 'the office';
    const name = (this.stmt.gateName.get(String(gateId)) as Row | undefined)?.name;
    return name ? String(name) : String(gateId);
  }

  /**
   * A point's claim records: each stored once per (gateId, seq), judged (accepted / refused /
   * double), accepted ones relayed, doubles raised; then the cumulative ack.
   */
  async onClaims(gateId: string, compoundId: string, records: readonly ClaimRecord[]): Promise<void> {
    const now = this.options.now();
    const relayed: Change[] = [];
    const doubles: { record: ClaimRecord; first: Row }[] = [];
    let upTo = 0;
    this.db.transaction(() => {
      for (const record of records) {
        if (record.gateId !== gateId) continue;
        const claimId = `${gateId}:${record.seq}`;
        if (this.stmt.claimById.get(claimId) !== undefined) {
          this.counters.duplicates += 1;
          continue;
        }
        const round = this.stmt.round.get(record.roundId) as Row | undefined;
        // A claim for a round of another compound (or none) is not this point's to make: kept out.
        if (!round || round.compound_id !== compoundId) {
          this.log.warn(
            { gateId, seq: record.seq, roundId: record.roundId },
            'claim for a foreign or unknown round ignored',
          );
          this.stmt.insertClaim.run(
            claimId,
            record.roundId,
            compoundId,
            null,
            null,
            gateId,
            record.seq,
            record.ts,
            record.method,
            'refused',
            'round-closed',
            record.decidedBy,
            record.askId ?? null,
            record.guard ?? null,
            record.reason ?? null,
            'refused',
            now,
          );
          continue;
        }
        let standing: ClaimStanding = 'refused';
        if (record.outcome === 'handed-out' && record.householdId) {
          const first = this.stmt.accepted.get(record.roundId, record.householdId) as Row | undefined;
          if (first) {
            standing = 'double';
            doubles.push({ record, first });
          } else {
            standing = 'accepted';
            relayed.push({
              op: 'supply.claim',
              roundId: record.roundId,
              householdId: record.householdId,
              claimId,
              ts: record.ts,
            });
          }
          this.stmt.dropHoldsOf.run(record.roundId, record.householdId);
        } else if (record.askId && record.householdId) {
          this.stmt.dropHold.run(record.roundId, record.householdId, record.askId);
        }
        this.stmt.insertClaim.run(
          claimId,
          record.roundId,
          compoundId,
          record.householdId ?? null,
          record.personId ?? null,
          gateId,
          record.seq,
          record.ts,
          record.method,
          record.outcome,
          record.refusal ?? null,
          record.decidedBy,
          record.askId ?? null,
          record.guard ?? null,
          record.reason ?? null,
          standing,
          now,
        );
        this.counters.claimsStored += 1;
      }
      // The cumulative mark: contiguous stored seqs from the last mark on.
      let mark = Number((this.stmt.mark.get(gateId) as Row | undefined)?.up_to ?? 0);
      for (const r of this.stmt.storedSeqsAfter.all(gateId, mark) as Row[]) {
        if (Number(r.seq) !== mark + 1) break;
        mark += 1;
      }
      this.stmt.setMark.run(gateId, mark);
      upTo = mark;
    })();
    let batch: ChangeBatch | undefined;
    if (relayed.length > 0) batch = this.options.store.logChanges(compoundId, relayed);
    this.relay(batch);
    for (const d of doubles) this.raiseDouble(gateId, compoundId, d.record, d.first);
    await this.sendAck(gateId, { upTo, ts: this.options.now() });
  }

  private raiseDouble(gateId: string, compoundId: string, record: ClaimRecord, first: Row): void {
    this.counters.doubles += 1;
    const at = (ts: number) => new Date(ts).toISOString().slice(11, 19);
    const detail =
      `round ${record.roundId}: household ${record.householdId} claimed twice — ${this.whereOf(first.gate_id)} ${at(Number(first.ts))} UTC ` +
      `and ${this.whereOf(gateId)} ${at(record.ts)} UTC (${record.decidedBy === 'replica' ? 'decided offline' : 'decided online'})`;
    this.log.warn({ gateId, roundId: record.roundId, householdId: record.householdId }, 'supply double claim');
    const alarm = { kind: 'supply-double-claim' as const, ts: record.ts, detail };
    void this.options.store
      .recordAlarm({ ...alarm, gateId, compoundId, receivedAt: this.options.now() })
      .catch((err: unknown) => this.log.error({ err }, 'double-claim alarm not stored'));
    this.options.live.publish({ type: 'alarm', data: { ...alarm, gateId, compoundId } });
  }

  /** A snapshot carries the rounds, accepted claims and applications a point needs. */
  withSupply(snapshot: Snapshot, compoundId: string): Snapshot {
    const since = this.options.now() - CLOSED_KEEP_MS;
    const rounds = (this.stmt.roundsForSnapshot.all(compoundId, since) as Row[]).map(
      (r): Change => ({ op: 'supply.round', round: this.recordOfRow(r) }),
    );
    const claims = (this.stmt.acceptedOfCompound.all(compoundId, since) as Row[]).map(
      (r): Change => ({
        op: 'supply.claim',
        roundId: String(r.round_id),
        householdId: String(r.household_id),
        claimId: String(r.claim_id),
        ts: Number(r.ts),
      }),
    );
    const applicants = (this.stmt.applicantsOfCompound.all(compoundId, since) as Row[]).map(
      (r): Change => ({ op: 'supply.apply', roundId: String(r.round_id), householdId: String(r.household_id) }),
    );
    return { rev: snapshot.rev, records: [...snapshot.records, ...rounds, ...applicants, ...claims] };
  }

  // ---- views ----

  private relay(batch: ChangeBatch | undefined): void {
    if (!batch) return;
    this.options.publishChanges([batch]).catch((err: unknown) => this.log.warn({ err }, 'supply change not published'));
  }

  private recordOf(roundId: string): RoundRecord {
    return this.recordOfRow(this.stmt.round.get(roundId) as Row);
  }

  private recordOfRow(r: Row): RoundRecord {
    return {
      roundId: String(r.round_id),
      compoundId: String(r.compound_id),
      name: String(r.name),
      items: JSON.parse(String(r.items)) as SupplyItem[],
      form: r.form as RoundRecord['form'],
      window: { from: Number(r.window_from), to: Number(r.window_to) },
      eligibility: r.eligibility as RoundRecord['eligibility'],
      status: r.status as RoundRecord['status'],
    };
  }

  private viewOf(r: Row): RoundView {
    const record = this.recordOfRow(r);
    const counts = Object.fromEntries(
      (this.stmt.standings.all(record.roundId) as Row[]).map((s) => [String(s.standing), Number(s.n)]),
    ) as Partial<Record<ClaimStanding, number>>;
    const served = counts.accepted ?? 0;
    const doubles = counts.double ?? 0;
    const households =
      record.eligibility === 'applicants'
        ? Number((this.stmt.applicants.get(record.roundId) as Row).n)
        : Number((this.stmt.households.get(record.compoundId) as Row).n);
    const stock = JSON.parse(String(r.stock)) as Record<string, number>;
    return {
      ...record,
      stock: record.items.map((i) => {
        const handedOut = (served + doubles) * i.perHousehold;
        const onHand = stock[i.name];
        return {
          name: i.name,
          unit: i.unit,
          perHousehold: i.perHousehold,
          stock: onHand ?? null,
          handedOut,
          left: onHand === undefined ? null : Math.max(0, onHand - handedOut),
        };
      }),
      providers: JSON.parse(String(r.providers)) as string[],
      woken: Number(r.woken) === 1,
      createdBy: String(r.created_by),
      createdAt: Number(r.created_at),
      closedAt: r.closed_at === null ? null : Number(r.closed_at),
      progress: {
        households,
        served,
        remaining: Math.max(0, households - served),
        doubles,
        refused: counts.refused ?? 0,
      },
    };
  }
}
