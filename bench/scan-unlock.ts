/**
 * Scan → unlock: the last byte of a QR line (and of an ID-card read reply frame) arriving on a
 * socat pty → the OSDP turnstile simulator parsing the `osdp_OUT` that unlocks, through the real
 * edge agent (drivers on the OS serial binding, decision over a SQLite replica of N persons,
 * journal, turnstile control). Timestamps: the drivers' `lastByteAt`/`frameEndAt` and the
 * simulator's `unlock` `atHr` (all `process.hrtime.bigint()` in this one process).
 *
 * A pty moves bytes at memory speed whatever baud rate is set, so the measured interval is the
 * processing time (plus pty hops); the wire times at 9600/115200 baud are computed from the frame
 * lengths and reported beside it — on real RS-232/RS-485 they add to it.
 *
 * One more run puts a CPU-burning neighbour beside the gate: one busy process per core of the
 * machine (`node -e 'for(;;){}'`), as a co-located service gone wrong would; n ≥ 800 scans there
 * (`--neighbour-scans`), and the gate's own event-loop delay p99 (docs/edge-agent.md "Health").
 * Beside the neighbour: time-shared, at Nice=-10, and in the real-time class of the gate's unit
 * (SCHED_FIFO 20 on every thread of this process, whose simulators stand in for hardware), first
 * with the socat ptys time-shared, then with them in the same class (they stand in for the UART
 * driver, which runs in the kernel's interrupt path on a gate); BENCHMARKS.md says what each shows.
 *
 *   node --import tsx bench/scan-unlock.ts [--quick] [--persons 100k] [--scans 200] [--neighbour-scans 800]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism, getPriority, setPriority } from 'node:os';
import { once } from 'node:events';
import { join } from 'node:path';
import { createEdgeAgent } from '../edge-agent/edge-agent.ts';
import { parseEdgeConfig } from '../edge-agent/config.ts';
import { openGateDatabase } from '../edge-agent/gate-database.ts';
import { ReplicaStore } from '../edge-agent/replica-store.ts';
import { IdCardReaderDriver } from '../firmware-bridge/idreader/driver.ts';
import { IdCardReaderSimulator } from '../firmware-bridge/idreader/simulator.ts';
import { OsdpControlPanel } from '../firmware-bridge/osdp/control-panel.ts';
import { OsdpTurnstileSimulator } from '../firmware-bridge/osdp/simulator.ts';
import { QrScannerDriver } from '../firmware-bridge/qr/driver.ts';
import { QrScannerSimulator } from '../firmware-bridge/qr/simulator.ts';
import { createKeysFile, type KeysFile, type ParsedKeys, parseKeysFile } from '../shared/keys.ts';
import { newPassId, signPass } from '../shared/pass.ts';
import { openPtyPair } from '../testkit/socat.ts';
import { type BenchContext, intFlag, runBench } from './lib/cli.ts';
import { generatePopulation, replicaChanges, type SyntheticPerson } from './lib/population.ts';
import { randomInt, seededRandom } from './lib/prng.ts';
import { latencyFigures } from './lib/report.ts';
import { describeScheduling, type SchedulingClass, setScheduling } from './lib/scheduling.ts';
import { Samples, sleep } from './lib/samples.ts';

const USAGE = `bench scan-unlock [--quick] [--persons N] [--scans N] [--neighbour-scans N] [--neighbour-only] [--json FILE]
  QR at 9600 and 115200 baud and ID card at 115200 → OSDP unlock, through the edge agent on socat ptys;
  then QR at 115200 beside a CPU-burning neighbour (one busy process per core).`;

const TARGET_P99_MS = 5;
/** deploy/systemd/anxin-edge@.service: CPUSchedulingPolicy=fifo, CPUSchedulingPriority=20. */
const GATE_SCHEDULING: SchedulingClass = { policy: 'fifo', priority: 20 };
/** QR runs below: 9600, 115200, 115200 with the OSDP secure channel. */
const QR_RUNS = 3;
/** Runs beside the CPU burners below (time-shared, Nice=-10, real-time with and without the ptys). */
const NEIGHBOUR_RUNS = 4;
const DAY_MS = 86_400_000;
/** osdp_OUT with one 4-byte output record, CRC mode: SOM ADDR LEN(2) CTRL CMD 4×data CRC(2) (OSDP 2.2 §5.1, §6.8). */
const OSDP_OUT_FRAME_BYTES = 12;
/** The same under the secure channel: + security block (2), data padded to one AES block (16), MAC (4). */
const OSDP_SECURE_OUT_FRAME_BYTES = 30;
/** SAM_V read reply with text and photo (docs/devices.md §1). */
const ID_CARD_READER_READ_REPLY_BYTES = 1295;
/** 8N1: ten bits on the wire per byte. */
const wireMs = (bytes: number, baud: number) => (bytes * 10 * 1000) / baud;

interface Scanner {
  personId: string;
  name: string;
  idNumber: string;
}

type Ctx = BenchContext<Record<string, string | boolean | undefined>>;

async function pty(ctx: Ctx) {
  const pair = await openPtyPair();
  ctx.onCleanup(() => pair.kill());
  return pair;
}

/** One busy process per core: the neighbour that takes the CPU from the gate. */
function burnCpu(ctx: Ctx): ChildProcess[] {
  const burners = Array.from({ length: availableParallelism() }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
  );
  ctx.onCleanup(() => {
    for (const b of burners) b.kill('SIGKILL');
  });
  return burners;
}

/** One measured run: which credential at which baud, and what shares the machine with the gate. */
interface Run {
  name: string;
  qrBaud?: number;
  secure?: boolean;
  neighbour?: boolean;
  nice?: number;
  /** The gate's process (all threads) in this class; `ptys` also the socat processes that stand in for the wire. */
  sched?: SchedulingClass & { ptys: boolean };
}

const RUNS: Run[] = [
  { name: 'QR @9600', qrBaud: 9600 },
  { name: 'QR @115200', qrBaud: 115_200 },
  // The OSDP secure channel on (docs/devices.md §8): every poll and the OUT MACed, the OUT encrypted.
  { name: 'QR @115200, OSDP secure channel', qrBaud: 115_200, secure: true },
  { name: 'ID card @115200' },
  // The machine shared with a process that burns every core (scheduler contention, not our code).
  { name: 'QR @115200 beside a CPU-burning neighbour', qrBaud: 115_200, neighbour: true },
  // The same with the gate at the priority its systemd unit gives it (deploy/systemd/anxin-edge@.service).
  {
    name: 'QR @115200 beside a CPU-burning neighbour, gate at Nice=-10',
    qrBaud: 115_200,
    neighbour: true,
    nice: -10,
  },
  // Where the time goes: the gate real-time, the socat ptys (the wire's stand-in) still time-shared
  // with the burners — every byte to and from the turnstile crosses one of them.
  {
    name: 'QR @115200 beside a CPU-burning neighbour, gate SCHED_FIFO 20, socat ptys time-shared',
    qrBaud: 115_200,
    neighbour: true,
    sched: { ...GATE_SCHEDULING, ptys: false },
  },
  // The deployment: the unit's real-time class for the gate; the ptys stand in for the UART driver,
  // which runs in the kernel's interrupt path on a real gate, so they get the same class.
  {
    name: 'QR @115200 beside a CPU-burning neighbour, gate SCHED_FIFO 20 (the unit), socat ptys too',
    qrBaud: 115_200,
    neighbour: true,
    sched: { ...GATE_SCHEDULING, ptys: true },
  },
];

/** What every run shares: the keys, the clock, the gate's data dir (its replica) and the persons who scan. */
interface Setup {
  ctx: Ctx;
  keysFile: KeysFile;
  keys: ParsedKeys;
  now: number;
  dataDir: string;
  scanners: Scanner[];
}

/**
 * Writes the gate's replica of `personCount` persons into `dataDir` and draws the green residents
 * who will scan, `count` of them. Only they are kept: the generated population (and its garbage)
 * would otherwise stay in this process's heap, and its major GCs (measured up to 96 ms) would land
 * in the figures although the agent itself holds its replica in SQLite, not in the heap.
 */
function prepareScanners(
  keys: ParsedKeys,
  dataDir: string,
  now: number,
  personCount: number,
  count: number,
): Scanner[] {
  const scanners: Scanner[] = [];
  const population = generatePopulation({ count: personCount, pepper: keys.pepper });
  const greens = population.persons.filter(
    (p) => p.health === 'green' && p.record.kind === 'resident',
  ) as SyntheticPerson[];
  const random = seededRandom(11);
  for (let i = 0; i < count; i++) {
    const { record, name, idNumber } = greens[randomInt(random, greens.length)]!;
    scanners.push({ personId: record.personId, name, idNumber });
  }
  const db = openGateDatabase(dataDir);
  const replica = new ReplicaStore(db);
  const changes = replicaChanges(population.persons, now - DAY_MS);
  for (let i = 0; i < changes.length; i += 5_000) replica.applyDelta(changes.slice(i, i + 5_000), i + 5_000);
  replica.touchCloudContact(now);
  db.close();
  return scanners;
}

/** The simulated devices on their socat ptys, the drivers on the other ends and the edge agent over them. */
async function startRig(setup: Setup, run: Run) {
  const { ctx, keysFile, dataDir } = setup;
  const osdp = await pty(ctx);
  const qrPair = await pty(ctx);
  const idPair = await pty(ctx);
  const ptyPids = [osdp, qrPair, idPair].flatMap((p) => (p.pid === undefined ? [] : [p.pid]));
  const qrBaud = run.qrBaud ?? 9600;
  const scbk = run.secure ? randomBytes(16) : undefined;
  const turnstileSim = new OsdpTurnstileSimulator({
    path: osdp.b,
    baudRate: 115_200,
    passDelayMs: 30,
    ...(scbk ? { scbk } : {}),
  });
  const qrSim = new QrScannerSimulator({ path: qrPair.b, baudRate: qrBaud, suffix: 'cr' });
  const idSim = new IdCardReaderSimulator({ path: idPair.b, baudRate: 115_200 });
  const qr = new QrScannerDriver({ path: qrPair.a, baudRate: qrBaud });
  const idreader = new IdCardReaderDriver({ path: idPair.a, baudRate: 115_200, pollIntervalMs: 300 });
  const turnstile = new OsdpControlPanel({ path: osdp.a, baudRate: 115_200, ...(scbk ? { scbk } : {}) });
  const sims = [turnstileSim, qrSim, idSim];
  for (const sim of sims) await sim.start();
  const config = parseEdgeConfig({
    gateId: 'g-bench',
    compoundId: 'c-0',
    mqtt: { url: 'mqtt://127.0.0.1:1', reconnectMs: 60_000 },
    keys: keysFile,
    dataDir,
    http: { enabled: false },
    devices: {
      qr: { path: qrPair.a, baudRate: qrBaud },
      idreader: { path: idPair.a, baudRate: 115_200 },
      turnstile: { path: osdp.a, baudRate: 115_200, pulseMs: 500 },
    },
    timeouts: { passageMs: 2_000 },
  });
  const agent = createEdgeAgent(config, { devices: { qr, idreader, turnstile } });
  await agent.start();
  await sleep(500); // first OSDP polls, reader handshake
  if (scbk && !turnstile.secure) throw new Error('the secure channel did not come up');
  // When the credential's last byte was read (the drivers' own timestamps).
  const read = { at: 0n };
  qr.on('scan', (_text, at) => {
    read.at = at.lastByteAt;
  });
  idreader.on('card', (_card, at) => {
    read.at = at.frameEndAt;
  });
  const stop = async () => {
    await agent.stop();
    for (const sim of sims) await sim.stop();
  };
  return { agent, turnstileSim, qrSim, idSim, ptyPids, read, stop };
}
type Rig = Awaited<ReturnType<typeof startRig>>;

/**
 * Puts the run's neighbour beside the gate (the CPU burners) and the gate at the run's priority or
 * scheduling class; returns what `release` needs to undo it.
 */
async function contend(setup: Setup, run: Run, ptyPids: number[]) {
  const { ctx } = setup;
  const burners = run.neighbour ? burnCpu(ctx) : [];
  const niceBefore = getPriority();
  if (run.nice !== undefined) {
    try {
      setPriority(run.nice);
    } catch (error) {
      ctx.report.note(
        `${run.name}: cannot set nice ${run.nice} (${(error as Error).message}); measured at ${niceBefore}`,
      );
    }
  }
  if (run.sched) {
    // After the burners are spawned: a child inherits its parent's real-time class.
    setScheduling(run.sched.ptys ? [process.pid, ...ptyPids] : [process.pid], run.sched);
    ctx.report.progress(
      `gate ${describeScheduling(process.pid)}, socat ptys ${ptyPids.map(describeScheduling).join(', ')}`,
    );
  }
  if (run.neighbour) {
    await sleep(500);
    ctx.report.progress(`${burners.length} CPU burners running beside the gate`);
  }
  const release = () => {
    for (const b of burners) b.kill('SIGKILL');
    if (run.nice !== undefined) setPriority(niceBefore);
    if (run.sched) setScheduling([process.pid, ...ptyPids], { policy: 'other', priority: 0 });
  };
  return { burners, release };
}

/**
 * One scan: a signed pass on the QR scanner, or the person's ID card on the reader. Resolves to
 * the nanoseconds from the last byte read to the unlock parsed (undefined when no unlock came
 * within 3 s) and the QR line's length in bytes.
 */
async function scanOnce(setup: Setup, rig: Rig, run: Run, person: Scanner) {
  const { keys, now } = setup;
  const unlocked = once(rig.turnstileSim, 'unlock', { signal: AbortSignal.timeout(3_000) }) as Promise<
    [string, bigint]
  >;
  let lineBytes = 0;
  if (run.qrBaud) {
    const text = signPass(
      {
        passId: newPassId(),
        personId: person.personId,
        compoundId: 'c-0',
        kind: 'resident',
        notBefore: now - DAY_MS,
        expiresAt: now + DAY_MS,
      },
      keys.signing!,
    );
    lineBytes = text.length + 1;
    await rig.qrSim.scan(text);
  } else {
    rig.idSim.presentCard({
      name: person.name,
      sex: 'male',
      nationCode: '01',
      birthDate: '1980-01-01',
      address: '上海市黄浦区某路1号',
      idNumber: person.idNumber,
      authority: '上海市公安局黄浦分局',
      validFrom: '2020-01-01',
      validTo: null,
    });
  }
  let ns: bigint | undefined;
  try {
    const [, atHr] = await unlocked;
    ns = atHr - rig.read.at;
  } catch {
    ns = undefined;
  }
  if (!run.qrBaud) rig.idSim.removeCard();
  await sleep(run.qrBaud ? 60 : 400); // the turnstile reports "passed"; the reader sees the card gone
  return { ns, lineBytes };
}

/** One run: the rig started, the neighbour beside it, `count` scans, the figures, everything stopped. */
async function measureRun(setup: Setup, run: Run, count: number) {
  const { report } = setup.ctx;
  const rig = await startRig(setup, run);
  const samples = new Samples();
  const decisionMs = new Samples();
  rig.agent.on('decision', (event) => {
    if (event) decisionMs.addMs(event.decisionMs);
  });
  let misses = 0;
  let lineBytes = 0;
  const { burners, release } = await contend(setup, run, rig.ptyPids);
  for (let i = 0; i < count; i++) {
    const scan = await scanOnce(setup, rig, run, setup.scanners.shift()!);
    if (scan.ns === undefined) misses += 1;
    else samples.addNs(scan.ns);
    lineBytes = scan.lineBytes;
  }
  release();
  const d = samples.distribution();
  if (run.neighbour) {
    report.add({
      name: `${run.name}: the gate's event-loop delay p99 (its own monitor, last window)`,
      value: rig.agent.status().eventLoopP99Ms ?? Number.NaN,
      unit: 'ms',
      note: `${burners.length} busy processes, n = ${d.count}`,
    });
  }
  report.add(
    ...latencyFigures(
      `${run.name}: last byte in → OSDP unlock parsed`,
      d,
      { p99: TARGET_P99_MS },
      misses > 0 ? `${misses} scans without unlock` : undefined,
    ),
  );
  const dd = decisionMs.distribution();
  report.add({
    name: `${run.name}: agent's own decisionMs (read → decided) p99`,
    value: dd.p99,
    unit: 'ms',
    note: `p50 ${dd.p50.toFixed(3)} ms`,
  });
  const inBytes = run.qrBaud ? lineBytes : ID_CARD_READER_READ_REPLY_BYTES;
  const baud = run.qrBaud ?? 115_200;
  report.add({
    name: `${run.name}: wire time of the ${inBytes}-byte ${run.qrBaud ? 'QR line' : 'read reply'} at ${baud}`,
    value: wireMs(inBytes, baud),
    unit: 'ms',
    note: 'before lastByteAt; not in the figure above',
  });
  await rig.stop();
}

/** The unlock's own wire time, after the figures: on a real bus it lands this much later. */
function reportOsdpWireTimes(report: Ctx['report']) {
  for (const baud of [9600, 115_200]) {
    report.add({
      name: `wire time of the ${OSDP_SECURE_OUT_FRAME_BYTES}-byte osdp_OUT in the secure channel at ${baud}`,
      value: wireMs(OSDP_SECURE_OUT_FRAME_BYTES, baud),
      unit: 'ms',
      note: 'security block, one encrypted AES block, 4-byte MAC',
    });
    report.add({
      name: `wire time of the ${OSDP_OUT_FRAME_BYTES}-byte osdp_OUT at ${baud}`,
      value: wireMs(OSDP_OUT_FRAME_BYTES, baud),
      unit: 'ms',
      note: 'after the figure: on a real bus the unlock lands this much later',
    });
  }
  report.note(
    'OSDP is half-duplex: an unlock waits for the reply to the poll in flight (poll every 50 ms), which is inside the figure',
  );
}

await runBench(
  'scan-unlock',
  USAGE,
  {
    persons: { type: 'string' },
    scans: { type: 'string' },
    'neighbour-scans': { type: 'string' },
    'neighbour-only': { type: 'boolean' },
  },
  async (ctx) => {
    const { report, quick, values } = ctx;
    const personCount = intFlag(values, 'persons', quick ? 2_000 : 100_000);
    const scans = intFlag(values, 'scans', quick ? 25 : 200);
    const neighbourScans = intFlag(values, 'neighbour-scans', quick ? 100 : 800);
    const keysFile = createKeysFile();
    const keys = parseKeysFile(keysFile);
    const now = Date.now();
    const scansPerRun = (qr: boolean) => (qr ? scans : Math.max(5, Math.floor(scans / 4)));
    const scansOf = (run: Run) => (run.neighbour ? neighbourScans : scansPerRun(run.qrBaud !== undefined));
    const dataDir = join(await ctx.tempDir('scan-unlock'), 'gate');
    const scannerCount = QR_RUNS * scansPerRun(true) + scansPerRun(false) + NEIGHBOUR_RUNS * neighbourScans;
    const scanners = prepareScanners(keys, dataDir, now, personCount, scannerCount);
    (globalThis as { gc?: () => void }).gc?.();
    report.progress(`replica of ${personCount} persons ready`);
    const setup: Setup = { ctx, keysFile, keys, now, dataDir, scanners };
    for (const run of RUNS) {
      if (values['neighbour-only'] && !run.neighbour) continue;
      await measureRun(setup, run, scansOf(run));
    }
    reportOsdpWireTimes(report);
  },
);
