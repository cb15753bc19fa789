/**
 * Contacts query: `traceContacts` (what `GET /trace/contacts/:personId` runs) over N stored
 * passages (default 3 M, `--rows 10m` for the size; 30 days, 200 gates, 100 k persons), for a 14-day window and ±15 min,
 * beside its floor — the same index range scans (`gateScan`, what the service reads) with no
 * ranking, names or household lookup.
 * With `--scaling 1m,3m` it first runs the same queries on smaller data sets.
 *
 *   node --import tsx bench/contacts.ts [--quick] [--rows 3m] [--queries 300] [--scaling 1m]
 */
import { SqliteAnalyticsStore } from '../cloud/analytics/analytics-store.ts';
import { scanRangesOf } from '../cloud/analytics/contacts.ts';
import { isTraceable } from '../cloud/analytics/passage.ts';
import { traceContacts } from '../cloud/analytics/tracing.ts';
import { SqliteCloudStore } from '../cloud/store/sqlite-store.ts';
import { intFlag, runBench } from './lib/cli.ts';
import { DEFAULT_ROWS, DEFAULT_SCALING, QUICK_ROWS } from './lib/dataset-size.ts';
import { daysBeforeEnd, DATASET, openDataset } from './lib/passage-dataset.ts';
import { randomInt, seededRandom } from './lib/prng.ts';
import { formatNumber, latencyFigures } from './lib/report.ts';
import { Samples } from './lib/samples.ts';

const USAGE = `bench contacts [--quick] [--rows N] [--queries N] [--scaling 1m,3m] [--cache-dir DIR] [--json FILE]
  14-day ±15 min contact traces over N stored passages (default 3m; --quick 300k).`;

const TARGET_P99_MS = 50;

await runBench(
  'contacts',
  USAGE,
  { rows: { type: 'string' }, queries: { type: 'string' }, scaling: { type: 'string' } },
  async ({ report, quick, values, cacheDir }) => {
    const rows = intFlag(values, 'rows', quick ? QUICK_ROWS : DEFAULT_ROWS);
    const queries = intFlag(values, 'queries', quick ? 40 : 300);
    const sizes = [
      ...String(values.scaling ?? (quick ? '' : DEFAULT_SCALING))
        .split(',')
        .filter(Boolean)
        .map((s) => intFlag({ v: s }, 'v', 0)),
      rows,
    ];
    for (const size of sizes) {
      const isMain = size === rows;
      report.progress(`data set of ${size.toLocaleString('en-US')} passages`);
      const dataset = await openDataset({
        cacheDir: await cacheDir(),
        rows: size,
        progress: (t) => report.progress(t),
      });
      if (dataset.generatedInS > 0) {
        report.add({
          name: `[${formatNumber(size)}] generate data set (insertEvents + rollups)`,
          value: dataset.generatedInS,
          unit: 's',
          note: `${formatNumber(dataset.insertRate ?? 0)} rows/s through SqliteCloudStore.insertEvents`,
        });
      }
      const store = new SqliteCloudStore({ path: dataset.path });
      const analytics = new SqliteAnalyticsStore(store.db);
      analytics.start();
      const deps = { analytics, registry: store };
      const random = seededRandom(99);
      const from = daysBeforeEnd(14);
      const to = DATASET.endMs;
      const windowMs = 15 * 60_000;
      const people = Array.from(
        { length: queries },
        () => dataset.population.persons[randomInt(random, dataset.persons)]!.record.personId,
      );
      // Warm-up: the first reads fault the index pages in from the page cache.
      for (const personId of people.slice(0, Math.min(10, queries))) {
        await traceContacts(deps, personId, { from, to, windowMin: 15, depth: 1, includeDenied: false });
      }
      const full = new Samples();
      const floor = new Samples();
      let contacts = 0;
      let scanned = 0;
      let indexPassages = 0;
      for (const personId of people) {
        let start = process.hrtime.bigint();
        const result = await traceContacts(deps, personId, {
          from,
          to,
          windowMin: 15,
          depth: 1,
          includeDenied: false,
        });
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
      const label = `[${formatNumber(size)}]`;
      const fd = full.distribution();
      report.add(
        ...(isMain
          ? latencyFigures(`${label} traceContacts 14 d ±15 min`, fd, { p99: TARGET_P99_MS })
          : [{ name: `${label} traceContacts 14 d ±15 min p99`, value: fd.p99, unit: 'ms' }]),
      );
      const fl = floor.distribution();
      report.add(
        { name: `${label} floor: index range scans only p50`, value: fl.p50, unit: 'ms' },
        { name: `${label} floor: index range scans only p99`, value: fl.p99, unit: 'ms' },
        {
          name: `${label} contacts found per query`,
          value: contacts / queries,
          unit: 'contacts',
          note: `${(indexPassages / queries).toFixed(1)} index passages, ${Math.round(scanned / queries)} rows scanned`,
        },
      );
      await store.close();
    }
  },
);
