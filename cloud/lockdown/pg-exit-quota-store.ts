/**
 * The exit quota's uses and over-uses on PostgreSQL: the store's `exit_uses` and `exit_overuse`
 * (cloud/store/postgres/pg-migrations.ts, version 1), shared by every cloud instance on the database.
 *
 * - The uses are written by the ingest hook on the ingest transaction's client, so a use is stored
 *   with its passage or not at all; `(gate_id, seq)` is their key (and the ingest of a gate is
 *   serialised across instances by its advisory lock), so a replay records nothing.
 * - Any instance may relay any use: `relay` first flips `relayed` on the uses it was given —
 *   `UPDATE … WHERE NOT relayed RETURNING`, which waits for another instance's flip of the same
 *   row and then skips it — and logs changes only for the uses it flipped, so each use is relayed
 *   once however many instances raced for it.
 * - An over-use is recorded once per `(gate_id, seq)`, whichever instance found it first.
 */
import type pg from 'pg';
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { PgIngestHook } from '../store/ingest-hook.ts';
import { run, statement, transaction } from '../store/postgres/pg-pool.ts';
import { appendChanges } from '../store/postgres/pg-registry.ts';
import type { ChangeBatch } from '../store/store.ts';
import { type OveruseRow, overuseOf, USE_COLUMNS, type UseRow, useOf } from './exit-quota-rows.ts';
import type { ExitOveruse, ExitQuotaStore, ExitUse, UsesOf } from './exit-quota-store.ts';

const S = {
  record: statement<[string[], number[], string[], string[], number[]]>(
    'exit_use_record',
    `INSERT INTO exit_uses (${USE_COLUMNS})
     SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[]) ORDER BY 1, 2
     ON CONFLICT (gate_id, seq) DO NOTHING`,
  ),
  unrelayed: statement<[number], UseRow>(
    'exit_use_unrelayed',
    `SELECT ${USE_COLUMNS} FROM exit_uses WHERE NOT relayed ORDER BY compound_id, ts, gate_id, seq LIMIT $1`,
  ),
  markRelayed: statement<[string[], number[]], { gate_id: string; seq: number }>(
    'exit_use_mark_relayed',
    `UPDATE exit_uses u SET relayed = true FROM unnest($1::text[], $2::int8[]) AS k(gate_id, seq)
     WHERE u.gate_id = k.gate_id AND u.seq = k.seq AND NOT u.relayed RETURNING u.gate_id, u.seq`,
  ),
  householdUses: statement<[string, string, number, number], UseRow>(
    'exit_use_household',
    `SELECT ${USE_COLUMNS} FROM exit_uses WHERE compound_id = $1 AND household_id = $2 AND ts >= $3 AND ts <= $4
     ORDER BY ts, gate_id, seq`,
  ),
  usesSince: statement<[string, number], UseRow>(
    'exit_use_since',
    `SELECT ${USE_COLUMNS} FROM exit_uses WHERE compound_id = $1 AND ts >= $2 ORDER BY ts, gate_id, seq`,
  ),
  policy: statement<[string], { quota_exits: number; quota_period_hours: number }>(
    'exit_quota_policy',
    'SELECT quota_exits, quota_period_hours FROM compounds WHERE id = $1',
  ),
  recordOveruse: statement<[string, number, string, string, number, number, number, number, string, number]>(
    'exit_overuse_record',
    `INSERT INTO exit_overuse (gate_id, seq, compound_id, household_id, ts, uses, quota, period_hours, gates, detected_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (gate_id, seq) DO NOTHING`,
  ),
  overuses: statement<[string, number, number], OveruseRow>(
    'exit_overuses',
    `SELECT household_id, gate_id, seq, ts, uses, quota, period_hours, gates, detected_at FROM exit_overuse
     WHERE compound_id = $1 AND detected_at >= $2 ORDER BY detected_at DESC, ts DESC LIMIT $3`,
  ),
};

const useKey = (gateId: string, seq: number) => `${gateId}\u0000${seq}`;

export class PgExitQuotaStore implements ExitQuotaStore {
  constructor(private readonly pool: pg.Pool) {}

  ingestHook(usesOf: UsesOf, recorded: (fresh: number) => void): PgIngestHook {
    let fresh = 0;
    return {
      engine: 'postgres',
      onStored: async (events, compoundOf, client) => {
        fresh = 0;
        const uses = usesOf(events, compoundOf);
        if (uses.length === 0) return;
        const { rowCount } = await run(client, S.record, [
          uses.map((u) => u.gateId),
          uses.map((u) => u.seq),
          uses.map((u) => u.compoundId),
          uses.map((u) => u.householdId),
          uses.map((u) => u.ts),
        ]);
        fresh = rowCount;
      },
      committed: () => {
        if (fresh > 0) recorded(fresh);
        fresh = 0;
      },
    };
  }

  async unrelayed(limit: number): Promise<ExitUse[]> {
    return (await run(this.pool, S.unrelayed, [limit])).rows.map(useOf);
  }

  async relay(changes: ReadonlyMap<string, Change[]>, uses: readonly ExitUse[]): Promise<ChangeBatch[]> {
    return transaction(this.pool, async (client) => {
      const sorted = [...uses].sort((a, b) => (a.gateId < b.gateId ? -1 : a.gateId > b.gateId ? 1 : a.seq - b.seq));
      const { rows } = await run(client, S.markRelayed, [sorted.map((u) => u.gateId), sorted.map((u) => u.seq)]);
      const flipped = new Set(rows.map((r) => useKey(r.gate_id, r.seq)));
      const batches: ChangeBatch[] = [];
      for (const [compoundId, list] of changes) {
        // Another instance relayed the rest meanwhile: their changes are in the log already.
        const mine = list.filter((c) => c.op !== 'exit.use' || flipped.has(useKey(c.gateId, c.seq)));
        if (mine.length > 0) batches.push(await appendChanges(client, compoundId, mine));
      }
      return batches;
    });
  }

  async policy(compoundId: string): Promise<{ exits: number; periodHours: number } | undefined> {
    const row = (await run(this.pool, S.policy, [compoundId])).rows[0];
    return row ? { exits: row.quota_exits, periodHours: row.quota_period_hours } : undefined;
  }

  async householdUses(compoundId: string, householdId: string, from: number, to: number): Promise<ExitUse[]> {
    return (await run(this.pool, S.householdUses, [compoundId, householdId, from, to])).rows.map(useOf);
  }

  async usesSince(compoundId: string, since: number): Promise<ExitUse[]> {
    return (await run(this.pool, S.usesSince, [compoundId, since])).rows.map(useOf);
  }

  async recordOveruse(compoundId: string, o: ExitOveruse): Promise<boolean> {
    const { rowCount } = await run(this.pool, S.recordOveruse, [
      o.gateId,
      o.seq,
      compoundId,
      o.householdId,
      o.ts,
      o.uses,
      o.quota,
      o.periodHours,
      JSON.stringify(o.gates),
      o.detectedAt,
    ]);
    return rowCount === 1;
  }

  async overuses(compoundId: string, since: number, limit: number): Promise<ExitOveruse[]> {
    return (await run(this.pool, S.overuses, [compoundId, since, limit])).rows.map(overuseOf);
  }
}
