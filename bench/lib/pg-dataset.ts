/**
 * The stored-passage data set (bench/lib/passage-dataset.ts) on PostgreSQL: the same seeded
 * registry and passages, written through `PostgresCloudStore.insertEvents` in 50 k-event
 * transactions — month partitions, indexes and, where the statistics have a PostgreSQL rollup
 * writer, the rollups, exactly as live ingest builds them. The database is `--pg URL` (kept: a
 * second run on the same database reuses the data when its marker row says it holds the same set)
 * or, by default, a throwaway cluster of testkit/postgres.ts, stopped at exit.
 */
import { openRollupWriter } from '../../cloud/analytics/open-analytics.ts';
import { UnsupportedEngineError } from '../../cloud/store/engine.ts';
import { PostgresCloudStore } from '../../cloud/store/postgres/postgres-store.ts';
import { silentLogger } from '../../shared/log.ts';
import { startPostgres } from '../../testkit/postgres.ts';
import type { BenchContext } from './cli.ts';
import { DATASET, DATASET_PEPPER, datasetIds, insertDataset, registerDataset } from './passage-dataset.ts';
import { generatePopulation, type Population } from './population.ts';

export interface PgDataset {
  store: PostgresCloudStore;
  url: string;
  rows: number;
  population: Population;
  compoundIds: string[];
  /** Whether the statistics rollups were written (a PostgreSQL rollup writer exists). */
  rollups: boolean;
  generatedInS: number;
  insertRate?: number;
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
  await store.pool.query(`CREATE TABLE IF NOT EXISTS ${MARKER} (key text PRIMARY KEY, rows int8, rollups boolean)`);
  const cached = (await store.pool.query(`SELECT rows, rollups FROM ${MARKER} WHERE key = $1`, [key])).rows[0] as
    | { rows: number; rollups: boolean }
    | undefined;
  const base = { store, url: options.url, population, compoundIds };
  if (cached) return { ...base, rows: Number(cached.rows), rollups: cached.rollups, generatedInS: 0 };
  if ((await store.listCompounds()).length > 0) {
    await store.close();
    throw new Error(`${options.url} holds another data set: give an empty database (or the same --rows)`);
  }
  const started = process.hrtime.bigint();
  let rollups: ReturnType<typeof openRollupWriter> | undefined;
  try {
    rollups = openRollupWriter(store.engine, silentLogger);
  } catch (error) {
    if (!(error instanceof UnsupportedEngineError)) throw error;
    options.progress?.('no PostgreSQL rollup writer yet: passages without statistics rollups');
  }
  await registerDataset(store, population);
  const { written, insertS } = await insertDataset(
    // On a postgres engine the writer is the PostgreSQL hook the store takes.
    (events) => store.insertEvents(events, rollups as unknown as Parameters<PostgresCloudStore['insertEvents']>[1]),
    population,
    options.rows,
    options.progress,
  );
  // No ANALYZE beyond autovacuum's own: the cloud never runs one.
  await store.pool.query(`INSERT INTO ${MARKER} (key, rows, rollups) VALUES ($1, $2, $3)`, [
    key,
    written,
    rollups !== undefined,
  ]);
  return {
    ...base,
    rows: written,
    rollups: rollups !== undefined,
    generatedInS: Number(process.hrtime.bigint() - started) / 1e9,
    insertRate: written / insertS,
  };
}
