/**
 * Heavy work must not block the cloud (docs/security.md, "Heavy work"): `GET /healthz` answered
 * every 10 ms by one client while the cloud (`anxin cloud`, its own process) is idle, while it
 * imports a 50 k-row resident CSV, and while 20 managers search names in parallel (a name nobody
 * has: a full look through the compound's 50 k residents each). Target: /healthz p99 ≤ 100 ms
 * under each load, printed beside the idle p99 of the same run.
 *
 *   node --import tsx bench/responsiveness.ts [--quick] [--rows 50k] [--searchers 20] [--rounds 5]
 */
import { generatePopulation } from './lib/population.ts';
import { intFlag, runBench } from './lib/cli.ts';
import { startDeployment } from './lib/deployment.ts';
import { ANXIN_RUNS } from './lib/processes.ts';
import { latencyFigures } from './lib/report.ts';
import { elapsedMs, Samples, sleep } from './lib/samples.ts';

const USAGE = `Usage: node --import tsx bench/responsiveness.ts [--quick] [--rows N] [--searchers N] [--rounds N]
  --rows N       residents in the imported CSV (default 50k; --quick 5k)
  --searchers N  managers searching at once (default 20)
  --rounds N     parallel search rounds (default 5; each manager's search bucket allows 10 at once)`;

const TARGET = { p99: 100 };
const COMPOUND = 'c-1';

/** The CSV a registry office would upload: name, ID number, household, kind, phone, elderly, compound. */
function residentCsv(rows: number, pepper: Buffer): string {
  const population = generatePopulation({ count: rows, pepper, compounds: [COMPOUND], seed: 7 });
  return [
    'name,idNumber,householdId,kind,phone,elderly,compoundId',
    ...population.persons.map(
      (p, i) =>
        `${p.name},${p.idNumber},${p.record.householdId ?? ''},${p.record.kind},1380000${String(i % 10_000).padStart(4, '0')},${p.record.elderly},${COMPOUND}`,
    ),
  ].join('\n');
}

/** Polls /healthz back to back (10 ms apart) until stopped; each answer's latency is one sample. */
function sampleHealth(url: string): { stop(): Promise<Samples> } {
  const samples = new Samples();
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = process.hrtime.bigint();
      const res = await fetch(`${url}/healthz`);
      await res.arrayBuffer();
      samples.addMs(elapsedMs(started));
      await sleep(10);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}

await runBench(
  'responsiveness',
  USAGE,
  { rows: { type: 'string' }, searchers: { type: 'string' }, rounds: { type: 'string' } },
  async (ctx) => {
    const rows = intFlag(ctx.values, 'rows', ctx.quick ? 5_000 : 50_000);
    const searchers = intFlag(ctx.values, 'searchers', 20);
    const rounds = intFlag(ctx.values, 'rounds', ctx.quick ? 2 : 5);
    const d = await startDeployment(ctx, { gates: [{ gateId: 'g-1', compoundId: COMPOUND }], residents: [] });
    const url = d.cloud.url;
    ctx.report.note(`${ANXIN_RUNS}; ${rows} CSV rows, ${searchers} parallel searchers × ${rounds} rounds`);

    const csv = residentCsv(rows, d.keys.pepper);
    const admin = d.token('admin', 'admin');
    const managers = Array.from({ length: searchers }, (_, i) => d.token(`manager-${i}`, 'manager', COMPOUND));

    ctx.report.progress('idle');
    let sampler = sampleHealth(url);
    await sleep(ctx.quick ? 1_000 : 3_000);
    const idle = (await sampler.stop()).distribution();

    ctx.report.progress(`importing ${rows} rows (${(csv.length / 1e6).toFixed(1)} MB)`);
    sampler = sampleHealth(url);
    await sleep(50);
    const importStarted = process.hrtime.bigint();
    const res = await fetch(`${url}/api/v1/residents/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'text/csv; charset=utf-8' },
      body: csv,
    });
    const answer = (await res.json()) as { created?: number; updated?: number };
    const importMs = elapsedMs(importStarted);
    const duringImport = (await sampler.stop()).distribution();
    if (res.status !== 200 || answer.created === undefined) {
      throw new Error(`import answered ${res.status}: ${JSON.stringify(answer).slice(0, 300)}`);
    }

    ctx.report.progress(`${searchers} parallel searches × ${rounds}`);
    const searchLatency = new Samples();
    sampler = sampleHealth(url);
    await sleep(50);
    for (let round = 0; round < rounds; round++) {
      await Promise.all(
        managers.map(async (token, i) => {
          // A name nobody has: every resident of the compound is looked at.
          const q = new URLSearchParams({ q: `无此人${i}`, reason: 'bench' });
          const started = process.hrtime.bigint();
          const r = await fetch(`${url}/api/v1/trace/search?${q}`, { headers: { authorization: `Bearer ${token}` } });
          await r.arrayBuffer();
          if (r.status !== 200) throw new Error(`search answered ${r.status}`);
          searchLatency.addMs(elapsedMs(started));
        }),
      );
    }
    const duringSearch = (await sampler.stop()).distribution();

    ctx.report.add(
      ...latencyFigures('/healthz idle', idle),
      ...latencyFigures(
        `/healthz during a ${rows}-row CSV import`,
        duringImport,
        TARGET,
        `idle p99 ${idle.p99.toFixed(1)} ms`,
      ),
      {
        name: `CSV import of ${rows} rows (whole request)`,
        value: importMs / 1000,
        unit: 's',
        note: `created ${answer.created}`,
      },
      ...latencyFigures(
        `/healthz during ${searchers} parallel name searches`,
        duringSearch,
        TARGET,
        `idle p99 ${idle.p99.toFixed(1)} ms`,
      ),
      ...latencyFigures(
        `name search (${rows} residents, no match) under ${searchers} at once`,
        searchLatency.distribution(),
      ),
    );
  },
);
