/**
 * Ingest scaled out (`bench ingest --scale-out`): the same gates and messages as bench/ingest.ts,
 * through Mosquitto (generated accounts) into 1, then 2 `anxin cloud` processes on one PostgreSQL
 * in one shared-subscription group (`--mqtt-share-group`), each run on a fresh database. Done =
 * every gate's cumulative ack covers its last seq (whichever instance sent it); then the rows are
 * counted (0 lost, 0 duplicated). Side by side with the ratio 2 ÷ 1 (target ≥ 1.6).
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import pg from 'pg';
import { mosquittoAccounts } from '../../broker/mosquitto-config.ts';
import { PostgresCloudStore } from '../../cloud/store/postgres/postgres-store.ts';
import type { SigningKey } from '../../shared/keys.ts';
import { type IngestCounters, scrapeIngestCounters } from './cloud-scrape.ts';
import { signToken } from '../../shared/token.ts';
import type { BenchContext } from './cli.ts';
import { GateSwarm, type PreparedMessage } from './gate-swarm.ts';
import { plan, personsByCompound, registerDeployment } from './ingest-plan.ts';
import { benchDatabase } from './pg-dataset.ts';
import { describeWaits, PgWaitSampler, type WaitReport } from './pg-waits.ts';
import type { SyntheticPerson } from './population.ts';
import { type CpuGroup, CpuMeter, type CpuReport, describeCpu, parentOf, withChildren } from './process-cpu.ts';
import { type RunningProcess, startAnxinCloud, startAuthMosquitto } from './processes.ts';
import { type Figure, formatNumber } from './report.ts';

const TARGET_SCALE = 1.6;
const BATCH = 500;
const LIVE_WINDOW = 16;
const DRAIN_WINDOW = 4;
const PHASE_TIMEOUT_MS = 300_000;
const GROUP = 'bench';
const POOL = 10;

type Ctx = BenchContext<Record<string, string | boolean | undefined>>;

export interface ScaleOutOptions {
  gateIds: string[];
  compoundOf: (gateId: string) => string;
  population: readonly SyntheticPerson[];
  signing: SigningKey;
  keysPath: string;
  livePerGate: number;
  batchesPerGate: number;
  instances: readonly number[];
  /** How the gates are spread over compounds, for the figures' names ("20 compounds", "one compound"). */
  layout: string;
  /** An existing PostgreSQL server (a database per run is created on it); default a throwaway cluster. */
  pgUrl?: string;
}

interface RunResult {
  instances: number;
  layout: string;
  live: number;
  drain: number;
  lost: number;
  duplicated: number;
  note: string;
  /** Where the CPU and the cloud's database connections went in each phase, and how many commits it took. */
  explained: Record<'live' | 'drain', Explained>;
}

interface Explained {
  cpu: CpuReport;
  waits: WaitReport;
  commits: { commits: number; passages: number; acks: number };
}

const loadNow = () => loadavg()[0]!.toFixed(1);

/** The PostgreSQL server's processes when it runs on this machine (the sampler's backend is one of them). */
function postgresPids(backendPid: number): () => number[] {
  let comm = '';
  try {
    comm = readFileSync(`/proc/${backendPid}/comm`, 'utf8').trim();
  } catch {}
  const postmaster = comm === 'postgres' ? parentOf(backendPid) : undefined;
  return postmaster === undefined ? () => [] : () => withChildren(postmaster);
}

/** Every instance's ingest counters, summed. */
async function countersOf(clouds: readonly RunningProcess[]): Promise<IngestCounters> {
  const all = await Promise.all(clouds.map((cloud) => scrapeIngestCounters(cloud.url)));
  return all.reduce((sum, c) => ({
    commits: sum.commits + c.commits,
    passages: sum.passages + c.passages,
    acks: sum.acks + c.acks,
  }));
}

/**
 * Runs one phase with the CPU of every process, the cloud's database waits and the instances'
 * commits (how many passages shared one) measured beside it.
 */
async function explained<T>(
  meter: CpuMeter,
  sampler: PgWaitSampler,
  clouds: readonly RunningProcess[],
  phase: () => Promise<T>,
): Promise<{ result: T } & Explained> {
  const before = await countersOf(clouds);
  meter.start();
  sampler.start();
  const result = await phase();
  const waits = sampler.stop();
  const cpu = meter.stop();
  const after = await countersOf(clouds);
  const commits = {
    commits: after.commits - before.commits,
    passages: after.passages - before.passages,
    acks: after.acks - before.acks,
  };
  return { result, cpu, waits, commits };
}

/**
 * What a passage cost the bench's own processes (the instances, PostgreSQL, Mosquitto, the
 * swarm: not the other users of a shared machine), in µs of CPU, and how many passages a commit
 * carried: `CPU per passage: 131 µs (instance 1 48.1, postgres 41.0, …); 1,204 commits of 9.1
 * passages, 0.25 acks per passage`.
 */
function describePerPassage(x: Explained, passagesPerSecond: number): string {
  const us = (cores: number) => (cores * 1e6) / passagesPerSecond;
  const ours = x.cpu.groups.reduce((sum, g) => sum + g.cores, 0);
  const parts = x.cpu.groups.map((g) => `${g.name} ${formatNumber(us(g.cores))}`).join(', ');
  const { commits, passages, acks } = x.commits;
  const per = (n: number) => formatNumber(n / Math.max(1, passages));
  return `CPU per passage: ${formatNumber(us(ours))} µs (${parts}); ${formatNumber(commits)} commits of ${formatNumber(passages / Math.max(1, commits))} passages, ${per(acks)} acks per passage`;
}

/** A fresh database on the server of `serverUrl`, and its URL. */
async function freshDatabase(serverUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function countStored(url: string): Promise<{ gate_id: string; n: number }[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('SELECT gate_id, COUNT(*)::int AS n FROM events GROUP BY gate_id')).rows;
  } finally {
    await client.end();
  }
}

/** One phase measured (`explained`), its rate and what explains it reported as progress. */
async function measuredPhase(
  ctx: Ctx,
  what: string,
  on: { meter: CpuMeter; sampler: PgWaitSampler; clouds: readonly RunningProcess[] },
  send: () => ReturnType<GateSwarm['send']>,
): Promise<Explained & { result: Awaited<ReturnType<GateSwarm['send']>>; rate: number }> {
  const x = await explained(on.meter, on.sampler, on.clouds, send);
  const rate = x.result.ackedEvents / x.result.seconds;
  ctx.report.progress(`${what}: ${formatNumber(rate)}/s (load ${loadNow()})`);
  ctx.report.progress(`  ${describeCpu(x.cpu)}; ${describeWaits(x.waits)}`);
  ctx.report.progress(`  ${describePerPassage(x, rate)}`);
  return { ...x, rate };
}

async function runWith(
  ctx: Ctx,
  options: ScaleOutOptions,
  n: number,
  broker: RunningProcess,
  tokenOf: (user: string) => string,
  serverUrl: string,
): Promise<RunResult> {
  const url = await freshDatabase(serverUrl, `bench_ingest_${n}`);
  const seed = await PostgresCloudStore.open({ url, max: 2 });
  await registerDeployment(seed, options.gateIds, options.compoundOf, options.population);
  await seed.close();
  const clouds: RunningProcess[] = [];
  for (let i = 1; i <= n; i++) {
    clouds.push(
      await startAnxinCloud(ctx, {
        db: url,
        mqttUrl: broker.url,
        keysPath: options.keysPath,
        mqttLogin: { clientId: `cloud-${i}`, token: tokenOf(`cloud-${i}`) },
        extraArgs: ['--mqtt-share-group', GROUP, '--db-pool', String(POOL)],
      }),
    );
  }
  const swarm = await GateSwarm.connect(
    broker.url,
    options.gateIds.map((gateId) => ({ gateId, token: tokenOf(gateId) })),
  );
  const seqs = new Map<string, number>();
  const personsOf = personsByCompound(options.population, options.compoundOf);
  const live = plan(options.gateIds, options.livePerGate, 1, seqs, personsOf);
  const drain = plan(options.gateIds, options.batchesPerGate, BATCH, seqs, personsOf);
  const what = `postgres, ${options.layout}, × ${n}`;
  ctx.report.progress(`${what}: ${swarm.size} gates connected`);
  const sampler = await PgWaitSampler.open(url);
  const groups: CpuGroup[] = [
    ...clouds.map((cloud, i) => ({ name: `instance ${i + 1}`, pids: () => [cloud.pid] })),
    { name: 'postgres', pids: postgresPids(sampler.backendPid) },
    { name: 'mosquitto', pids: () => [broker.pid] },
    { name: 'bench (swarm)', pids: () => [process.pid] },
  ];
  const meter = new CpuMeter(groups);
  const phase = (name: string, messages: PreparedMessage[][], window: number) =>
    measuredPhase(ctx, `${what} ${name}`, { meter, sampler, clouds }, () =>
      swarm.send(messages, { window, until: 'ack', timeoutMs: PHASE_TIMEOUT_MS }),
    );
  const liveX = await phase('live', live, LIVE_WINDOW);
  const drainX = await phase('drain', drain, DRAIN_WINDOW);
  const [liveRun, drainRun] = [liveX.result, drainX.result];
  await sampler.close();
  await swarm.close();
  for (const cloud of clouds) await cloud.stop();
  const perGate = await countStored(url);
  const stored = perGate.reduce((sum, g) => sum + g.n, 0);
  const sent = liveRun.events + drainRun.events;
  // Per gate and in total are two views of one deficit: the larger, not their sum.
  const lost = Math.max(
    perGate.reduce((sum, g) => sum + Math.max(0, seqs.get(g.gate_id)! - g.n), 0),
    Math.max(0, sent - stored),
  );
  return {
    instances: n,
    layout: options.layout,
    // Acked in time: a phase that timed out counts what the cloud acknowledged, not what was sent.
    live: liveX.rate,
    drain: drainX.rate,
    lost,
    duplicated: Math.max(0, stored - sent),
    explained: { live: liveX, drain: drainX },
    note: `${liveRun.ackedEvents} + ${drainRun.ackedEvents} of ${liveRun.events} + ${drainRun.events} events acked; unfinished gates ${liveRun.unfinished + drainRun.unfinished}; load ${loadNow()} at the end`,
  };
}

function figuresOf(results: readonly RunResult[]): Figure[] {
  const figures: Figure[] = [];
  for (const r of results) {
    const tag = `[postgres, ${r.layout}, ${r.instances} instance${r.instances > 1 ? 's' : ''}, mosquitto]`;
    figures.push(
      { name: `${tag} live, 1 passage/msg`, value: r.live, unit: 'events/s', note: `window ${LIVE_WINDOW}/gate` },
      { name: `${tag} drain, ${BATCH} passages/msg`, value: r.drain, unit: 'events/s', note: r.note },
      { name: `${tag} lost / duplicated`, value: r.lost + r.duplicated, unit: 'events', target: 0, goal: 'max' },
    );
    for (const phase of ['live', 'drain'] as const) {
      const x = r.explained[phase];
      const ours = x.cpu.groups.reduce((sum, g) => sum + g.cores, 0);
      figures.push(
        {
          name: `${tag} ${phase}: machine CPU busy`,
          value: x.cpu.machine,
          unit: 'cores',
          note: `${describeCpu(x.cpu)}; ${describeWaits(x.waits)}`,
        },
        {
          name: `${tag} ${phase}: CPU per passage (instances, postgres, mosquitto, swarm)`,
          value: (ours * 1e6) / r[phase],
          unit: 'µs',
          note: describePerPassage(x, r[phase]),
        },
      );
    }
  }
  const one = results.find((r) => r.instances === 1);
  for (const r of results.filter((x) => x.instances > 1)) {
    if (!one) break;
    for (const phase of ['live', 'drain'] as const) {
      figures.push({
        name: `[postgres, ${r.layout}] ${r.instances} ÷ 1 instances, ${phase}`,
        value: r[phase] / one[phase],
        unit: '×',
        ...(r.instances === 2 ? { target: TARGET_SCALE, goal: 'min' as const } : {}),
        note: `${formatNumber(r[phase])} vs ${formatNumber(one[phase])} events/s`,
      });
    }
  }
  return figures;
}

export async function measureScaleOut(ctx: Ctx, options: ScaleOutOptions): Promise<Figure[]> {
  const serverUrl = await benchDatabase(ctx, options.pgUrl);
  const exp = Date.now() + 86_400_000;
  const accounts = mosquittoAccounts(
    {
      gates: options.gateIds.map((id) => ({ id, compound: options.compoundOf(id) })),
      clouds: Array.from({ length: Math.max(...options.instances) }, (_, i) => `cloud-${i + 1}`),
    },
    (claims) => signToken({ ...claims, exp }, options.signing),
  );
  const tokenOf = (user: string) => accounts.find((a) => a.username === user)!.password;
  const broker = await startAuthMosquitto(ctx, accounts);
  const results: RunResult[] = [];
  for (const n of options.instances) results.push(await runWith(ctx, options, n, broker, tokenOf, serverUrl));
  await broker.stop();
  ctx.report.note(
    `scale-out: every instance with --mqtt-share-group ${GROUP} --db-pool ${POOL}, one PostgreSQL (a fresh database per run), Mosquitto with generated accounts; all on this machine's 2 cores`,
  );
  return figuresOf(results);
}
