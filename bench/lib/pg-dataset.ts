/**
 * The stored-passage data set (bench/lib/passage-dataset.ts) on PostgreSQL: the same seeded
 * registry (written through the store) and the same passages, bulk-loaded by COPY into the month
 * partitions with the indexes built after the load (bench/lib/pg-copy-load.ts), then the
 * statistics rollups filled by the store's one-time fill from `events` (pg-rollup-fill.ts, what a
 * cloud does on a database that holds passages from before its rollups) — the same counters live
 * ingest adds batch by batch (the differential test holds the two to the same statistics). The
 * database is `--pg URL` (kept: a second run on the same database reuses the data when its marker
 * row says it holds the same set) or, by default, a throwaway cluster of testkit/postgres.ts,
 * stopped at exit.
 */
import { ROLLUP_TABLES } from '../../cloud/analytics/pg-analytics-migrations.ts';
import { analyticsReady } from '../../cloud/analytics/pg-rollup-fill.ts';
import { PostgresCloudStore } from '../../cloud/store/postgres/postgres-store.ts';
import { silentLogger } from '../../shared/log.ts';
import { startPostgres } from '../../testkit/postgres.ts';
import type { BenchContext } from './cli.ts';
import { DATASET, DATASET_PEPPER, datasetIds, passageDays, registerDataset } from './passage-dataset.ts';
import { copyLoad } from './pg-copy-load.ts';
import { generatePopulation, type Population } from './population.ts';

export interface PgDataset {
  store: PostgresCloudStore;
  url: string;
  rows: number;
  population: Population;
  compoundIds: string[];
  /** Seconds spent loading now (0 when the database already held the set), and its phases. */
  generatedInS: number;
  phases?: { copyS: number; indexS: number; analyzeS: number; rollupsS: number; registryS: number };
}

/** A database for the run: `url`, or a fresh throwaway cluster's `postgres` database. */
export async function benchDatabase(ctx: Pick<BenchContext<unknown>, 'onCleanup'>, url?: string): Promise<string> {
  if (url) return url;
  const cluster = await startPostgres();
  ctx.onCleanup(() => cluster.stop());
  return cluster.url('postgres');
}

const MARKER = 'bench_dataset';

export async function openPgDataset(options: {
  url: string;
  rows: number;
  persons?: number;
  progress?: (text: string) => void;
}): Promise<PgDataset> {
  const persons = options.persons ?? DATASET.persons;
  const { compoundIds } = datasetIds();
  const population = generatePopulation({ count: persons, pepper: DATASET_PEPPER, compounds: compoundIds });
  const store = await PostgresCloudStore.open({ url: options.url, max: 4, applicationName: 'anxin-bench' });
  const key = `${options.rows}-${persons}-${DATASET.seed}`;
  await store.pool.query(`CREATE TABLE IF NOT EXISTS ${MARKER} (key text PRIMARY KEY, rows int8)`);
  const cached = (await store.pool.query(`SELECT rows FROM ${MARKER} WHERE key = $1`, [key])).rows[0] as
    | { rows: number }
    | undefined;
  const base = { store, url: options.url, population, compoundIds };
  if (cached) return { ...base, rows: Number(cached.rows), generatedInS: 0 };
  if ((await store.listCompounds()).length > 0) {
    await store.close();
    throw new Error(`${options.url} holds another data set: give an empty database (or the same --rows)`);
  }
  const started = process.hrtime.bigint();
  await registerDataset(store, population);
  const registryS = Number(process.hrtime.bigint() - started) / 1e9;
  const load = await copyLoad(store.pool, passageDays(population, options.rows), options.progress);
  options.progress?.('filling the statistics rollups from events (the one-time fill)');
  const fillStarted = process.hrtime.bigint();
  // What the first cloud instance on this database does: migrate the rollup tables, fill them from events.
  await analyticsReady(store.pool, silentLogger);
  const rollupsS = Number(process.hrtime.bigint() - fillStarted) / 1e9;
  await store.pool.query(`VACUUM (ANALYZE) ${ROLLUP_TABLES.join(', ')}`);
  await store.pool.query(`INSERT INTO ${MARKER} (key, rows) VALUES ($1, $2)`, [key, load.written]);
  return {
    ...base,
    rows: load.written,
    generatedInS: Number(process.hrtime.bigint() - started) / 1e9,
    phases: { copyS: load.copyS, indexS: load.indexS, analyzeS: load.analyzeS, rollupsS, registryS },
  };
}
