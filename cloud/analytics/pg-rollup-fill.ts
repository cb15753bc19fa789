/**
 * The statistics tables on PostgreSQL made ready: migrated (once across instances,
 * `analytics_migrations`) and, the first time, filled from the events stored before they existed —
 * so statistics never silently miss the past, whether the tables were created by this instance or
 * by `anxin db migrate`. Shared by the rollup writer and the reads of one pool.
 *
 * The fill is exact while other instances ingest: in one REPEATABLE READ transaction it first locks
 * the rollup tables against writers (`SHARE ROW EXCLUSIVE`: reads go on), and only then takes its
 * snapshot. A batch committed before that is in the snapshot and counted from its events (its own
 * counters are replaced); a batch still open then cannot write its counters until the fill commits,
 * and its events are not in the snapshot, so it counts them itself afterwards. Nothing is counted
 * twice or missed.
 */
import type pg from 'pg';
import type { Direction, Method, Reason, Result } from '../../shared/enums.ts';
import type { Logger } from '../../shared/log.ts';
import { migratedOnFirstUse } from '../store/postgres/pg-migrated.ts';
import { transaction } from '../store/postgres/pg-pool.ts';
import { PG_ANALYTICS_MIGRATIONS, ROLLUP_TABLES } from './pg-analytics-migrations.ts';
import { addRollups } from './pg-rollup-apply.ts';
import type { RollupEvent } from './rollup.ts';

/** Events read per step of a fill. */
const FILL_PAGE = 5000;

interface EventRow {
  gate_id: string;
  compound_id: string;
  ts: number;
  direction: Direction;
  method: Method;
  result: Result;
  reason: Reason;
  passed: boolean | null;
  person_id: string | null;
}

const ready = new WeakMap<pg.Pool, () => Promise<void>>();

/** Resolves once the rollup tables exist and hold the past; a failure is tried again by the next call. */
export function analyticsReady(pool: pg.Pool, log: Logger): Promise<void> {
  let once = ready.get(pool);
  if (!once) {
    const migrated = migratedOnFirstUse(pool, 'analytics_migrations', PG_ANALYTICS_MIGRATIONS);
    let done: Promise<void> | undefined;
    once = () => {
      done ??= migrated()
        .then(() => fillRollups(pool, log, { force: false }))
        .then(
          (events) => {
            if (events > 0) log.info({ events }, 'statistics rollups filled from the stored events');
          },
          (error: unknown) => {
            done = undefined;
            throw error;
          },
        );
      return done;
    };
    ready.set(pool, once);
  }
  return once();
}

/**
 * Recomputes every rollup from `events` in one transaction (see the module comment); returns the
 * number of events read. Unless `force`, does nothing once the rollups were filled. `elderly` is
 * then the resident's flag of today, not of the day of the passage (as on SQLite).
 */
export async function fillRollups(pool: pg.Pool, log: Logger, options: { force: boolean }): Promise<number> {
  if (!options.force && (await isFilled(pool))) return 0;
  return transaction(
    pool,
    async (client) => {
      // Before any query: the snapshot is taken after the lock (PostgreSQL's advice for consistency).
      await client.query(`LOCK TABLE analytics_state, ${ROLLUP_TABLES.join(', ')} IN SHARE ROW EXCLUSIVE MODE`);
      if (!options.force && (await isFilled(client))) return 0;
      await client.query(ROLLUP_TABLES.map((t) => `DELETE FROM ${t};`).join('\n'));
      const read = await addEveryEvent(client, log);
      await client.query(
        `INSERT INTO analytics_state (id, rollups_filled) VALUES (1, true)
         ON CONFLICT (id) DO UPDATE SET rollups_filled = true`,
      );
      return read;
    },
    'repeatable read',
  );
}

async function isFilled(db: pg.Pool | pg.PoolClient): Promise<boolean> {
  const { rows } = await db.query<{ rollups_filled: boolean }>('SELECT rollups_filled FROM analytics_state');
  return rows[0]?.rollups_filled === true;
}

/** One scan of `events` (a cursor, in pages), each page added as an ingest batch would be. */
async function addEveryEvent(client: pg.PoolClient, log: Logger): Promise<number> {
  await client.query(`DECLARE anxin_fill NO SCROLL CURSOR FOR
    SELECT gate_id, compound_id, ts, direction, method, result, reason, passed, person_id FROM events`);
  let read = 0;
  for (;;) {
    const { rows } = await client.query<EventRow>(`FETCH ${FILL_PAGE} FROM anxin_fill`);
    if (rows.length === 0) break;
    const compounds = new Map(rows.map((r) => [r.gate_id, r.compound_id]));
    const events = rows.map(
      (r): RollupEvent => ({
        gateId: r.gate_id,
        ts: Number(r.ts),
        direction: r.direction,
        method: r.method,
        result: r.result,
        reason: r.reason,
        passed: r.passed,
        ...(r.person_id === null ? {} : { personId: r.person_id }),
      }),
    );
    await addRollups(client, events, (gateId) => compounds.get(gateId) ?? '', log);
    read += rows.length;
  }
  await client.query('CLOSE anxin_fill');
  return read;
}
