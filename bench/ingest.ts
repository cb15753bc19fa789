/**
 * Ingest: 200 simulated gates publish passages through a broker to `anxin cloud` (a separate
 * process, as deployed), which validates, stores (with the statistics rollups) and acks. Done =
 * the cloud's cumulative ack covers every seq; then the stored rows are counted (0 lost, 0
 * duplicated). Two phases: live (one passage per message) and drain (journal batches of 500).
 * Side by side: the embedded broker (`anxin broker`, aedes) and Mosquitto (dynamic-security accounts
 * made by the bench for its gates, its cloud and the raw subscriber); and the raw transport
 * ceiling — the same messages through the same broker to `mosquitto_sub > /dev/null`.
 *
 * First, the per-event cost inside the cloud without MQTT (bench/lib/store-insert.ts):
 * parsing, `insertEvents` with and without the rollup hook, optionally on a pre-filled table.
 *
 *   node --import tsx bench/ingest.ts [--quick] [--gates 200] [--live 250] [--batches 5]
 *   node --import tsx bench/ingest.ts --store-only [--store-events 200k] [--prefill 1m]
 *   node --import tsx bench/ingest.ts --brokers mosquitto --scale-out 1,2 --scale-layouts 10,200 [--pg URL]
 *     (bench/lib/pg-ingest.ts: PostgreSQL with 1 and 2 instances beside the SQLite run, per compound layout)
 */
import os from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { MOSQUITTO_MAX_INFLIGHT, mosquittoAccounts } from '../broker/mosquitto-config.ts';
import { SqliteCloudStore } from '../cloud/store/sqlite-store.ts';
import { createKeysFile, type KeysFile, parseKeysFile, type SigningKey } from '../shared/keys.ts';
import { signToken } from '../shared/token.ts';
import { type BenchContext, intFlag, runBench } from './lib/cli.ts';
import { describeCommits, scrapeIngestCounters } from './lib/cloud-scrape.ts';
import { describeCpuSplit, withCpuSplit } from './lib/cpu-split.ts';
import { GateSwarm, type PreparedMessage } from './lib/gate-swarm.ts';
import { rssOfPid } from './lib/machine.ts';
import { startAnxinBroker, startAnxinCloud, startAuthMosquitto, writeKeys } from './lib/processes.ts';
import { generatePopulation, type SyntheticPerson } from './lib/population.ts';
import { plan, personsByCompound, registerDeployment } from './lib/ingest-plan.ts';
import { measureScaleOut, type ScaleOutOptions } from './lib/pg-ingest.ts';
import { RAW_SUB_ID, type RawSubscriber, rawCeiling } from './lib/raw-ceiling.ts';
import { type Figure, formatNumber } from './lib/report.ts';
import { measureStoreInsert } from './lib/store-insert.ts';

const USAGE = `bench ingest [--quick] [--gates N] [--live N] [--batches N] [--brokers aedes,mosquitto|none] [--json FILE]
             [--store-only] [--store-events N] [--prefill N] [--scale-out 1,2 [--pg URL] [--scale-layouts 10,200]]
  N gates (default 200) publish --live one-passage messages each, then --batches batches of 500.
  Before that, insertEvents alone: --store-events passages (default 200k) on a table pre-filled
  with --prefill rows (default 0); --store-only stops after it. --scale-out 1,2: the same traffic
  through Mosquitto into 1, then 2 anxin cloud instances on one PostgreSQL (bench/lib/pg-ingest.ts),
  once per --scale-layouts entry: gates per compound (10: 20 compounds, the default; 200: one compound).`;

const TARGET_LIVE = 10_000;
const TARGET_DRAIN = 50_000;
/** Live ingest (one passage per message) against the raw transport through the same broker. */
const TARGET_LIVE_OF_RAW = 0.8;
const TARGET_CLOUD_RSS_MB = 400;
const BATCH = 500;
/** Messages in flight per gate: live as the gate's publisher, drain as its uplink's journal batches. */
const LIVE_WINDOW = 16;
const DRAIN_WINDOW = 4;
const GATES_PER_COMPOUND = 10;
/** Registered residents per compound: the persons the gates' passages are of. */
const RESIDENTS_PER_COMPOUND = 1_000;
const DAY_MS = 86_400_000;
const PHASE_TIMEOUT_MS = 240_000;
const CLOUD_CLIENT_ID = 'cloud';

type Ctx = BenchContext<Record<string, string | boolean | undefined>>;

/** `count` gates, ten per compound: g-0-0 … g-0-9, g-1-0 … */
function gateIdsOf(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `g-${Math.floor(i / GATES_PER_COMPOUND)}-${i % GATES_PER_COMPOUND}`);
}

/** The deployment written into a new SQLite cloud database at `dbPath`. */
async function registerSqlite(
  dbPath: string,
  ...deployment: Parameters<typeof registerDeployment> extends [unknown, ...infer R] ? R : never
): Promise<void> {
  const store = new SqliteCloudStore({ path: dbPath });
  await registerDeployment(store, ...deployment);
  await store.close();
}

/**
 * `--scale-out 1,2 [--pg URL] [--scale-layouts 10,200]`: the same gates into 1, then 2 instances
 * on PostgreSQL, once per layout — `10` gates per compound (20 compounds of 200 gates: many
 * compounds, the default) and `200` (one busy compound: every batch adds to the same rollup rows).
 */
async function scaleOut(
  ctx: Ctx,
  scale: Omit<ScaleOutOptions, 'keysPath' | 'instances' | 'pgUrl' | 'compoundOf' | 'population' | 'layout'>,
  keysFile: KeysFile,
): Promise<Figure[]> {
  const keysPath = writeKeys(await ctx.tempDir('ingest-scale'), keysFile).privatePath;
  const instances = String(ctx.values['scale-out']).split(',').map(Number);
  const pgUrl = typeof ctx.values.pg === 'string' ? { pgUrl: ctx.values.pg } : {};
  const layouts = String(ctx.values['scale-layouts'] ?? GATES_PER_COMPOUND)
    .split(',')
    .map(Number);
  const pepper = parseKeysFile(keysFile).pepper;
  const figures: Figure[] = [];
  for (const perCompound of layouts) {
    const { compoundOf, population } = layoutOf(scale.gateIds, perCompound, pepper);
    const compounds = new Set(scale.gateIds.map(compoundOf)).size;
    const layout = compounds === 1 ? 'one compound' : `${compounds} compounds`;
    figures.push(
      ...(await measureScaleOut(ctx, { ...scale, compoundOf, population, layout, keysPath, instances, ...pgUrl })),
    );
  }
  return figures;
}

/** The gates' compounds, `perCompound` gates each in gate order, and their residents. */
function layoutOf(gateIds: readonly string[], perCompound: number, pepper: Buffer) {
  const index = new Map(gateIds.map((id, i) => [id, i]));
  const compoundOf = (gateId: string) => `c-${Math.floor(index.get(gateId)! / perCompound)}`;
  const compounds = [...new Set(gateIds.map(compoundOf))];
  const count = RESIDENTS_PER_COMPOUND * compounds.length;
  return { compoundOf, population: generatePopulation({ count, pepper, compounds }).persons };
}

/** Max RSS of a process, sampled every 200 ms while `work` runs. */
async function withRss<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; maxRssMb: number }> {
  let max = 0;
  const timer = setInterval(() => {
    max = Math.max(max, rssOfPid(pid) ?? 0);
  }, 200);
  try {
    const result = await work();
    max = Math.max(max, rssOfPid(pid) ?? 0);
    return { result, maxRssMb: max };
  } finally {
    clearInterval(timer);
  }
}

/** The gates, the compounds and residents they belong to, and one MQTT account each (for both brokers). */
interface GateSetup {
  keysFile: KeysFile;
  signing: SigningKey;
  gateIds: string[];
  compoundOf: (gateId: string) => string;
  population: SyntheticPerson[];
  personsOf: ReturnType<typeof personsByCompound>;
  mqttAccounts: ReturnType<typeof mosquittoAccounts>;
  tokenOf: (username: string) => string;
  livePerGate: number;
  batchesPerGate: number;
}

function prepareGates(gateCount: number, perGate: { live: number; batches: number }): GateSetup {
  const keysFile = createKeysFile();
  const keys = parseKeysFile(keysFile);
  const signing = keys.signing as SigningKey;
  const exp = Date.now() + DAY_MS;
  const gateIds = gateIdsOf(gateCount);
  const compoundOf = (gateId: string) => `c-${gateId.split('-')[1]}`;
  const population = generatePopulation({
    count: RESIDENTS_PER_COMPOUND * new Set(gateIds.map(compoundOf)).size,
    pepper: keys.pepper,
    compounds: [...new Set(gateIds.map(compoundOf))],
  }).persons;
  const personsOf = personsByCompound(population, compoundOf);
  // One set of accounts for both brokers: aedes verifies the signed tokens, Mosquitto compares
  // them with its generated password file and confines each account by the generated ACL.
  const mqttAccounts = mosquittoAccounts(
    { gates: gateIds.map((id) => ({ id, compound: compoundOf(id) })), clouds: [CLOUD_CLIENT_ID, RAW_SUB_ID] },
    (claims) => signToken({ ...claims, exp }, signing),
  );
  const tokenOf = (username: string) => mqttAccounts.find((a) => a.username === username)!.password;
  return {
    keysFile,
    signing,
    gateIds,
    compoundOf,
    population,
    personsOf,
    mqttAccounts,
    tokenOf,
    livePerGate: perGate.live,
    batchesPerGate: perGate.batches,
  };
}

/** A broker of that name, the cloud process on a new database behind it and the gates connected to it. */
async function startStack(ctx: Ctx, brokerName: string, gates: GateSetup) {
  const dir = await ctx.tempDir(`ingest-${brokerName}`);
  const keyPaths = writeKeys(dir, gates.keysFile);
  const dbPath = join(dir, 'cloud.db');
  await registerSqlite(dbPath, gates.gateIds, gates.compoundOf, gates.population);

  const mosquitto = brokerName === 'mosquitto';
  const broker = mosquitto
    ? await startAuthMosquitto(ctx, gates.mqttAccounts)
    : await startAnxinBroker(ctx, keyPaths.publicPath);
  const cloud = await startAnxinCloud(ctx, {
    db: dbPath,
    mqttUrl: broker.url,
    keysPath: keyPaths.privatePath,
    // Mosquitto knows only the passwords of its file; aedes lets the cloud sign its own.
    ...(mosquitto ? { mqttLogin: { clientId: CLOUD_CLIENT_ID, token: gates.tokenOf(CLOUD_CLIENT_ID) } } : {}),
  });
  const accounts = gates.gateIds.map((gateId) => ({ gateId, token: gates.tokenOf(gateId) }));
  const swarm = await GateSwarm.connect(broker.url, accounts);
  ctx.report.progress(`${brokerName}: ${swarm.size} gates connected; cloud pid ${cloud.pid}`);
  const tag = mosquitto ? 'mosquitto (dynamic-security accounts)' : 'aedes (anxin broker)';
  return { dbPath, mosquitto, broker, cloud, swarm, tag };
}
type Stack = Awaited<ReturnType<typeof startStack>>;

/**
 * The stored rows against what was sent: lost (each gate's seqs missing, a gate with no row at all
 * included) and duplicated. Plus the connections lost during the run, from the broker's and the
 * cloud's log lines (Mosquitto's: the cloud's only): backpressure must never be a disconnect
 * (docs/deploy.md, "Limits per connection").
 */
function countStored(stack: Stack, seqs: ReadonlyMap<string, number>, sent: number) {
  const db = new BetterSqlite3(stack.dbPath, { readonly: true });
  const stored = (db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
  const perGate = db.prepare('SELECT gate_id, COUNT(*) AS n FROM events GROUP BY gate_id').all() as {
    gate_id: string;
    n: number;
  }[];
  db.close();
  const storedOf = new Map(perGate.map((g) => [g.gate_id, g.n]));
  let lost = 0;
  for (const [gateId, last] of seqs) lost += Math.max(0, last - (storedOf.get(gateId) ?? 0));
  const disconnects = (stack.broker.disconnects?.() ?? 0) + (stack.cloud.disconnects?.() ?? 0);
  return { stored, lost, duplicated: Math.max(0, stored - sent), disconnects };
}

type PhaseRun = Awaited<ReturnType<typeof withRss<Awaited<ReturnType<GateSwarm['send']>>>>>;

/** The live and drain figures of one broker, with the rows counted after. */
function ingestFigures(
  stack: Stack,
  live: PhaseRun,
  drain: PhaseRun,
  counted: ReturnType<typeof countStored>,
): Figure[] {
  const { tag, mosquitto } = stack;
  const { stored, lost, duplicated } = counted;
  const sent = live.result.events + drain.result.events;
  return [
    {
      name: `[${tag}] live, 1 passage/msg`,
      value: live.result.ackedEvents / live.result.seconds,
      unit: 'events/s',
      ...(!mosquitto ? { target: TARGET_LIVE, goal: 'min' as const } : {}),
      note: `${live.result.ackedEvents} of ${live.result.events} events acked in ${live.result.seconds.toFixed(1)} s, window ${LIVE_WINDOW}/gate`,
    },
    {
      name: `[${tag}] live publish → cloud ack p99 (at saturation)`,
      value: live.result.latency.distribution().p99,
      unit: 'ms',
      note: `p50 ${formatNumber(live.result.latency.distribution().p50)} ms`,
    },
    {
      name: `[${tag}] drain, 500 passages/msg`,
      value: drain.result.ackedEvents / drain.result.seconds,
      unit: 'events/s',
      ...(!mosquitto ? { target: TARGET_DRAIN, goal: 'min' as const } : {}),
      note: `${drain.result.ackedEvents} of ${drain.result.events} events acked in ${drain.result.seconds.toFixed(1)} s, window ${DRAIN_WINDOW}/gate`,
    },
    {
      name: `[${tag}] lost / duplicated`,
      value: lost + duplicated,
      unit: 'events',
      target: 0,
      goal: 'max',
      note: `stored ${stored} of ${sent} sent; lost ${lost}, duplicated ${duplicated}; unfinished gates ${live.result.unfinished + drain.result.unfinished}`,
    },
    {
      name: `[${tag}] connections lost (broker + cloud logs)`,
      value: counted.disconnects,
      unit: 'disconnects',
      target: 0,
      goal: 'max',
      note: 'a slow cloud is held back, never cut off',
    },
    {
      name: `[${tag}] cloud RSS while ingesting (max)`,
      value: Math.max(live.maxRssMb, drain.maxRssMb),
      unit: 'MB',
      ...(!mosquitto ? { target: TARGET_CLOUD_RSS_MB, goal: 'max' as const } : {}),
    },
  ];
}

/** One broker's row of the side-by-side notes: the cloud's rates beside the raw ceilings. */
interface SideBySide {
  tag: string;
  live: number;
  rawLive: number;
  drain: number;
  rawDrain: number;
}

/**
 * The physical reference: the same payloads through the same broker to mosquitto_sub > /dev/null,
 * with the same window per gate as the phase it is the ceiling of. The subscriber signs in with a
 * cloud account, so the embedded broker holds it back rather than cutting it off (docs/deploy.md,
 * "Limits per connection"); should it still miss messages, the ceiling is unknown (NaN, with the
 * reason), and the rest of the run still counts.
 */
async function rawFigures(
  ctx: Ctx,
  stack: Stack,
  phases: { live: PreparedMessage[][]; drain: PreparedMessage[][] },
  cloudRates: { live: number; drain: number },
  rawToken: string,
): Promise<{ figures: Figure[]; row: SideBySide }> {
  const { tag } = stack;
  const ceiling = async (messages: PreparedMessage[][], window: number, subscriber: RawSubscriber) => {
    try {
      const raw = await rawCeiling(ctx, stack.broker, stack.swarm, messages, rawToken, window, subscriber);
      ctx.report.note(
        `[${tag}] CPU, raw ceiling → ${subscriber} (window ${window}): ${describeCpuSplit(raw.split, messages.flat().length)}`,
      );
      return raw.events / raw.seconds;
    } catch (error) {
      ctx.report.note(`[${tag}] raw ceiling → ${subscriber} not measured: ${(error as Error).message}`);
      return Number.NaN;
    }
  };
  const rawLive = await ceiling(phases.live, LIVE_WINDOW, 'mosquitto_sub');
  const linkLive = await ceiling(phases.live, LIVE_WINDOW, 'cloud-link');
  const rawDrain = await ceiling(phases.drain, DRAIN_WINDOW, 'mosquitto_sub');
  const { live, drain } = cloudRates;
  const reaches = (rate: number, of: number) => `cloud reaches ${((100 * rate) / of).toFixed(0)} % of it`;
  const figures: Figure[] = [
    {
      name: `[${tag}] raw ceiling live → mosquitto_sub`,
      value: rawLive,
      unit: 'events/s',
      note: reaches(live, rawLive),
    },
    {
      name: `[${tag}] live → the cloud's MQTT link alone`,
      value: linkLive,
      unit: 'events/s',
      note: `${reaches(live, linkLive)}; the link, taking and PUBACKing, does nothing else (bench/lib/cloud-link-floor.ts)`,
    },
    {
      name: `[${tag}] raw ceiling drain → mosquitto_sub`,
      value: rawDrain,
      unit: 'events/s',
      note: reaches(drain, rawDrain),
    },
    { name: `[${tag}] live ÷ raw ceiling`, value: live / rawLive, unit: '×', target: TARGET_LIVE_OF_RAW, goal: 'min' },
    {
      name: `[${tag}] the link alone ÷ raw ceiling, live`,
      value: linkLive / rawLive,
      unit: '×',
      note: 'the most any cloud on this MQTT link can reach of the ceiling on this machine',
    },
    { name: `[${tag}] live ÷ the link alone`, value: live / linkLive, unit: '×' },
    { name: `[${tag}] drain ÷ raw ceiling`, value: drain / rawDrain, unit: '×' },
  ];
  return { figures, row: { tag, live, rawLive, drain, rawDrain } };
}

/** One broker: live then drain into the cloud, the rows counted, then the raw ceilings through the same broker. */
async function measureBroker(ctx: Ctx, brokerName: string, gates: GateSetup): Promise<SideBySide> {
  const { report } = ctx;
  const stack = await startStack(ctx, brokerName, gates);
  const { cloud, swarm } = stack;
  const seqs = new Map<string, number>();
  const live = plan(gates.gateIds, gates.livePerGate, 1, seqs, gates.personsOf);
  const drain = plan(gates.gateIds, gates.batchesPerGate, BATCH, seqs, gates.personsOf);

  const pids = { cloud: cloud.pid, broker: stack.broker.pid };
  const atStart = await scrapeIngestCounters(cloud.url);
  const { result: liveRun, split: liveCpu } = await withCpuSplit(pids, () =>
    withRss(cloud.pid, () => swarm.send(live, { window: LIVE_WINDOW, until: 'ack', timeoutMs: PHASE_TIMEOUT_MS })),
  );
  const afterLive = await scrapeIngestCounters(cloud.url);
  report.note(
    `[${stack.tag}] live: ${describeCommits(atStart, afterLive)}; CPU ${describeCpuSplit(liveCpu, liveRun.result.messages)}`,
  );
  const liveRate = liveRun.result.ackedEvents / liveRun.result.seconds;
  report.progress(`${brokerName} live: ${formatNumber(liveRate)}/s`);
  const { result: drainRun, split: drainCpu } = await withCpuSplit(pids, () =>
    withRss(cloud.pid, () => swarm.send(drain, { window: DRAIN_WINDOW, until: 'ack', timeoutMs: PHASE_TIMEOUT_MS })),
  );
  const afterDrain = await scrapeIngestCounters(cloud.url);
  report.note(
    `[${stack.tag}] drain: ${describeCommits(afterLive, afterDrain)}; CPU ${describeCpuSplit(drainCpu, drainRun.result.messages)}`,
  );
  const drainRate = drainRun.result.ackedEvents / drainRun.result.seconds;
  report.progress(`${brokerName} drain: ${formatNumber(drainRate)}/s`);
  await cloud.stop();

  const counted = countStored(stack, seqs, liveRun.result.events + drainRun.result.events);
  const figures = ingestFigures(stack, liveRun, drainRun, counted);
  const raw = await rawFigures(
    ctx,
    stack,
    { live, drain },
    { live: liveRate, drain: drainRate },
    gates.tokenOf(RAW_SUB_ID),
  );
  report.add(...figures, ...raw.figures);
  await swarm.close();
  await stack.broker.stop();
  return raw.row;
}

/**
 * The notes after the figures: each broker side by side with its raw ceiling and the ratio, with
 * the time, the load offered and the machine's load; then how the run was set up.
 */
function reportNotes(report: Ctx['report'], sideBySide: readonly SideBySide[], offered: string) {
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)} ×`;
  const machine = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
  const at = new Date().toISOString().slice(0, 16).replace('T', ' ');
  report.note(`side by side, ${at} UTC, ${offered}, machine load now ${machine}:`);
  for (const r of sideBySide) {
    report.note(
      `  ${r.tag}: live ${formatNumber(r.live)}/s of a raw ${formatNumber(r.rawLive)}/s (${ratio(r.live, r.rawLive)}); drain ${formatNumber(r.drain)}/s of a raw ${formatNumber(r.rawDrain)}/s (${ratio(r.drain, r.rawDrain)})`,
    );
  }
  report.note("events are prepared before the clock starts: the gates' JSON encoding is not in the figures");
  report.note(
    `mosquitto runs as docs/deploy.md sets it up (generated mosquitto.conf, dynamic-security accounts: one per gate confined to its topics, the cloud with --mqtt-token), with its generated flow control: ${MOSQUITTO_MAX_INFLIGHT} messages in flight towards the cloud, the rest queued up to 1 GiB`,
  );
}

await runBench(
  'ingest',
  USAGE,
  {
    gates: { type: 'string' },
    live: { type: 'string' },
    batches: { type: 'string' },
    brokers: { type: 'string' },
    'store-only': { type: 'boolean', default: false },
    'scale-out': { type: 'string' },
    'scale-layouts': { type: 'string' },
    pg: { type: 'string' },
    'store-events': { type: 'string' },
    prefill: { type: 'string' },
  },
  async (ctx) => {
    const { report, quick, values } = ctx;
    report.add(
      ...(await measureStoreInsert({
        dir: await ctx.tempDir('ingest-store'),
        events: intFlag(values, 'store-events', quick ? 20_000 : 200_000),
        prefill: intFlag(values, 'prefill', 0),
        progress: (text) => report.progress(text),
      })),
    );
    if (values['store-only'] === true) return;
    const gateCount = intFlag(values, 'gates', quick ? 40 : 200);
    const livePerGate = intFlag(values, 'live', quick ? 10 : 250);
    const batchesPerGate = intFlag(values, 'batches', quick ? 1 : 5);
    const brokers = String(values.brokers ?? 'aedes,mosquitto')
      .split(',')
      .filter((b) => b !== 'none');
    const gates = prepareGates(gateCount, { live: livePerGate, batches: batchesPerGate });
    const sideBySide: SideBySide[] = [];
    for (const brokerName of brokers) sideBySide.push(await measureBroker(ctx, brokerName, gates));
    const { gateIds, signing } = gates;
    const scale = { gateIds, signing, livePerGate, batchesPerGate };
    if (typeof values['scale-out'] === 'string') report.add(...(await scaleOut(ctx, scale, gates.keysFile)));
    reportNotes(report, sideBySide, `${gateCount} gates × (${livePerGate} live + ${batchesPerGate} × ${BATCH})`);
  },
);
