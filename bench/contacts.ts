/**
 * Contacts query: `traceContacts` (what `GET /trace/contacts/:personId` runs) over N stored
 * passages (default 3 M, `--rows 10m` for the size; 30 days, 200 gates, 100 k persons), for a 14-day window and ±15 min,
 * beside its floor — the same index range scans (`gateScan`, what the service reads) with no
 * ranking, names or household lookup.
 * With `--scaling 1m,3m` it first runs the same queries on smaller data sets (SQLite).
 * With `--engines sqlite,postgres` the same data set and the same queries run on the PostgreSQL
 * store too (bench/lib/pg-dataset.ts: `--pg URL`, or a throwaway cluster), side by side.
 *
 *   node --import tsx bench/contacts.ts [--quick] [--rows 3m] [--queries 300] [--scaling 1m] [--engines sqlite,postgres]
 */
import type { AnalyticsStore } from '../cloud/analytics/analytics-store.ts';
import { SqliteAnalyticsStore } from '../cloud/analytics/analytics-store.ts';
import { scanRangesOf } from '../cloud/analytics/contacts.ts';
import { isTraceable } from '../cloud/analytics/passage.ts';
import { type TraceDeps, traceContacts } from '../cloud/analytics/tracing.ts';
import { PgTraceReads } from '../cloud/store/postgres/pg-trace-reads.ts';
import { SqliteCloudStore } from '../cloud/store/sqlite-store.ts';
import { type BenchContext, intFlag, runBench } from './lib/cli.ts';
import { DEFAULT_ROWS, DEFAULT_SCALING, QUICK_ROWS } from './lib/dataset-size.ts';
import { daysBeforeEnd, DATASET, openDataset } from './lib/passage-dataset.ts';
import { benchDatabase, openPgDataset } from './lib/pg-dataset.ts';
import type { Population } from './lib/population.ts';
import { randomInt, seededRandom } from './lib/prng.ts';
import { type Figure, formatNumber, latencyFigures } from './lib/report.ts';
import { Samples } from './lib/samples.ts';

const USAGE = `bench contacts [--quick] [--rows N] [--queries N] [--scaling 1m,3m] [--engines sqlite,postgres] [--pg URL]
                [--cache-dir DIR] [--json FILE]
  14-day ±15 min contact traces over N stored passages (default 3m; --quick 300k).`;

const TARGET_P99_MS = 50;
type Ctx = BenchContext<Record<string, string | boolean | undefined>>;

/** The traces of `queries` seeded persons, and the floor (range scans only); p99 targeted on the main size. */
async function measureContacts(
  deps: TraceDeps,
  population: Population,
  queries: number,
  label: string,
  isMain: boolean,
): Promise<Figure[]> {
  const { analytics } = deps;
  const random = seededRandom(99);
  const from = daysBeforeEnd(14);
  const to = DATASET.endMs;
  const windowMs = 15 * 60_000;
  const people = Array.from(
    { length: queries },
    () => population.persons[randomInt(random, population.persons.length)]!.record.personId,
  );
  const options = { from, to, windowMin: 15, depth: 1, includeDenied: false } as const;
  // Warm-up: the first reads fault the index pages in from the page cache.
  for (const personId of people.slice(0, Math.min(10, queries))) await traceContacts(deps, personId, options);
  const full = new Samples();
  const floor = new Samples();
  let contacts = 0;
  let scanned = 0;
  let indexPassages = 0;
  for (const personId of people) {
    let start = process.hrtime.bigint();
    const result = await traceContacts(deps, personId, options);
    full.addNs(process.hrtime.bigint() - start);
    contacts += result.contacts.length;
    indexPassages += result.indexPassages;
    start = process.hrtime.bigint();
    const index = (await analytics.personPassages(personId, from, to)).filter((p) => isTraceable(p, false));
    for (const range of scanRangesOf(index, windowMs)) {
      scanned += (await analytics.gateScan(range.gateId, range.from, range.to)).length;
    }
    floor.addNs(process.hrtime.bigint() - start);
  }
  const fd = full.distribution();
  const fl = floor.distribution();
  return [
    ...(isMain
      ? latencyFigures(`${label} traceContacts 14 d ±15 min`, fd, { p99: TARGET_P99_MS })
      : [{ name: `${label} traceContacts 14 d ±15 min p99`, value: fd.p99, unit: 'ms' }]),
    { name: `${label} floor: index range scans only p50`, value: fl.p50, unit: 'ms' },
    { name: `${label} floor: index range scans only p99`, value: fl.p99, unit: 'ms' },
    {
      name: `${label} contacts found per query`,
      value: contacts / queries,
      unit: 'contacts',
      note: `${(indexPassages / queries).toFixed(1)} index passages, ${Math.round(scanned / queries)} rows scanned`,
    },
  ];
}

async function onSqlite(ctx: Ctx, size: number, queries: number, isMain: boolean): Promise<Figure[]> {
  const { report } = ctx;
  const dataset = await openDataset({
    cacheDir: await ctx.cacheDir(),
    rows: size,
    progress: (t) => report.progress(t),
  });
  const figures: Figure[] = [];
  if (dataset.generatedInS > 0) {
    figures.push({
      name: `[${formatNumber(size)}] generate data set (insertEvents + rollups)`,
      value: dataset.generatedInS,
      unit: 's',
      note: `${formatNumber(dataset.insertRate ?? 0)} rows/s through SqliteCloudStore.insertEvents`,
    });
  }
  const store = new SqliteCloudStore({ path: dataset.path });
  const analytics = new SqliteAnalyticsStore(store.db);
  analytics.start();
  figures.push(
    ...(await measureContacts(
      { analytics, registry: store },
      dataset.population,
      queries,
      `[${formatNumber(size)}]`,
      isMain,
    )),
  );
  await store.close();
  return figures;
}

async function onPostgres(ctx: Ctx, size: number, queries: number): Promise<Figure[]> {
  const { report } = ctx;
  const url = await benchDatabase(ctx, typeof ctx.values.pg === 'string' ? ctx.values.pg : undefined);
  const dataset = await openPgDataset({ url, rows: size, progress: (t) => report.progress(`postgres ${t}`) });
  const label = `[postgres ${formatNumber(size)}]`;
  const figures: Figure[] = [];
  if (dataset.generatedInS > 0) {
    figures.push({
      name: `${label} load data set (insertEvents${dataset.rollups ? ' + rollups' : ''})`,
      value: dataset.generatedInS,
      unit: 's',
      note: `${formatNumber(dataset.insertRate ?? 0)} rows/s through PostgresCloudStore.insertEvents`,
    });
  }
  // traceContacts reads only the trace reads of the analytics store (the statistics are not asked for).
  const analytics = new PgTraceReads(dataset.store.pool) as unknown as AnalyticsStore;
  figures.push(
    ...(await measureContacts({ analytics, registry: dataset.store }, dataset.population, queries, label, true)),
  );
  await dataset.store.close();
  return figures;
}

await runBench(
  'contacts',
  USAGE,
  {
    rows: { type: 'string' },
    queries: { type: 'string' },
    scaling: { type: 'string' },
    engines: { type: 'string' },
    pg: { type: 'string' },
  },
  async (ctx) => {
    const { report, quick, values } = ctx;
    const rows = intFlag(values, 'rows', quick ? QUICK_ROWS : DEFAULT_ROWS);
    const queries = intFlag(values, 'queries', quick ? 40 : 300);
    const engines = String(values.engines ?? 'sqlite').split(',');
    const sizes = [
      ...String(values.scaling ?? (quick ? '' : DEFAULT_SCALING))
        .split(',')
        .filter(Boolean)
        .map((s) => intFlag({ v: s }, 'v', 0)),
      rows,
    ];
    if (engines.includes('sqlite')) {
      for (const size of sizes) {
        report.progress(`data set of ${size.toLocaleString('en-US')} passages`);
        report.add(...(await onSqlite(ctx, size, queries, size === rows)));
      }
    }
    if (engines.includes('postgres')) report.add(...(await onPostgres(ctx, rows, queries)));
  },
);
