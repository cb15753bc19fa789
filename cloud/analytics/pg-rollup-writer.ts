/**
 * The statistics rollup writer on PostgreSQL: an ingest hook (cloud/store/ingest-hook.ts) that adds
 * each batch's newly stored passages to the rollups on the ingest transaction's client, so the
 * counters commit and roll back with their passages; exact across cloud instances on one database
 * (pg-rollup-apply.ts). Unlike the SQLite writer it keeps no memory of who was counted today:
 * another instance may have counted them, and the table's unique key decides.
 */
import type pg from 'pg';
import { type Logger, silentLogger } from '../../shared/log.ts';
import type { CompoundOf, PgIngestHook } from '../store/ingest-hook.ts';
import { type Queryable, run, statement } from '../store/postgres/pg-pool.ts';
import type { StoredEvent } from '../store/store.ts';
import { addRollups, type RollupRows, rollupRows, writeRollups } from './pg-rollup-apply.ts';
import { analyticsReady, fillRollups } from './pg-rollup-fill.ts';
import { lastDayToForget } from './rollup.ts';

const purgePersons = statement<[string]>('stats_purge_persons', 'DELETE FROM stats_daily_persons WHERE day <= $1');

export class PgRollupWriter implements PgIngestHook {
  readonly engine = 'postgres';
  private readonly log: Logger;
  /** Rows folded by `prepare`, by the batch's candidates array. */
  private readonly prepared = new WeakMap<readonly StoredEvent[], RollupRows>();

  constructor(
    private readonly pool: pg.Pool,
    logger: Logger = silentLogger,
  ) {
    this.log = logger.child({ component: 'cloud.analytics.rollup' });
  }

  /** Resolves once the tables exist and hold the past (migrated and filled on first use). */
  ready(): Promise<void> {
    return analyticsReady(this.pool, this.log);
  }

  /** Folds the batch's candidates before its locks are taken (used if every one is new). */
  async prepare(candidates: readonly StoredEvent[], compoundOf: CompoundOf, db: Pick<pg.Pool, 'query'>) {
    await this.ready();
    this.prepared.set(candidates, await rollupRows(db, candidates, compoundOf, this.log));
  }

  async onStored(events: readonly StoredEvent[], compoundOf: CompoundOf, client: pg.PoolClient) {
    await this.ready();
    const rows = this.prepared.get(events);
    if (rows) await writeRollups(client, rows);
    else await addRollups(client, events, compoundOf, this.log);
  }

  /** Retention (privacy): forgets who crossed on local days wholly before `beforeMs` (as on SQLite). */
  async purgePersonsBefore(beforeMs: number): Promise<number> {
    await this.ready();
    return (await run(this.pool, purgePersons, [lastDayToForget(beforeMs)])).rowCount;
  }

  /** Recomputes every rollup from the stored events (a repair); returns the number of events read. */
  async rebuild(): Promise<number> {
    await this.ready();
    return fillRollups(this.pool, this.log, { force: true });
  }
}
