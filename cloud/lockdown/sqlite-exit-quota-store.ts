/** The exit quota's uses and over-uses on SQLite: the store's `exit_uses` and `exit_overuse` tables. */
import type { Database, Statement } from 'better-sqlite3';
import type { Change } from '../../shared/schemas/mqtt.ts';
import { SqliteChangeLog } from '../store/sqlite/change-log.ts';
import type { SqliteIngestHook } from '../store/ingest-hook.ts';
import type { ChangeBatch } from '../store/store.ts';
import { type OveruseRow, overuseOf, USE_COLUMNS, type UseRow, useOf } from './exit-quota-rows.ts';
import type { ExitOveruse, ExitQuotaStore, ExitUse, UsesOf } from './exit-quota-store.ts';

export class SqliteExitQuotaStore implements ExitQuotaStore {
  private readonly log: SqliteChangeLog;
  private readonly s: {
    record: Statement<[string, number, string, string, number]>;
    unrelayed: Statement<[number], UseRow>;
    markRelayed: Statement<[string, number]>;
    householdUses: Statement<[string, string, number, number], UseRow>;
    usesSince: Statement<[string, number], UseRow>;
    policy: Statement<[string], { quota_exits: number; quota_period_hours: number }>;
    recordOveruse: Statement<[string, number, string, string, number, number, number, number, string, number]>;
    overuses: Statement<[string, number, number], OveruseRow>;
  };

  constructor(private readonly db: Database) {
    this.log = new SqliteChangeLog(db);
    this.s = {
      record: db.prepare(`INSERT OR IGNORE INTO exit_uses (${USE_COLUMNS}) VALUES (?, ?, ?, ?, ?)`),
      unrelayed: db.prepare(
        `SELECT ${USE_COLUMNS} FROM exit_uses WHERE relayed = 0 ORDER BY compound_id, ts, gate_id, seq LIMIT ?`,
      ),
      markRelayed: db.prepare('UPDATE exit_uses SET relayed = 1 WHERE gate_id = ? AND seq = ?'),
      householdUses: db.prepare(`SELECT ${USE_COLUMNS} FROM exit_uses
        WHERE compound_id = ? AND household_id = ? AND ts >= ? AND ts <= ? ORDER BY ts, gate_id, seq`),
      usesSince: db.prepare(
        `SELECT ${USE_COLUMNS} FROM exit_uses WHERE compound_id = ? AND ts >= ? ORDER BY ts, gate_id, seq`,
      ),
      policy: db.prepare('SELECT quota_exits, quota_period_hours FROM compounds WHERE id = ?'),
      recordOveruse: db.prepare(`INSERT OR IGNORE INTO exit_overuse (gate_id, seq, compound_id, household_id, ts, uses,
        quota, period_hours, gates, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      overuses: db.prepare(`SELECT * FROM exit_overuse WHERE compound_id = ? AND detected_at >= ?
        ORDER BY detected_at DESC, ts DESC LIMIT ?`),
    };
  }

  /** Its statements are prepared on the store's connection, the one the store hands its hooks. */
  ingestHook(usesOf: UsesOf, recorded: (fresh: number) => void): SqliteIngestHook {
    let fresh = 0;
    return {
      engine: 'sqlite',
      onStored: (events, compoundOf) => {
        fresh = 0;
        for (const u of usesOf(events, compoundOf)) {
          fresh += this.s.record.run(u.gateId, u.seq, u.compoundId, u.householdId, u.ts).changes;
        }
      },
      committed: () => {
        if (fresh > 0) recorded(fresh);
        fresh = 0;
      },
    };
  }

  async unrelayed(limit: number): Promise<ExitUse[]> {
    return this.s.unrelayed.all(limit).map(useOf);
  }

  async relay(changes: ReadonlyMap<string, Change[]>, uses: readonly ExitUse[]): Promise<ChangeBatch[]> {
    return this.db.transaction(() => {
      const batches = [...changes].map(([compoundId, list]) => this.log.append(compoundId, list));
      for (const u of uses) this.s.markRelayed.run(u.gateId, u.seq);
      return batches;
    })();
  }

  async policy(compoundId: string): Promise<{ exits: number; periodHours: number } | undefined> {
    const row = this.s.policy.get(compoundId);
    return row ? { exits: row.quota_exits, periodHours: row.quota_period_hours } : undefined;
  }

  async householdUses(compoundId: string, householdId: string, from: number, to: number): Promise<ExitUse[]> {
    return this.s.householdUses.all(compoundId, householdId, from, to).map(useOf);
  }

  async usesSince(compoundId: string, since: number): Promise<ExitUse[]> {
    return this.s.usesSince.all(compoundId, since).map(useOf);
  }

  async recordOveruse(compoundId: string, o: ExitOveruse): Promise<boolean> {
    const gates = JSON.stringify(o.gates);
    const args = [o.gateId, o.seq, compoundId, o.householdId, o.ts, o.uses, o.quota, o.periodHours] as const;
    return this.s.recordOveruse.run(...args, gates, o.detectedAt).changes === 1;
  }

  async overuses(compoundId: string, since: number, limit: number): Promise<ExitOveruse[]> {
    return this.s.overuses.all(compoundId, since, limit).map(overuseOf);
  }
}
