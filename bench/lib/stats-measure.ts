/**
 * The statistics measurements of bench/stats.ts (and of `bench/contacts.ts --with-stats`, the same
 * run as the contacts), on either engine: `statsSummary` and `statsHourly` (what `GET
 * /stats/summary` and `/stats/hourly` run) for one compound over 30 days, from the rollups; the
 * previous way — every hourly rollup row read into JS and folded there (`hourlyRows` +
 * `summarize`); and the peer that reads no rollups, the same counts by a GROUP BY over the raw
 * events. A digest of every compound's summary and hourly series shows whether both engines
 * answered alike.
 */
import { createHash } from 'node:crypto';
import type { AnalyticsStore } from '../../cloud/analytics/analytics-store.ts';
import { type StatsRegistry, statsHourly, statsSummary } from '../../cloud/analytics/statistics.ts';
import { summarize } from '../../cloud/analytics/summary.ts';
import { DATASET, daysBeforeEnd } from './passage-dataset.ts';
import { type Figure, formatNumber, latencyFigures } from './report.ts';
import { type Distribution, Samples } from './samples.ts';
import { type Engine, LoadSpan, type PairedFigure, sideBySide } from './side-by-side.ts';

export const STATS_TARGET_P99_MS = 20;

/** The peer's query, the same on both engines but for the placeholders. */
export const RAW_GROUP_BY = `SELECT gate_id, direction, method, result, reason, passed, COUNT(*) AS n
  FROM events WHERE compound_id = ? AND ts >= ? AND ts < ? GROUP BY 1, 2, 3, 4, 5, 6`;

export interface StatsRun {
  summary: Distribution;
  hourly: Distribution;
  folded: Distribution;
  peer: Distribution;
  /** sha256 of every compound's 30-day summary and hourly series. */
  digest: string;
  load: LoadSpan;
  figures: Figure[];
}

export interface StatsTarget {
  analytics: AnalyticsStore;
  registry: StatsRegistry;
  compoundIds: readonly string[];
  /** The peer: the GROUP BY over raw events of one compound and window. */
  rawGroupBy(compoundId: string, from: number, to: number): Promise<unknown>;
}

async function measure(
  compounds: readonly string[],
  queries: number,
  fn: (compoundId: string) => Promise<unknown>,
): Promise<Distribution> {
  for (const c of compounds.slice(0, 3)) await fn(c);
  const samples = new Samples();
  for (let i = 0; i < queries; i++) {
    const compoundId = compounds[i % compounds.length]!;
    const start = process.hrtime.bigint();
    await fn(compoundId);
    samples.addNs(process.hrtime.bigint() - start);
  }
  return samples.distribution();
}

/** The statistics of one engine's data set; `label` prefixes the figures. */
export async function measureStats(target: StatsTarget, queries: number, label: string): Promise<StatsRun> {
  const { analytics, registry, compoundIds: compounds } = target;
  const load = new LoadSpan();
  const deps = { analytics, registry, now: () => DATASET.endMs };
  const from = daysBeforeEnd(30);
  const to = DATASET.endMs;
  const hash = createHash('sha256');
  for (const c of compounds) {
    hash.update(JSON.stringify([await statsSummary(deps, c, from, to), await statsHourly(deps, c, from, to)]));
  }
  const summary = await measure(compounds, queries, (c) => statsSummary(deps, c, from, to));
  const hourly = await measure(compounds, queries, (c) => statsHourly(deps, c, from, to));
  const folded = await measure(compounds, queries, async (c) =>
    summarize({ rows: await analytics.hourlyRows(c, from, to), uniquePersonsPerDay: [], netBefore: 0 }),
  );
  const peer = await measure(compounds, Math.max(3, Math.floor(queries / 20)), (c) => target.rawGroupBy(c, from, to));
  load.end();
  const rollupRows = (await analytics.hourlyRows(compounds[0]!, from, to)).length;
  const name = `${label} 1 compound, 30 d`;
  return {
    summary,
    hourly,
    folded,
    peer,
    digest: hash.digest('hex').slice(0, 16),
    load,
    figures: [
      ...latencyFigures(`${name} statsSummary`, summary, { p99: STATS_TARGET_P99_MS }, `load ${load}`),
      ...latencyFigures(`${name} statsHourly`, hourly, { p99: STATS_TARGET_P99_MS }),
      { name: `${label} before: hourly rows folded in JS (hourlyRows + summarize) p50`, value: folded.p50, unit: 'ms' },
      { name: `${label} before: hourly rows folded in JS (hourlyRows + summarize) p99`, value: folded.p99, unit: 'ms' },
      { name: `${label} peer: GROUP BY over raw events p50`, value: peer.p50, unit: 'ms', note: `n=${peer.count}` },
      {
        name: `${label} peer: GROUP BY over raw events max`,
        value: peer.max,
        unit: 'ms',
        note: `one compound's 30 days are ${formatNumber(rollupRows)} hourly rollup rows`,
      },
    ],
  };
}

/** Both engines' statistics in one table, and whether they answered alike (throws when not). */
export function compareStats(title: string, runs: Partial<Record<Engine, StatsRun>>, note: (text: string) => void) {
  const { sqlite, postgres } = runs;
  if (!sqlite || !postgres) return;
  const pair = (name: string, of: (r: StatsRun) => number, target?: number): PairedFigure => ({
    name,
    unit: 'ms',
    sqlite: of(sqlite),
    postgres: of(postgres),
    ...(target ? { target } : {}),
  });
  note(
    sideBySide(
      title,
      [
        pair('statsSummary p50', (r) => r.summary.p50),
        pair('statsSummary p99', (r) => r.summary.p99, STATS_TARGET_P99_MS),
        pair('statsHourly p50', (r) => r.hourly.p50),
        pair('statsHourly p99', (r) => r.hourly.p99, STATS_TARGET_P99_MS),
        pair('before: hourly rows folded in JS p99', (r) => r.folded.p99),
        pair('peer: GROUP BY over raw events p50', (r) => r.peer.p50),
      ],
      { sqlite: sqlite.load, postgres: postgres.load },
    ),
  );
  if (sqlite.digest !== postgres.digest) {
    note(`DIFFERENT STATISTICS: SQLite digest ${sqlite.digest}, PostgreSQL ${postgres.digest}`);
    throw new Error('the engines answered differently: see test/cloud/store/differential.integration.test.ts');
  }
  note(`the same statistics on both engines (digest ${sqlite.digest} of every compound's summary and hourly series)`);
}

/** The peer on SQLite (`?` placeholders as written) or PostgreSQL (`$n`). */
export function rawGroupBySql(engine: Engine): string {
  let n = 0;
  return engine === 'sqlite' ? RAW_GROUP_BY : RAW_GROUP_BY.replace(/\?/g, () => `$${++n}`);
}
