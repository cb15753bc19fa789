/**
 * Contacts query: `traceContacts` (what `GET /trace/contacts/:personId` runs) over N stored
 * passages (default 3 M, `--rows 10m` for the issue's size; 30 days, 200 gates, 100 k persons), for
 * a 14-day window and ±15 min, beside its floor — the reads alone (`personPassages` and one
 * `gateScans` of every merged window), with no ranking, names or household lookup.
 * With `--scaling 1m,3m` it first runs the same queries on smaller data sets (SQLite).
 * With `--engines sqlite,postgres` the same data set and the same queries run on the PostgreSQL
 * store too (bench/lib/pg-dataset.ts: `--pg URL`, or a throwaway cluster; loaded by COPY), side by
 * side in one table with each engine's load, and the two engines' answers compared (a digest of
 * every trace's contacts). `--explain` prints PostgreSQL's plan of one trace's `gateScans`;
 * `--with-stats` measures the statistics too (bench/lib/stats-measure.ts), on the same data sets in
 * the same run: the issue's "contacts and stats at 10 M rows" on both engines in one command.
 *
 *   node --import tsx bench/contacts.ts [--quick] [--rows 3m] [--queries 300] [--scaling 1m] [--engines sqlite,postgres]
 *     [--with-stats] [--pg URL] [--explain]
 */
import { createHash } from 'node:crypto';
import type { AnalyticsStore } from '../cloud/analytics/analytics-store.ts';
import { SqliteAnalyticsStore } from '../cloud/analytics/analytics-store.ts';
import { scanRangesOf } from '../cloud/analytics/contacts.ts';
import { openAnalyticsStore } from '../cloud/analytics/open-analytics.ts';
import { isTraceable } from '../cloud/analytics/passage.ts';
import { type TraceDeps, traceContacts } from '../cloud/analytics/tracing.ts';
import { GATE_SCANS_SQL, gateScansParams } from '../cloud/store/postgres/pg-trace-reads.ts';
import { SqliteCloudStore } from '../cloud/store/sqlite-store.ts';
import { type BenchContext, intFlag, runBench } from './lib/cli.ts';
import { DEFAULT_ROWS, DEFAULT_SCALING, QUICK_ROWS } from './lib/dataset-size.ts';
import { DATASET, DATASET_PEPPER, datasetIds, daysBeforeEnd, openDataset } from './lib/passage-dataset.ts';
import { benchDatabase, type PgDataset, openPgDataset } from './lib/pg-dataset.ts';
import { generatePopulation, type Population } from './lib/population.ts';
import { randomInt, seededRandom } from './lib/prng.ts';
import { type Figure, formatNumber, latencyFigures } from './lib/report.ts';
import { type Distribution, Samples } from './lib/samples.ts';
import { LoadSpan, sideBySide } from './lib/side-by-side.ts';
import { compareStats, measureStats, rawGroupBySql, type StatsRun } from './lib/stats-measure.ts';

const USAGE = `bench contacts [--quick] [--rows N] [--queries N] [--scaling 1m,3m] [--engines sqlite,postgres] [--pg URL]
                [--explain] [--with-stats] [--stats-queries N] [--cache-dir DIR] [--json FILE]
  14-day ±15 min contact traces over N stored passages (default 3m; --quick 300k); --with-stats also
  measures the statistics (bench/stats.ts) on the same data sets in the same run.`;

const TARGET_P99_MS = 50;
type Ctx = BenchContext<Record<string, string | boolean | undefined>>;

interface ContactsRun {
  figures: Figure[];
  full: Distribution;
  floor: Distribution;
  contactsPerQuery: number;
  scannedPerQuery: number;
  /** sha256 of every trace's ranked contacts: equal on both engines when they answer alike. */
  digest: string;
  load: LoadSpan;
  /** With `--with-stats`: the statistics on the same data set (bench/lib/stats-measure.ts). */
  stats?: StatsRun;
}

const withStats = (ctx: Ctx) => ctx.values['with-stats'] === true;
const statsQueries = (ctx: Ctx) => intFlag(ctx.values, 'stats-queries', ctx.quick ? 30 : 200);

const WINDOW = { from: daysBeforeEnd(14), to: DATASET.endMs, windowMin: 15, depth: 1, includeDenied: false } as const;

/** The `queries` seeded persons every engine traces. */
function peopleOf(population: Population, queries: number): string[] {
  const random = seededRandom(99);
  return Array.from(
    { length: queries },
    () => population.persons[randomInt(random, population.persons.length)]!.record.personId,
  );
}

/** The reads alone of one trace: the person's passages, then every merged window in one `gateScans`. */
async function floorReads(analytics: AnalyticsStore, personId: string): Promise<number> {
  const index = (await analytics.personPassages(personId, WINDOW.from, WINDOW.to)).filter((p) => isTraceable(p, false));
  const ranges = scanRangesOf(index, WINDOW.windowMin * 60_000);
  return ranges.length === 0 ? 0 : (await analytics.gateScans(ranges)).length;
}

/** The traces of the seeded persons, and the floor; p99 targeted on the main size. */
async function measureContacts(deps: TraceDeps, people: readonly string[], label: string, isMain: boolean) {
  const load = new LoadSpan();
  // Warm-up: the first reads fault the index pages in from the page cache.
  for (const personId of people.slice(0, Math.min(10, people.length))) await traceContacts(deps, personId, WINDOW);
  const full = new Samples();
  const floor = new Samples();
  const hash = createHash('sha256');
  let contacts = 0;
  let scanned = 0;
  for (const personId of people) {
    let start = process.hrtime.bigint();
    const result = await traceContacts(deps, personId, WINDOW);
    full.addNs(process.hrtime.bigint() - start);
    contacts += result.contacts.length;
    for (const c of result.contacts) hash.update(`${personId}>${c.personId}:${c.rank}:${c.sharedPassages.length};`);
    start = process.hrtime.bigint();
    scanned += await floorReads(deps.analytics, personId);
    floor.addNs(process.hrtime.bigint() - start);
  }
  load.end();
  const fd = full.distribution();
  const fl = floor.distribution();
  const run: ContactsRun = {
    full: fd,
    floor: fl,
    contactsPerQuery: contacts / people.length,
    scannedPerQuery: scanned / people.length,
    digest: hash.digest('hex').slice(0, 16),
    load,
    figures: [
      ...(isMain
        ? latencyFigures(`${label} traceContacts 14 d ±15 min`, fd, { p99: TARGET_P99_MS }, `load ${load}`)
        : [{ name: `${label} traceContacts 14 d ±15 min p99`, value: fd.p99, unit: 'ms' }]),
      { name: `${label} floor: personPassages + gateScans p50`, value: fl.p50, unit: 'ms' },
      { name: `${label} floor: personPassages + gateScans p99`, value: fl.p99, unit: 'ms' },
    ],
  };
  run.figures.push({
    name: `${label} contacts found per query`,
    value: run.contactsPerQuery,
    unit: 'contacts',
    note: `${Math.round(run.scannedPerQuery)} rows scanned; answers digest ${run.digest}`,
  });
  return run;
}

async function onSqlite(ctx: Ctx, size: number, people: readonly string[], isMain: boolean): Promise<ContactsRun> {
  const { report } = ctx;
  const dataset = await openDataset({
    cacheDir: await ctx.cacheDir(),
    rows: size,
    progress: (t) => report.progress(t),
  });
  const label = `[sqlite ${formatNumber(size)}]`;
  if (dataset.generatedInS > 0) {
    report.add({
      name: `${label} generate data set (insertEvents + rollups)`,
      value: dataset.generatedInS,
      unit: 's',
      note: `${formatNumber(dataset.insertRate ?? 0)} rows/s through SqliteCloudStore.insertEvents`,
    });
  }
  const store = new SqliteCloudStore({ path: dataset.path });
  const analytics = new SqliteAnalyticsStore(store.db);
  analytics.start();
  const run = await measureContacts({ analytics, registry: store }, people, label, isMain);
  report.add(...run.figures);
  if (isMain && withStats(ctx)) {
    const raw = store.db.prepare(rawGroupBySql('sqlite'));
    const target = { analytics, registry: store, compoundIds: dataset.compoundIds };
    run.stats = await measureStats(
      { ...target, rawGroupBy: async (c, f, t) => raw.all(c, f, t) },
      statsQueries(ctx),
      label,
    );
    report.add(...run.stats.figures);
  }
  await store.close();
  return run;
}

/** The load's phases as figures (only when this run loaded the data). */
function loadFigures(label: string, dataset: PgDataset): Figure[] {
  const p = dataset.phases;
  if (!p) return [];
  const rate = dataset.rows / (p.copyS + p.indexS + p.analyzeS);
  return [
    {
      name: `${label} load data set (registry, COPY, indexes, VACUUM ANALYZE, rollups)`,
      value: dataset.generatedInS,
      unit: 's',
      note: `${formatNumber(rate)} passages/s for COPY + indexes + analyze`,
    },
    { name: `${label}   COPY (generating the rows too)`, value: p.copyS, unit: 's' },
    { name: `${label}   attach months (index builds) + acks`, value: p.indexS, unit: 's' },
    { name: `${label}   VACUUM (ANALYZE)`, value: p.analyzeS, unit: 's' },
    { name: `${label}   statistics rollups: the one-time fill from events`, value: p.rollupsS, unit: 's' },
  ];
}

async function explainOneTrace(dataset: PgDataset, analytics: AnalyticsStore, personId: string) {
  const index = (await analytics.personPassages(personId, WINDOW.from, WINDOW.to)).filter((p) => isTraceable(p, false));
  const ranges = scanRangesOf(index, WINDOW.windowMin * 60_000);
  const { rows } = await dataset.store.pool.query(
    `EXPLAIN (ANALYZE, BUFFERS) ${GATE_SCANS_SQL}`,
    gateScansParams(ranges) as unknown[],
  );
  const plan = rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
  console.log(`\nEXPLAIN (ANALYZE, BUFFERS) gateScans, ${ranges.length} ranges of ${personId}:\n${plan}\n`);
}

async function onPostgres(ctx: Ctx, size: number, people: readonly string[]): Promise<ContactsRun> {
  const { report } = ctx;
  const url = await benchDatabase(ctx, typeof ctx.values.pg === 'string' ? ctx.values.pg : undefined);
  const dataset = await openPgDataset({ url, rows: size, progress: (t) => report.progress(`postgres ${t}`) });
  const label = `[postgres ${formatNumber(size)}]`;
  report.add(...loadFigures(label, dataset));
  const analytics = openAnalyticsStore(dataset.store.engine);
  if (ctx.values.explain === true) await explainOneTrace(dataset, analytics, people[0]!);
  const run = await measureContacts({ analytics, registry: dataset.store }, people, label, true);
  report.add(...run.figures);
  if (withStats(ctx)) {
    const sql = rawGroupBySql('postgres');
    const target = { analytics, registry: dataset.store, compoundIds: dataset.compoundIds };
    const rawGroupBy = (c: string, f: number, t: number) => dataset.store.pool.query(sql, [c, f, t]);
    run.stats = await measureStats({ ...target, rawGroupBy }, statsQueries(ctx), label);
    report.add(...run.stats.figures);
  }
  await dataset.store.close();
  return run;
}

/** Both engines at the main size: one table, and whether they found the same contacts. */
function compare(ctx: Ctx, rows: number, sqlite?: ContactsRun, postgres?: ContactsRun): void {
  if (!sqlite || !postgres) return;
  const pair = (name: string, unit: string, of: (r: ContactsRun) => number, target?: number) => ({
    name,
    unit,
    sqlite: of(sqlite),
    postgres: of(postgres),
    ...(target ? { target } : {}),
  });
  ctx.report.note(
    sideBySide(
      `contacts, ${formatNumber(rows)} passages, 14 d ±15 min, n = ${sqlite.full.count}`,
      [
        pair('traceContacts p50', 'ms', (r) => r.full.p50),
        pair('traceContacts p95', 'ms', (r) => r.full.p95),
        pair('traceContacts p99', 'ms', (r) => r.full.p99, TARGET_P99_MS),
        pair('traceContacts max', 'ms', (r) => r.full.max),
        pair('floor (reads alone) p50', 'ms', (r) => r.floor.p50),
        pair('floor (reads alone) p99', 'ms', (r) => r.floor.p99),
        pair('contacts found per trace', '', (r) => r.contactsPerQuery),
        pair('rows scanned per trace', '', (r) => r.scannedPerQuery),
      ],
      { sqlite: sqlite.load, postgres: postgres.load },
    ),
  );
  const same = sqlite.digest === postgres.digest;
  ctx.report.note(
    same
      ? `the same contacts on both engines (digest ${sqlite.digest} of every trace's ranked contacts)`
      : `DIFFERENT CONTACTS: SQLite digest ${sqlite.digest}, PostgreSQL ${postgres.digest}`,
  );
  if (!same) throw new Error('the engines answered differently: see test/cloud/store/differential.integration.test.ts');
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
    explain: { type: 'boolean', default: false },
    'with-stats': { type: 'boolean', default: false },
    'stats-queries': { type: 'string' },
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
    // The same seeded persons on every size and engine (the population does not depend on the size).
    const people = peopleOf(
      generatePopulation({ count: DATASET.persons, pepper: DATASET_PEPPER, compounds: datasetIds().compoundIds }),
      queries,
    );
    let sqlite: ContactsRun | undefined;
    let postgres: ContactsRun | undefined;
    if (engines.includes('sqlite')) {
      for (const size of sizes) {
        report.progress(`data set of ${size.toLocaleString('en-US')} passages`);
        const run = await onSqlite(ctx, size, people, size === rows);
        if (size === rows) sqlite = run;
      }
    }
    if (engines.includes('postgres')) postgres = await onPostgres(ctx, rows, people);
    compare(ctx, rows, sqlite, postgres);
    if (withStats(ctx)) {
      const title = `statistics, ${formatNumber(rows)} passages, 1 compound, 30 d, n = ${statsQueries(ctx)}`;
      compareStats(title, { sqlite: sqlite?.stats, postgres: postgres?.stats }, (t) => report.note(t));
    }
  },
);
