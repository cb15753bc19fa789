/**
 * The month partitions of `events` (declarative range partitioning on `ts`, epoch ms, months in
 * UTC), named `events_pYYYY_MM`. Ingest creates the partition of a month on first use; retention
 * drops a month whole once all of it is older than the horizon (pg-events.ts).
 *
 * DDL on a partition takes a strong lock on `events`, so it runs in short transactions of its own,
 * never inside an ingest transaction, and under an advisory lock so that cloud instances sharing
 * the database create each month once.
 */
import type pg from 'pg';
import { type Queryable, transaction } from './pg-pool.ts';

export interface MonthPartition {
  name: string;
  /** Inclusive lower bound, epoch ms (00:00 UTC on the 1st). */
  from: number;
  /** Exclusive upper bound: the next month's `from`. */
  to: number;
}

const NAME = /^events_p(\d{4,6})_(\d{2})$/;
const DDL_LOCK = 'anxin:events-partitions';
/** How long a partition drop waits for ingest and queries to let go of `events` before it gives up until next time. */
const DROP_LOCK_TIMEOUT = '5s';

export function monthOf(ts: number): MonthPartition {
  const d = new Date(ts);
  const year = d.getUTCFullYear();
  const month = d.getUTCMonth();
  return {
    name: `events_p${String(year).padStart(4, '0')}_${String(month + 1).padStart(2, '0')}`,
    from: Date.UTC(year, month, 1),
    to: Date.UTC(year, month + 1, 1),
  };
}

function partitionOfName(name: string): MonthPartition | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]) - 1;
  return { name, from: Date.UTC(year, month, 1), to: Date.UTC(year, month + 1, 1) };
}

/** The month partitions attached to `events`, oldest first. */
export async function listPartitions(db: Queryable): Promise<MonthPartition[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'events'::regclass`,
  );
  return rows
    .map((r) => partitionOfName(r.name))
    .filter((p): p is MonthPartition => p !== undefined)
    .sort((a, b) => a.from - b.from);
}

/** Creates missing month partitions; remembers the ones it saw so ingest's usual case is no query at all. */
export class EventPartitions {
  private readonly known = new Set<string>();

  constructor(private readonly pool: pg.Pool) {}

  /** Makes sure every month of `timestamps` has its partition. */
  async ensure(timestamps: Iterable<number>): Promise<void> {
    const missing = new Map<string, MonthPartition>();
    for (const ts of timestamps) {
      const month = monthOf(ts);
      if (!this.known.has(month.name)) missing.set(month.name, month);
    }
    if (missing.size === 0) return;
    await transaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [DDL_LOCK]);
      for (const m of missing.values()) {
        // Bounds are integers we computed; names match NAME. Nothing here comes from outside as text.
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${m.name} PARTITION OF events FOR VALUES FROM (${m.from}) TO (${m.to})`,
        );
      }
    });
    for (const name of missing.keys()) this.known.add(name);
  }

  /** After another instance's retention dropped a partition this one still believed in. */
  forget(): void {
    this.known.clear();
  }

  /**
   * Drops every partition wholly older than `before`; returns the rows they held. A partition whose
   * drop cannot get its lock within a few seconds (long queries on `events`) is left for the next run.
   */
  async dropOlderThan(before: number): Promise<number> {
    let dropped = 0;
    for (const p of await listPartitions(this.pool)) {
      if (p.to > before) break;
      dropped += await transaction(this.pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [DDL_LOCK]);
        await client.query(`SET LOCAL lock_timeout = '${DROP_LOCK_TIMEOUT}'`);
        const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM ${p.name}`);
        await client.query(`DROP TABLE IF EXISTS ${p.name}`);
        return rows[0]?.n ?? 0;
      }).catch((error: { code?: string }) => {
        // 55P03: lock_not_available — try again at the next retention run.
        if (error.code === '55P03' || error.code === '42P01') return 0;
        throw error;
      });
      this.known.delete(p.name);
    }
    return dropped;
  }
}
