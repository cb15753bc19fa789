/**
 * The lockdown exit quota across the compound (docs/edge-agent.md "Exit quota across the compound").
 *
 * A gate grants a lockdown exit against the household's quota and marks the passage with
 * `quotaHousehold`. This ledger
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
import type { Database } from 'better-sqlite3';
import type { Logger } from '../../shared/log.ts';
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { LiveHub } from '../live/live-hub.ts';
import type { SqliteCloudStore } from '../store/sqlite-store.ts';
import type { ChangeBatch, IngestHook, Snapshot, StoredEvent } from '../store/store.ts';

const HOUR_MS = 3_600_000;
/** Uses relayed per change-log batch. */
const RELAY_BATCH = 500;

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

export interface ExitQuotaLedgerOptions {
  store: SqliteCloudStore;
  publishChanges(batches: readonly ChangeBatch[]): Promise<void>;
  live: LiveHub;
  logger: Logger;
  now: () => number;
}

interface UseRow {
  gate_id: string;
  seq: number;
  compound_id: string;
  household_id: string;
  ts: number;
}

export class ExitQuotaLedger {
  private readonly db: Database;
  private readonly log: Logger;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly stmt;
  readonly counters = { recorded: 0, relayed: 0, overuses: 0 };

  constructor(private readonly options: ExitQuotaLedgerOptions) {
    this.db = options.store.db;
    this.log = options.logger.child({ component: 'cloud.exit-quota' });
    const p = (sql: string) => this.db.prepare(sql);
    this.stmt = {
      record: p('INSERT OR IGNORE INTO exit_uses (gate_id, seq, compound_id, household_id, ts) VALUES (?, ?, ?, ?, ?)'),
      unrelayed: p(
        'SELECT gate_id, seq, compound_id, household_id, ts FROM exit_uses WHERE relayed = 0 ORDER BY compound_id, ts LIMIT ?',
      ),
      markRelayed: p('UPDATE exit_uses SET relayed = 1 WHERE gate_id = ? AND seq = ?'),
      usesAround: p(
        'SELECT gate_id, seq, ts FROM exit_uses WHERE compound_id = ? AND household_id = ? AND ts >= ? AND ts <= ? ORDER BY ts, gate_id, seq',
      ),
      recentUses: p(
        'SELECT gate_id, seq, compound_id, household_id, ts FROM exit_uses WHERE compound_id = ? AND ts >= ? ORDER BY ts',
      ),
      policy: p('SELECT quota_exits, quota_period_hours FROM compounds WHERE id = ?'),
      recordOveruse: p(
        'INSERT OR IGNORE INTO exit_overuse (gate_id, seq, compound_id, household_id, ts, uses, quota, period_hours, gates, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      overuses: p(
        'SELECT * FROM exit_overuse WHERE compound_id = ? AND detected_at >= ? ORDER BY detected_at DESC, ts DESC LIMIT ?',
      ),
    };
  }

  /** Runs inside the ingest transaction: the uses are stored with their passages or not at all. */
  readonly hook: IngestHook = {
    onStored: (events, compoundOf) => {
      for (const e of events) {
        if (!isQuotaUse(e)) continue;
        const compoundId = e.compoundId || compoundOf(e.gateId);
        if (this.stmt.record.run(e.gateId, e.seq, compoundId, e.quotaHousehold!, e.ts).changes === 1) {
          this.counters.recorded += 1;
        }
      }
    },
  };

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
      const rows = this.stmt.unrelayed.all(RELAY_BATCH) as UseRow[];
      if (rows.length === 0) return;
      const byCompound = new Map<string, UseRow[]>();
      for (const row of rows) byCompound.set(row.compound_id, [...(byCompound.get(row.compound_id) ?? []), row]);
      const batches: ChangeBatch[] = [];
      this.db.transaction(() => {
        for (const [compoundId, uses] of byCompound) {
          const changes: Change[] = uses.map((u) => ({
            op: 'exit.use',
            householdId: u.household_id,
            gateId: u.gate_id,
            seq: u.seq,
            ts: u.ts,
          }));
          batches.push(this.options.store.logChanges(compoundId, changes));
          for (const u of uses) this.stmt.markRelayed.run(u.gate_id, u.seq);
        }
      })();
      this.counters.relayed += rows.length;
      await this.options.publishChanges(batches);
      for (const row of rows) this.checkOveruse(row);
    }
  }

  private checkOveruse(use: UseRow): void {
    const policy = this.stmt.policy.get(use.compound_id) as
      | { quota_exits: number; quota_period_hours: number }
      | undefined;
    if (!policy) return;
    const period = policy.quota_period_hours * HOUR_MS;
    // Every use whose window [t − period, t] holds this one: t in [use.ts, use.ts + period].
    const around = this.stmt.usesAround.all(use.compound_id, use.household_id, use.ts - period, use.ts + period) as {
      gate_id: string;
      seq: number;
      ts: number;
    }[];
    for (const candidate of around) {
      if (candidate.ts < use.ts) continue;
      const inWindow = around.filter((u) => u.ts >= candidate.ts - period && u.ts <= candidate.ts);
      if (inWindow.length <= policy.quota_exits) continue;
      this.raise(use, candidate, inWindow, policy.quota_exits, policy.quota_period_hours);
    }
  }

  private raise(
    use: UseRow,
    over: { gate_id: string; seq: number; ts: number },
    inWindow: { gate_id: string }[],
    quota: number,
    periodHours: number,
  ): void {
    const gates = [...new Set(inWindow.map((u) => u.gate_id))].sort();
    const detectedAt = this.options.now();
    const fresh = this.stmt.recordOveruse.run(
      over.gate_id,
      over.seq,
      use.compound_id,
      use.household_id,
      over.ts,
      inWindow.length,
      quota,
      periodHours,
      JSON.stringify(gates),
      detectedAt,
    ).changes;
    if (fresh === 0) return;
    this.counters.overuses += 1;
    const detail =
      `household ${use.household_id}: ${inWindow.length} lockdown exits within ${periodHours} h ` +
      `(quota ${quota}) at ${gates.join(', ')}`;
    this.log.warn(
      { householdId: use.household_id, gateId: over.gate_id, seq: over.seq, uses: inWindow.length, quota },
      'exit quota exceeded',
    );
    const alarm = { kind: 'exit-quota-exceeded' as const, ts: over.ts, detail };
    void this.options.store
      .recordAlarm({ ...alarm, gateId: over.gate_id, compoundId: use.compound_id, receivedAt: detectedAt })
      .catch((err: unknown) => this.log.error({ err }, 'over-use alarm not stored'));
    this.options.live.publish({ type: 'alarm', data: { ...alarm, gateId: over.gate_id, compoundId: use.compound_id } });
  }

  /** A snapshot carries the uses a gate needs to count (those within the compound's period). */
  withRecentUses(snapshot: Snapshot, compoundId: string): Snapshot {
    const policy = this.stmt.policy.get(compoundId) as { quota_period_hours: number } | undefined;
    if (!policy) return snapshot;
    const since = this.options.now() - policy.quota_period_hours * HOUR_MS;
    const uses = this.stmt.recentUses.all(compoundId, since) as UseRow[];
    return {
      rev: snapshot.rev,
      records: [
        ...snapshot.records,
        ...uses.map(
          (u): Change => ({ op: 'exit.use', householdId: u.household_id, gateId: u.gate_id, seq: u.seq, ts: u.ts }),
        ),
      ],
    };
  }

  /** The over-uses found in a compound since `since`, newest first (the manager's list). */
  overuses(compoundId: string, since: number, limit = 100): ExitOveruse[] {
    return (this.stmt.overuses.all(compoundId, since, limit) as Record<string, unknown>[]).map((r) => ({
      householdId: String(r.household_id),
      gateId: String(r.gate_id),
      seq: Number(r.seq),
      ts: Number(r.ts),
      uses: Number(r.uses),
      quota: Number(r.quota),
      periodHours: Number(r.period_hours),
      gates: JSON.parse(String(r.gates)) as string[],
      detectedAt: Number(r.detected_at),
    }));
  }
}

function isQuotaUse(e: StoredEvent): boolean {
  return e.quotaHousehold !== undefined && e.result === 'granted' && e.passed !== false;
}
