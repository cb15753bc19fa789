/**
 * Sync: (a) a new gate — `node bin/anxin.mjs edge` as its own process, empty data dir — gets the
 * full snapshot of a compound of N persons (default 100 k) from `anxin cloud` through
 * `anxin broker`: time from its first "online" status to the status carrying the compound's rev,
 * and its RSS once it holds the replica; (b) one health change (`PUT /api/v1/health`) reaching G
 * gates (default 200, in-process edge agents of one compound): request sent → each gate's status
 * showing the new rev (applied to its SQLite replica).
 *
 *   node --import tsx bench/sync.ts [--quick] [--persons 100k] [--gates 200] [--changes 5]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import mqtt from 'mqtt';
import type { EdgeAgent } from '../edge-agent/edge-agent.ts';
import { openGateDatabase } from '../edge-agent/gate-database.ts';
import type { GateStatus } from '../shared/schemas/mqtt.ts';
import { topics } from '../shared/topics.ts';
import { createKeysFile, parseKeysFile } from '../shared/keys.ts';
import { signedToken } from '../testkit/cloud-seed.ts';
import { type BenchContext, intFlag, runBench } from './lib/cli.ts';
import { type Deployment, startDeployment } from './lib/deployment.ts';
import { cpuSecondsOfPid, memoryOfPid, rssOfPid } from './lib/machine.ts';
import { generatePopulation, type SyntheticPerson } from './lib/population.ts';
import { ANXIN, ANXIN_RUNS, edgeUnitEnvironment } from './lib/processes.ts';
import { type Figure, latencyFigures } from './lib/report.ts';
import { Samples, sleep, waitFor } from './lib/samples.ts';
import { SnapshotTimeline } from './lib/snapshot-timeline.ts';

const USAGE = `bench sync [--quick] [--persons N] [--gates N] [--changes N] [--edge-cpu-prof DIR] [--json FILE]
  full snapshot of N persons to a new gate process; one health change to G gates.
  --edge-cpu-prof DIR: the new gate process writes a V8 CPU profile there when it exits.`;

const TARGET_SNAPSHOT_S = 3;
/** The snapshot may cost at most this many times a bare bulk insert of the same rows. */
const TARGET_SNAPSHOT_OVER_BARE = 2;
const TARGET_FANOUT_P99_MS = 1_000;
const TARGET_EDGE_RSS_MB = 100;
const FANOUT_COMPOUND = 'c-1';

/**
 * The floor a snapshot is compared with: the same persons (record JSON, cards, health) written
 * into the gate's own schema (openGateDatabase: same tables, indexes and page cache) in one
 * transaction, in this process — no MQTT, no parsing, no staging. Seconds.
 */
function bareBulkInsert(persons: readonly SyntheticPerson[]): { seconds: number; cpuSeconds: number } {
  const dir = mkdtempSync(join(tmpdir(), 'anxin-bench-bare-'));
  try {
    const db = openGateDatabase(dir, { synchronous: 'normal' });
    const started = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    const person = db.prepare('INSERT INTO persons (person_id, id_hash, record) VALUES (?, ?, ?)');
    const card = db.prepare('INSERT OR REPLACE INTO person_cards (card, person_id) VALUES (?, ?)');
    const health = db.prepare('INSERT INTO health (person_id, colour, ts) VALUES (?, ?, ?)');
    const now = Date.now();
    db.transaction(() => {
      for (const { record } of persons) {
        person.run(record.personId, record.idHash, JSON.stringify(record));
        for (const c of record.cards) card.run(c, record.personId);
        health.run(record.personId, 'green', now);
      }
    })();
    db.pragma('wal_checkpoint(PASSIVE)');
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpu);
    db.close();
    return { seconds, cpuSeconds: (used.user + used.system) / 1e6 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `--edge-cpu-prof DIR`: the gate process writes a V8 CPU profile there when it exits. */
const profileFlags = (dir: unknown): string[] =>
  typeof dir === 'string' ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];

/**
 * The snapshot against a bare bulk insert of the same persons, in wall time and in CPU time. On a
 * shared machine wall time is mostly waiting for a core: the CPU each side used (the gate's from
 * /proc, between the same two statuses) is the comparison that load does not skew.
 */
function againstBareInsert(persons: readonly SyntheticPerson[], snapshotS: number, snapshotCpuS: number): Figure[] {
  const bare = bareBulkInsert(persons);
  return [
    {
      name: `bare SQLite bulk insert of the same ${persons.length} persons (gate schema, one transaction)`,
      value: bare.seconds,
      unit: 's',
      note: `CPU ${bare.cpuSeconds.toFixed(2)} s`,
    },
    {
      name: 'snapshot ÷ bare bulk insert',
      value: snapshotS / bare.seconds,
      unit: '×',
      target: TARGET_SNAPSHOT_OVER_BARE,
      goal: 'max',
    },
    {
      name: "snapshot, the gate process's CPU (online → at rev)",
      value: snapshotCpuS,
      unit: 's',
      note: 'user + system, /proc/<pid>/stat (10 ms ticks)',
    },
    {
      name: 'snapshot CPU ÷ bare bulk insert CPU',
      value: snapshotCpuS / bare.cpuSeconds,
      unit: '×',
      target: TARGET_SNAPSHOT_OVER_BARE,
      goal: 'max',
    },
  ];
}

/** The gate's RSS holding the replica, with where it is: at start-up and now. */
function rssFigure(
  pid: number,
  persons: number,
  rssAtOnline: number | undefined,
  atOnline: ReturnType<typeof memoryOfPid>,
): Figure {
  const now = memoryOfPid(pid);
  const parts = (m: ReturnType<typeof memoryOfPid>) =>
    m
      ? `anon ${m.anon.toFixed(0)} (brk heap ${m.brkHeap.toFixed(0)}, thread arenas ${m.arenas.toFixed(0)}), file ${m.file.toFixed(0)}`
      : '?';
  return {
    name: `edge agent RSS holding ${persons} persons (anxin edge process)`,
    value: rssOfPid(pid) ?? Number.NaN,
    unit: 'MB',
    target: TARGET_EDGE_RSS_MB,
    goal: 'max',
    note: `${rssAtOnline?.toFixed(0) ?? '?'} MB of it at start-up, before the snapshot; MB now: ${parts(now)}; at start-up: ${parts(atOnline)}; ${ANXIN_RUNS}`,
  };
}

type Ctx = BenchContext<Record<string, string | boolean | undefined>>;

/** The big compound of (a) and the 200 residents of the fan-out compound of (b). */
function populations(pepper: Buffer, personCount: number) {
  const big = generatePopulation({ count: personCount, pepper, compounds: ['c-0'] }).persons;
  const small: SyntheticPerson[] = generatePopulation({ count: 200, pepper, seed: 5 }).persons.map((p, i) => ({
    ...p,
    record: { ...p.record, personId: `q-${i}`, compoundId: FANOUT_COMPOUND, householdId: null, idHash: null },
  }));
  return { big, small };
}

/** A compound's rev, read from the cloud's database. */
function revOf(deployment: Deployment, compoundId: string): number {
  const db = new BetterSqlite3(join(deployment.dir, 'cloud.db'), { readonly: true });
  const rev = (db.prepare('SELECT rev FROM compounds WHERE id = ?').get(compoundId) as { rev: number }).rev;
  db.close();
  return rev;
}

/** When the new gate came online and reached the rev (its clock, RSS, memory and CPU then), from its own statuses. */
interface SnapshotWatch {
  edgePid: number;
  onlineAt?: bigint;
  appliedAt?: bigint;
  rssAtOnline?: number;
  memoryAtOnline?: ReturnType<typeof memoryOfPid>;
  cpuAtOnline?: number;
  cpuAtRev?: number;
  /** The cloud's and the broker's CPU seconds at the same two moments: where the rest of the wall time goes. */
  othersAtOnline?: { cloud?: number; broker?: number };
  othersAtRev?: { cloud?: number; broker?: number };
}

/** Subscribes an observer to g-new's status, filling in `watch` as it comes online and reaches `targetRev`. */
async function watchNewGate(ctx: Ctx, deployment: Deployment, targetRev: number): Promise<SnapshotWatch> {
  const observer = await mqtt.connectAsync(deployment.broker.url, {
    clientId: 'bench-observer',
    username: 'bench-observer',
    password: deployment.token('bench-observer', 'observer'),
    protocolVersion: 4,
  });
  ctx.onCleanup(() => observer.endAsync(true));
  const watch: SnapshotWatch = { edgePid: 0 };
  const others = () => ({
    cloud: cpuSecondsOfPid(deployment.cloud.pid),
    broker: cpuSecondsOfPid(deployment.broker.pid),
  });
  observer.on('message', (_topic, payload) => {
    const status = JSON.parse(payload.toString()) as GateStatus;
    if (status.online && watch.onlineAt === undefined) {
      watch.onlineAt = process.hrtime.bigint();
      watch.rssAtOnline = rssOfPid(watch.edgePid);
      watch.memoryAtOnline = memoryOfPid(watch.edgePid);
      watch.cpuAtOnline = cpuSecondsOfPid(watch.edgePid);
      watch.othersAtOnline = others();
    }
    if (status.rev >= targetRev && watch.appliedAt === undefined) {
      watch.appliedAt = process.hrtime.bigint();
      watch.cpuAtRev = cpuSecondsOfPid(watch.edgePid);
      watch.othersAtRev = others();
    }
  });
  await observer.subscribeAsync(topics.gateStatus('g-new'), { qos: 1 });
  return watch;
}

/**
 * A new gate's token as the registry issues it at enrolment (cloud/registry/registry-service.ts:
 * five years). The deployment's one-day tokens would have the cloud renew it (a `renew-token`
 * command, which the gate writes and fsyncs) in the middle of the snapshot being measured.
 */
const ENROLLED_TOKEN_MS = 5 * 365 * 86_400_000;

/** `anxin edge` as its own process, with an empty data dir, as the gate's unit runs it. */
function spawnNewGate(ctx: Ctx, deployment: Deployment) {
  const token = signedToken(deployment.keys, {
    sub: 'g-new',
    role: 'gate',
    compound: 'c-0',
    exp: Date.now() + ENROLLED_TOKEN_MS,
  });
  const configPath = join(deployment.dir, 'g-new.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      gateId: 'g-new',
      compoundId: 'c-0',
      mqtt: { url: deployment.broker.url, token },
      keysFile: deployment.keyPaths.publicPath,
      dataDir: join(deployment.dir, 'g-new'),
      http: { enabled: false },
    }),
  );
  return ctx.spawnChild(
    process.execPath,
    [...profileFlags(ctx.values['edge-cpu-prof']), ANXIN, 'edge', '--config', configPath],
    {
      // As the gate's unit runs it (its Environment= lines: the malloc settings, docs/edge-agent.md "Memory").
      env: { ...process.env, ...edgeUnitEnvironment(), ANXIN_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}

/** The cloud's and the broker's CPU over the same snapshot: with the gate's, what the wall time is made of. */
function othersCpuFigure(watch: SnapshotWatch): Figure {
  const used = (key: 'cloud' | 'broker') => {
    const from = watch.othersAtOnline?.[key];
    const to = watch.othersAtRev?.[key];
    return from !== undefined && to !== undefined ? to - from : Number.NaN;
  };
  return {
    name: "snapshot, the cloud's and the broker's CPU (online → at rev)",
    value: used('cloud') + used('broker'),
    unit: 's',
    note: `cloud ${used('cloud').toFixed(2)} s (reading the compound, cutting and serialising the parts), broker ${used('broker').toFixed(2)} s`,
  };
}

/** (a) The full snapshot of `big` to a new gate process, against a bare insert, and the gate's RSS after. */
async function measureSnapshot(ctx: Ctx, deployment: Deployment, big: readonly SyntheticPerson[]) {
  const { report } = ctx;
  const targetRev = revOf(deployment, 'c-0');
  const watch = await watchNewGate(ctx, deployment, targetRev);
  const timeline = await SnapshotTimeline.listen(deployment, 'g-new');
  ctx.onCleanup(() => timeline.close());
  const spawnedAt = process.hrtime.bigint();
  const edge = spawnNewGate(ctx, deployment);
  watch.edgePid = edge.pid!;
  await waitFor(`g-new at rev ${targetRev}`, () => watch.appliedAt !== undefined, 180_000, 20);
  const snapshotS = Number(watch.appliedAt! - watch.onlineAt!) / 1e9;
  report.note(timeline.describe(watch.onlineAt!, watch.appliedAt!));
  report.add(
    {
      name: `snapshot of ${big.length} persons: gate online → replica at rev`,
      value: snapshotS,
      unit: 's',
      target: TARGET_SNAPSHOT_S,
      goal: 'max',
    },
    {
      name: 'same, from process spawn (Node start-up included)',
      value: Number(watch.appliedAt! - spawnedAt) / 1e9,
      unit: 's',
    },
  );
  const { cpuAtOnline, cpuAtRev } = watch;
  const snapshotCpuS = cpuAtRev !== undefined && cpuAtOnline !== undefined ? cpuAtRev - cpuAtOnline : Number.NaN;
  report.add(...againstBareInsert(big, snapshotS, snapshotCpuS), othersCpuFigure(watch));
  await sleep(2_000);
  report.add(rssFigure(edge.pid!, big.length, watch.rssAtOnline, watch.memoryAtOnline));
  edge.kill('SIGTERM');
}

/**
 * One health change of `person` (`PUT /api/v1/health`) reaching the agents: request sent → each
 * agent's status at `want`, in nanoseconds, for those that got there within 30 s.
 */
async function oneHealthChange(
  deployment: Deployment,
  agents: readonly EdgeAgent[],
  change: { person: string; colour: 'yellow' | 'green'; want: number },
): Promise<bigint[]> {
  const arrived = new Map<string, bigint>();
  const listeners = agents.map((agent) => {
    const listener = (status: GateStatus) => {
      if (status.rev >= change.want && !arrived.has(agent.config.gateId)) {
        arrived.set(agent.config.gateId, process.hrtime.bigint());
      }
    };
    agent.on('status', listener);
    return () => agent.off('status', listener);
  });
  const sentAt = process.hrtime.bigint();
  const response = await fetch(`${deployment.cloud.url}/api/v1/health`, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${deployment.token('bench', 'manager', FANOUT_COMPOUND)}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify([{ personId: change.person, colour: change.colour, ts: Date.now() }]),
  });
  if (!response.ok) throw new Error(`PUT /health answered ${response.status}: ${await response.text()}`);
  await waitFor('every gate applied the change', () => arrived.size >= agents.length, 30_000, 5).catch(() => undefined);
  for (const off of listeners) off();
  return [...arrived.values()].map((at) => at - sentAt);
}

/** (b) `changes` health changes, one after the other, to the fan-out compound's gates (in-process agents). */
async function measureFanout(
  ctx: Ctx,
  deployment: Deployment,
  small: readonly SyntheticPerson[],
  fanoutGates: readonly { gateId: string; compoundId: string }[],
  changes: number,
) {
  const { report } = ctx;
  const gateCount = fanoutGates.length;
  report.progress(`starting ${gateCount} edge agents`);
  const agents: EdgeAgent[] = [];
  for (const g of fanoutGates) agents.push(await deployment.startAgent(g.gateId, g.compoundId));
  let rev = revOf(deployment, FANOUT_COMPOUND);
  await waitFor(`${gateCount} gates at rev ${rev}`, () => agents.every((a) => a.state().rev >= rev), 180_000, 50);
  const samples = new Samples();
  let missing = 0;
  for (let k = 0; k < changes; k++) {
    const want = rev + 1;
    const person = small[k % small.length]!.record.personId;
    const colour = k % 2 === 0 ? 'yellow' : 'green';
    const delays = await oneHealthChange(deployment, agents, { person, colour, want });
    for (const ns of delays) samples.addNs(ns);
    missing += agents.length - delays.length;
    rev = want;
    await sleep(300);
  }
  report.add(
    ...latencyFigures(`health change → applied on ${gateCount} gates`, samples.distribution(), {
      p99: TARGET_FANOUT_P99_MS,
    }),
    { name: 'gate×change pairs not applied within 30 s', value: missing, unit: 'pairs', target: 0, goal: 'max' },
  );
  report.note(
    `the ${gateCount} gates of (b) share this one process and its event loop; separate gate machines would each apply in parallel`,
  );
  for (const agent of agents) await agent.stop();
}

await runBench(
  'sync',
  USAGE,
  {
    persons: { type: 'string' },
    gates: { type: 'string' },
    changes: { type: 'string' },
    'edge-cpu-prof': { type: 'string' },
  },
  async (ctx) => {
    const { report, quick, values } = ctx;
    const personCount = intFlag(values, 'persons', quick ? 5_000 : 100_000);
    const gateCount = intFlag(values, 'gates', quick ? 20 : 200);
    const changes = intFlag(values, 'changes', quick ? 2 : 5);
    const keysFile = createKeysFile();
    const { big, small } = populations(parseKeysFile(keysFile).pepper, personCount);
    const fanoutGates = Array.from({ length: gateCount }, (_, i) => ({
      gateId: `g-1-${i}`,
      compoundId: FANOUT_COMPOUND,
    }));
    report.progress(`registering ${personCount + small.length} residents`);
    const deployment = await startDeployment(ctx, {
      keysFile,
      gates: [{ gateId: 'g-new', compoundId: 'c-0' }, ...fanoutGates],
      residents: [...big, ...small],
    });
    await measureSnapshot(ctx, deployment, big);
    await measureFanout(ctx, deployment, small, fanoutGates, changes);
  },
);
