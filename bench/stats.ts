/**
 * Statistics: `statsSummary` and `statsHourly` (what `GET /stats/summary` and `/stats/hourly` run)
 * for one compound over 30 days of N stored passages (default as bench/contacts.ts), beside the
 * previous way — every hourly rollup row read into JS and folded there — and beside the peer that
 * reads no rollups: the same counts by a GROUP BY over the raw events (bench/lib/stats-measure.ts).
 * With `--engines sqlite,postgres` the same data set on the PostgreSQL store too (its rollups
 * filled by the store's one-time fill from events; bench/lib/pg-dataset.ts), side by side.
 * `bench/contacts.ts --with-stats` measures the same in the contacts' run, on the data sets it opened.
 *
 *   node --import tsx bench/stats.ts [--quick] [--rows 3m] [--queries 200] [--engines sqlite,postgres] [--pg URL]
 */
import { SqliteAnalyticsStore } from '../cloud/analytics/analytics-store.ts';
import { openAnalyticsStore } from '../cloud/analytics/open-analytics.ts';
import { SqliteCloudStore } from '../cloud/store/sqlite-store.ts';
import { type BenchContext, intFlag, runBench } from './lib/cli.ts';
import { DEFAULT_ROWS, QUICK_ROWS } from './lib/dataset-size.ts';
import { openDataset } from './lib/passage-dataset.ts';
import { benchDatabase, openPgDataset } from './lib/pg-dataset.ts';
import { formatNumber } from './lib/report.ts';
import type { Engine } from './lib/side-by-side.ts';
import { compareStats, measureStats, rawGroupBySql, type StatsRun } from './lib/stats-measure.ts';

const USAGE = `bench stats [--quick] [--rows N] [--queries N] [--engines sqlite,postgres] [--pg URL] [--cache-dir DIR] [--json FILE]
  30-day summary and hourly statistics of one compound over N stored passages.`;

type Ctx = BenchContext<Record<string, string | boolean | undefined>>;

async function onSqlite(ctx: Ctx, rows: number, queries: number): Promise<StatsRun> {
  const { report } = ctx;
  const dataset = await openDataset({ cacheDir: await ctx.cacheDir(), rows, progress: (t) => report.progress(t) });
  const label = `[sqlite ${formatNumber(rows)}]`;
  if (dataset.generatedInS > 0) {
    report.add({
      name: `${label} generate data set (insertEvents + rollups)`,
      value: dataset.generatedInS,
      unit: 's',
      note: `${formatNumber(dataset.insertRate ?? 0)} rows/s`,
    });
  }
  const store = new SqliteCloudStore({ path: dataset.path });
  const analytics = new SqliteAnalyticsStore(store.db);
  analytics.start();
  const raw = store.db.prepare(rawGroupBySql('sqlite'));
  const run = await measureStats(
    {
      analytics,
      registry: store,
      compoundIds: dataset.compoundIds,
      rawGroupBy: async (c, from, to) => raw.all(c, from, to),
    },
    queries,
    label,
  );
  report.add(...run.figures);
  await store.close();
  return run;
}

async function onPostgres(ctx: Ctx, rows: number, queries: number): Promise<StatsRun> {
  const { report } = ctx;
  const url = await benchDatabase(ctx, typeof ctx.values.pg === 'string' ? ctx.values.pg : undefined);
  const dataset = await openPgDataset({ url, rows, progress: (t) => report.progress(`postgres ${t}`) });
  const label = `[postgres ${formatNumber(rows)}]`;
  if (dataset.generatedInS > 0) {
    report.add({
      name: `${label} load data set (COPY, indexes, rollups fill)`,
      value: dataset.generatedInS,
      unit: 's',
    });
  }
  const sql = rawGroupBySql('postgres');
  const run = await measureStats(
    {
      analytics: openAnalyticsStore(dataset.store.engine),
      registry: dataset.store,
      compoundIds: dataset.compoundIds,
      rawGroupBy: (c, from, to) => dataset.store.pool.query(sql, [c, from, to]),
    },
    queries,
    label,
  );
  report.add(...run.figures);
  await dataset.store.close();
  return run;
}

await runBench(
  'stats',
  USAGE,
  { rows: { type: 'string' }, queries: { type: 'string' }, engines: { type: 'string' }, pg: { type: 'string' } },
  async (ctx) => {
    const { quick, values } = ctx;
    const rows = intFlag(values, 'rows', quick ? QUICK_ROWS : DEFAULT_ROWS);
    const queries = intFlag(values, 'queries', quick ? 30 : 200);
    const engines = String(values.engines ?? 'sqlite').split(',');
    const runs: Partial<Record<Engine, StatsRun>> = {};
    if (engines.includes('sqlite')) runs.sqlite = await onSqlite(ctx, rows, queries);
    if (engines.includes('postgres')) runs.postgres = await onPostgres(ctx, rows, queries);
    compareStats(`statistics, ${formatNumber(rows)} passages, 1 compound, 30 d, n = ${queries}`, runs, (t) =>
      ctx.report.note(t),
    );
  },
);
