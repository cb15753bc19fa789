/**
 * Statistics: `statsSummary` and `statsHourly` (what `GET /stats/summary` and `/stats/hourly` run)
 * for one compound over 30 days of N stored passages (default as bench/contacts.ts), beside the
 * previous way — every hourly rollup row read into JS and folded there (`hourlyRows` +
 * `summarize`) — and beside the peer that reads no rollups: the same counts by a GROUP BY over the
 * raw events (what the rollups save).
 *
 *   node --import tsx bench/stats.ts [--quick] [--rows 3m] [--queries 200]
 */
import { SqliteAnalyticsStore } from '../cloud/analytics/analytics-store.ts';
import { statsHourly, statsSummary } from '../cloud/analytics/statistics.ts';
import { summarize } from '../cloud/analytics/summary.ts';
import { SqliteCloudStore } from '../cloud/store/sqlite-store.ts';
import { DEFAULT_ROWS, QUICK_ROWS } from './lib/dataset-size.ts';
import { intFlag, runBench } from './lib/cli.ts';
import { DATASET, daysBeforeEnd, openDataset } from './lib/passage-dataset.ts';
import { formatNumber, latencyFigures } from './lib/report.ts';
import { Samples } from './lib/samples.ts';

const USAGE = `bench stats [--quick] [--rows N] [--queries N] [--cache-dir DIR] [--json FILE]
  30-day summary and hourly statistics of one compound over N stored passages.`;

const TARGET_P99_MS = 20;

await runBench(
  'stats',
  USAGE,
  { rows: { type: 'string' }, queries: { type: 'string' } },
  async ({ report, quick, values, cacheDir }) => {
    const rows = intFlag(values, 'rows', quick ? QUICK_ROWS : DEFAULT_ROWS);
    const queries = intFlag(values, 'queries', quick ? 30 : 200);
    const dataset = await openDataset({ cacheDir: await cacheDir(), rows, progress: (t) => report.progress(t) });
    if (dataset.generatedInS > 0) {
      report.add({
        name: 'generate data set (insertEvents + rollups)',
        value: dataset.generatedInS,
        unit: 's',
        note: `${formatNumber(dataset.insertRate ?? 0)} rows/s`,
      });
    }
    const store = new SqliteCloudStore({ path: dataset.path });
    const analytics = new SqliteAnalyticsStore(store.db);
    analytics.start();
    const deps = { analytics, registry: store, now: () => DATASET.endMs };
    const from = daysBeforeEnd(30);
    const to = DATASET.endMs;
    const compounds = dataset.compoundIds;
    const label = `[${formatNumber(dataset.rows)} rows, 1 compound, 30 d]`;

    const measure = async (fn: (compoundId: string) => Promise<unknown>): Promise<Samples> => {
      for (const c of compounds.slice(0, 3)) await fn(c);
      const samples = new Samples();
      for (let i = 0; i < queries; i++) {
        const compoundId = compounds[i % compounds.length]!;
        const start = process.hrtime.bigint();
        await fn(compoundId);
        samples.addNs(process.hrtime.bigint() - start);
      }
      return samples;
    };
    const summary = await measure((c) => statsSummary(deps, c, from, to));
    report.add(...latencyFigures(`${label} statsSummary`, summary.distribution(), { p99: TARGET_P99_MS }));
    const hourly = await measure((c) => statsHourly(deps, c, from, to));
    report.add(...latencyFigures(`${label} statsHourly`, hourly.distribution(), { p99: TARGET_P99_MS }));

    const folded = await measure(async (c) =>
      summarize({ rows: await analytics.hourlyRows(c, from, to), uniquePersonsPerDay: [], netBefore: 0 }),
    );
    const fd = folded.distribution();
    report.add(
      { name: 'before: hourly rows folded in JS (hourlyRows + summarize) p50', value: fd.p50, unit: 'ms' },
      { name: 'before: hourly rows folded in JS (hourlyRows + summarize) p99', value: fd.p99, unit: 'ms' },
    );
    const rollupRows = (await analytics.hourlyRows(compounds[0]!, from, to)).length;
    const dailyRows = (
      store.db
        .prepare('SELECT COUNT(*) AS n FROM stats_daily_compound WHERE compound_id = ? AND day >= ?')
        .get(compounds[0], new Date(from).toISOString().slice(0, 10)) as { n: number }
    ).n;
    report.note(`one compound's 30 days are ${rollupRows} hourly rollup rows, ≈ ${dailyRows} daily ones`);

    // Peer: the same counts straight from the events (no rollups), on the compound/ts index.
    const raw = store.db.prepare(`SELECT gate_id, direction, method, result, reason, passed, COUNT(*) AS n
      FROM events WHERE compound_id = ? AND ts >= ? AND ts < ? GROUP BY 1, 2, 3, 4, 5, 6`);
    const peerQueries = Math.max(3, Math.floor(queries / 20));
    const peer = new Samples();
    for (let i = 0; i < peerQueries; i++) {
      const start = process.hrtime.bigint();
      raw.all(compounds[i % compounds.length], from, to);
      peer.addNs(process.hrtime.bigint() - start);
    }
    const pd = peer.distribution();
    report.add(
      { name: 'peer: GROUP BY over raw events p50', value: pd.p50, unit: 'ms', note: `n=${pd.count}` },
      { name: 'peer: GROUP BY over raw events max', value: pd.max, unit: 'ms' },
    );
    await store.close();
  },
);
