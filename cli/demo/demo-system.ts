/**
 * `anxin demo`: the whole system on one machine — broker, cloud, and simulated gates whose
 * device simulators sit at the far end of their serial ports (in-process virtual ports by
 * default, real socat ptys with `--pty`), plus a seeded compound and a traffic generator.
 * Everything goes through the real code paths: bytes on serial lines, MQTT on 127.0.0.1, the
 * cloud's registry for seeding. A second start reuses the data directory.
 *
 * Start-up can be interrupted (`options.signal`, aborted on Ctrl-C): whatever has started is
 * stopped again and `startDemo` rejects with `DemoStartInterrupted`. Seeding is idempotent (users,
 * compound and gates are created if missing, residents upserted by person id) and the state file
 * is written only once it is complete, so the next start simply seeds again.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createBrokerServer } from '../../broker/server.ts';
import { hashPassword } from '../../cloud/auth/password-hash.ts';
import type { Cloud } from '../../cloud/cloud-service.ts';
import { isPostgresUrl, redactedUrl } from '../../cloud/store/postgres/postgres-store.ts';
import type { CloudStore } from '../../cloud/store/store.ts';
import { createFullCloud } from '../../cloud/full-cloud.ts';
import type { Actor } from '../../cloud/registry/actor.ts';
import type { EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { hashGuardPin } from '../../edge-agent/terminal/guard-pin.ts';
import type { SimulatedCard } from '../../firmware-bridge/idreader/simulator.ts';
import { openPtyPair, type PtyPair } from '../../firmware-bridge/testing/socat-pty.ts';
import { replugVirtualPort, unplugVirtualPort } from '../../firmware-bridge/testing/virtual-binding.ts';
import type { Direction, HttpRole } from '../../shared/enums.ts';
import { createKeysFile, type KeysFile, parseKeysFile } from '../../shared/keys.ts';
import type { Logger } from '../../shared/log.ts';
import { signToken } from '../../shared/token.ts';
import { type SerialPairs, type SimulatedGate, startSimulatedGate } from '../../testkit/simulated-gate.ts';
import { type DemoPerson, generatePopulation } from './population.ts';
import { type DemoGateRig, TrafficGenerator, type TrafficStats } from './traffic.ts';

export interface DemoOptions {
  gates: number;
  residents: number;
  port: number;
  mqttPort: number;
  dataDir: string;
  /** Scans per second across all gates. */
  rate: number;
  password: string;
  /** Real socat ptys instead of in-process virtual serial ports. */
  pty: boolean;
  host: string;
  /** The cloud's database: a SQLite file (default DATA/cloud.db) or a `postgres://` URL. */
  db?: string;
  /** PostgreSQL only: the cloud's pool size. */
  dbPool?: number;
  logger: Logger;
  /** One line of progress for the person watching. */
  progress: (line: string) => void;
  /** Aborted (Ctrl-C) during start-up: stop what has started, reject with `DemoStartInterrupted`. */
  signal?: AbortSignal;
}

/** Start-up was interrupted through `DemoOptions.signal`; everything started so far is stopped again. */
export class DemoStartInterrupted extends Error {
  constructor() {
    super('start-up interrupted');
    this.name = 'DemoStartInterrupted';
  }
}

export interface DemoUrls {
  console: string;
  dashboard: string;
  signIn: string;
  mqtt: string;
  terminals: { gateId: string; url: string }[];
}

export interface RunningDemo {
  urls: DemoUrls;
  /** The traffic generator's counters since the start, and the arrival rate it offers right now. */
  traffic(): TrafficStats & { offeredRate: number };
  stop(): Promise<void>;
}

/** The demo gates' guard: signs in to each terminal's `/guard` panel with this id and PIN (printed at `ready`). */
export const DEMO_GUARD = { id: 'guard', name: '值班门卫 Duty guard', pinText: '2468' } as const;
let demoGuardPinHash: string | undefined;
/** Hashed once per process (scrypt takes a moment), shared by every demo gate. */
function demoGuardPin(): string {
  demoGuardPinHash ??= hashGuardPin(DEMO_GUARD.pinText);
  return demoGuardPinHash;
}

const DEMO_COMPOUND = { id: 'sunny-garden', name: '阳光花园 Sunny Garden', timeZone: 'Asia/Shanghai' };
const DEMO_USERS: { username: string; role: HttpRole; compound?: string }[] = [
  { username: 'admin', role: 'admin' },
  { username: 'manager', role: 'manager' },
  { username: 'guard', role: 'guard', compound: DEMO_COMPOUND.id },
];
const SEED_ACTOR: Actor = { username: 'demo-seed', role: 'admin' };
const ENTRANCES = ['north', 'south', 'east', 'west', 'garage'];
const PASS_DAYS = 365;
const POPULATION_SEED = 20260401;
/** Residents per import call: the registry checks a batch at a time, and Ctrl-C is noticed in between. */
const IMPORT_BATCH = 5_000;

interface DemoState {
  version: 1;
  /** The database this state was seeded into (absent: the default DATA/cloud.db). */
  db?: string;
  residents: number;
  gates: string[];
  passes: Record<string, string>;
}

/** Lanes come in pairs: north-in, north-out, south-in, … (each lane is one gate device). */
function demoGateIds(count: number): { gateId: string; direction: Direction; name: string }[] {
  return Array.from({ length: count }, (_, i) => {
    const direction: Direction = i % 2 === 0 ? 'in' : 'out';
    const entrance = ENTRANCES[Math.floor(i / 2)];
    const gateId = entrance ? `${entrance}-${direction}` : `lane-${i + 1}`;
    const zh = direction === 'in' ? '进' : '出';
    return { gateId, direction, name: `${gateId} (${zh})` };
  });
}

function loadOrCreateKeys(dataDir: string): KeysFile {
  const path = join(dataDir, 'keys.json');
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as KeysFile;
  const file = createKeysFile();
  writeFileSync(path, JSON.stringify(file, null, 2), { mode: 0o600 });
  return file;
}

/** The database, its name in the state file (no PostgreSQL password), and the last run's state on it. */
function previousRun(statePath: string, dataDir: string, options: Pick<DemoOptions, 'db' | 'dbPool'>) {
  const defaultDb = join(dataDir, 'cloud.db');
  const db = options.db ?? defaultDb;
  const dbName = isPostgresUrl(db) ? redactedUrl(db) : db;
  const database = { db, ...(options.dbPool !== undefined ? { dbPool: options.dbPool } : {}) };
  return { database, dbName, previous: readState(statePath, dbName, defaultDb) };
}

/** The state of the last run on this database; another database (`--db`) starts afresh. */
function readState(path: string, db: string, defaultDb: string): DemoState | undefined {
  if (!existsSync(path)) return undefined;
  const state = JSON.parse(readFileSync(path, 'utf8')) as DemoState;
  if (state.version !== 1) return undefined;
  return (state.db ?? defaultDb) === db ? state : undefined;
}

/** Written whole or not at all (a temporary file renamed over the old one). */
function writeState(path: string, state: DemoState): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(state));
  renameSync(`${path}.tmp`, path);
}

/**
 * Throws `DemoStartInterrupted` once the signal is aborted. It first yields to the event loop:
 * seeding runs on synchronous SQLite calls, so without a yield a Ctrl-C would not even be seen.
 */
async function checkpoint(signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return;
  await new Promise((resolve) => setImmediate(resolve));
  if (signal.aborted) throw new DemoStartInterrupted();
}

/**
 * The demo sign-ins, with the password of this start: created if missing, otherwise their password
 * is set again, so what the demo prints is true.
 */
async function ensureDemoUsers(store: CloudStore, password: string): Promise<void> {
  const passwordHash = await hashPassword(password);
  for (const user of DEMO_USERS) {
    if (await store.setPasswordHash(user.username, passwordHash)) continue;
    await store.createUser({
      username: user.username,
      passwordHash,
      role: user.role,
      compoundId: user.compound ?? null,
      createdAt: Date.now(),
    });
  }
}

async function seed(cloud: Cloud, options: DemoOptions, gates: ReturnType<typeof demoGateIds>, persons: DemoPerson[]) {
  const { registry, store } = cloud.core;
  const progress = options.progress;
  await ensureDemoUsers(store, options.password);
  if (!(await store.getCompound(DEMO_COMPOUND.id))) {
    await registry.createCompound(DEMO_COMPOUND, SEED_ACTOR);
    await registry.setQuotaPolicy(DEMO_COMPOUND.id, 1, 48, SEED_ACTOR);
  }
  const known = new Set((await store.listGates(DEMO_COMPOUND.id)).map((g) => g.id));
  for (const gate of gates) {
    if (known.has(gate.gateId)) continue;
    await registry.registerGate(
      { id: gate.gateId, compoundId: DEMO_COMPOUND.id, name: gate.name, antiPassback: false },
      SEED_ACTOR,
    );
  }

  if (persons.length === 0) return {};

  progress(`seeding ${persons.length} residents …`);
  const rows = persons.map((p, i) => ({
    row: i + 2,
    personId: p.personId,
    compoundId: DEMO_COMPOUND.id,
    householdId: p.householdId,
    kind: p.kind,
    name: p.name,
    idNumber: p.idNumber,
    cards: [],
    elderly: p.elderly,
    validFrom: null,
    validTo: null,
  }));
  for (let from = 0; from < rows.length; from += IMPORT_BATCH) {
    await checkpoint(options.signal);
    const batch = rows.slice(from, from + IMPORT_BATCH);
    const imported = await registry.importResidents(batch, SEED_ACTOR);
    if ('errors' in imported) throw new Error(`demo residents did not import: ${JSON.stringify(imported.errors[0])}`);
    await registry.updateHealth(
      persons.slice(from, from + IMPORT_BATCH).map((p) => ({ personId: p.personId, colour: p.health, ts: Date.now() })),
      SEED_ACTOR,
    );
    if (rows.length > IMPORT_BATCH) progress(`imported ${from + batch.length}/${rows.length} residents …`);
  }

  const passes: Record<string, string> = {};
  const withPhone = persons.filter((p) => p.hasPhone);
  // About twenty progress lines at most, one per 500 passes for a small compound.
  const every = Math.max(500, Math.round(withPhone.length / 20 / 500) * 500);
  for (const [i, person] of withPhone.entries()) {
    if (i % 100 === 0) await checkpoint(options.signal);
    const pass = await registry.issuePass(
      { personId: person.personId, kind: 'resident', validTo: Date.now() + PASS_DAYS * 86_400_000 },
      SEED_ACTOR,
    );
    passes[person.personId] = pass.text;
    if ((i + 1) % every === 0) progress(`issued ${i + 1}/${withPhone.length} QR passes …`);
  }
  return passes;
}

interface GateRuntime {
  agent: EdgeAgent;
  rig: DemoGateRig;
  stop(): Promise<void>;
}

/** Real socat pty pairs (`--pty`), opened with the operating system's serial binding. */
function ptySerialPairs(opened: Map<string, PtyPair>): SerialPairs {
  return {
    binding: undefined,
    async pair(device) {
      const pair = await openPtyPair();
      opened.set(device, pair);
      return pair;
    },
  };
}

/** The card the reader reads for a demo resident (the ID number says the birth date and sex). */
function demoCard(person: DemoPerson, expired: boolean): SimulatedCard {
  const born = person.idNumber.slice(6, 14);
  return {
    name: person.name,
    sex: Number(person.idNumber[16]) % 2 === 1 ? 'male' : 'female',
    nationCode: '01',
    birthDate: `${born.slice(0, 4)}-${born.slice(4, 6)}-${born.slice(6, 8)}`,
    address: '上海市徐汇区阳光花园',
    idNumber: person.idNumber,
    authority: '上海市公安局徐汇分局',
    validFrom: expired ? '2004-05-01' : '2016-05-01',
    validTo: expired ? '2024-05-01' : person.elderly ? null : '2036-05-01',
  };
}

/** The traffic generator's handle on one gate: its simulators, and unplugging the QR scanner. */
function demoRig(gate: SimulatedGate, direction: Direction, ptys: Map<string, PtyPair>, logger: Logger): DemoGateRig {
  return {
    gateId: gate.gateId,
    direction,
    scanQr: (text) => gate.qrSim.scan(text),
    async swipeIdCard(person, opts = {}) {
      gate.idSim.presentCard(demoCard(person, opts.expired === true));
      await new Promise((r) => setTimeout(r, 1_200));
      gate.idSim.removeCard();
    },
    forcePassage: () => gate.turnstileSim.forcePassage(direction),
    faultQrScanner(ms) {
      const pty = ptys.get('qr');
      if (pty) {
        pty
          .kill()
          .then(() => new Promise((r) => setTimeout(r, ms)))
          .then(() => pty.restart())
          .catch((err: unknown) => logger.warn({ err }, 'demo: replugging the QR pty failed'));
        return;
      }
      unplugVirtualPort(gate.ports.qr.a);
      setTimeout(() => replugVirtualPort(gate.ports.qr.a), ms).unref();
    },
  };
}

/** One demo lane: the test kit's simulated gate (testkit/simulated-gate.ts) at a live pace. */
async function startGate(
  gate: { gateId: string; direction: Direction },
  index: number,
  options: DemoOptions,
  keys: KeysFile,
  mqttUrl: string,
): Promise<GateRuntime> {
  const { gateId, direction } = gate;
  const ptys = new Map<string, PtyPair>();
  const simulated = await startSimulatedGate({
    gateId,
    compoundId: DEMO_COMPOUND.id,
    direction,
    mqttUrl,
    token: signToken(
      { sub: gateId, role: 'gate', compound: DEMO_COMPOUND.id, exp: Date.now() + 365 * 86_400_000 },
      parseKeysFile(keys).signing!,
    ),
    keys,
    dataDir: join(options.dataDir, 'gates', gateId),
    portPrefix: gateId,
    pace: 'live',
    http: { port: options.port + 1 + index, host: options.host },
    terminal: { guards: [{ id: DEMO_GUARD.id, name: DEMO_GUARD.name, pin: demoGuardPin() }] },
    ...(options.pty ? { serial: ptySerialPairs(ptys) } : {}),
    logger: options.logger,
  });
  const logger = options.logger.child({ gateId });
  return { agent: simulated.agent, rig: demoRig(simulated, direction, ptys, logger), stop: () => simulated.stop() };
}

/** What has started so far, stopped in reverse order (on `stop()` or a failed start). */
type Stops = (() => Promise<void>)[];

/** The embedded broker and the full cloud on it; both are pushed onto `stops`. */
async function startServers(
  options: DemoOptions,
  database: { db: string; dbPool?: number },
  keys: KeysFile,
  stops: Stops,
) {
  const broker = createBrokerServer({
    port: options.mqttPort,
    host: options.host,
    keys: parseKeysFile(keys).ring,
    logger: options.logger.child({ component: 'broker' }),
  });
  const { port: mqttPort } = await broker.start();
  stops.push(() => broker.stop());
  await checkpoint(options.signal);
  const mqttUrl = `mqtt://${options.host}:${mqttPort}`;
  options.progress(`broker listening on ${mqttUrl}`);

  const cloud = createFullCloud({
    ...database,
    mqttUrl,
    keysFile: keys,
    port: options.port,
    host: options.host,
    logger: options.logger,
    // A gate revoked through the API is cut off by the embedded broker at once.
    revocations: { onRevocation: (entry) => broker.revoke(entry) },
  });
  const { httpPort } = await cloud.start();
  stops.push(() => cloud.stop());
  options.progress(`cloud on http://${options.host}:${httpPort}`);
  await checkpoint(options.signal);
  return { cloud, mqttUrl, httpPort };
}

/** Every lane of the demo, one after the other; each is pushed onto `stops`. */
async function startGates(
  gates: ReturnType<typeof demoGateIds>,
  options: DemoOptions,
  keys: KeysFile,
  mqttUrl: string,
  stops: Stops,
): Promise<GateRuntime[]> {
  const runtimes: GateRuntime[] = [];
  for (const [i, gate] of gates.entries()) {
    await checkpoint(options.signal);
    const runtime = await startGate(gate, i, options, keys, mqttUrl);
    runtimes.push(runtime);
    stops.push(() => runtime.stop());
    options.progress(`gate ${gate.gateId} up (${options.pty ? 'socat ptys' : 'virtual serial ports'})`);
  }
  await checkpoint(options.signal);
  return runtimes;
}

export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(join(dataDir, 'gates'), { recursive: true });
  const keys = loadOrCreateKeys(dataDir);
  const statePath = join(dataDir, 'demo-state.json');
  const { database, dbName, previous } = previousRun(statePath, dataDir, options);
  const residents = previous?.residents ?? options.residents;
  const gates = demoGateIds(previous ? Math.max(previous.gates.length, options.gates) : options.gates);
  const stops: Stops = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
  };

  try {
    await checkpoint(options.signal);
    options.progress(`data in ${dataDir}${previous ? ' (reusing the previous run)' : ''}`);
    if (previous && previous.residents !== options.residents) {
      options.progress(
        `the compound in ${dataDir} already exists and is reused with its ${previous.residents} residents ` +
          `(--residents ${options.residents} applies to a new compound only: give another --data DIR, or delete ${dataDir})`,
      );
    }
    const { cloud, mqttUrl, httpPort } = await startServers(options, database, keys, stops);

    const persons = generatePopulation(residents, POPULATION_SEED).persons;
    let passes = previous?.passes;
    if (!passes) {
      passes = await seed(cloud, options, gates, persons);
    } else {
      await seed(cloud, { ...options, progress: () => undefined }, gates, []);
    }
    // Written once seeding is complete (an interrupted seeding leaves none: the next start seeds again);
    // rewritten when a bigger --gates added lanes, so that the next start starts them too.
    if (!previous || previous.gates.length !== gates.length) {
      writeState(statePath, { version: 1, db: dbName, residents, gates: gates.map((g) => g.gateId), passes });
    }

    const runtimes = await startGates(gates, options, keys, mqttUrl, stops);
    const traffic = new TrafficGenerator({
      rate: options.rate,
      persons,
      passes: new Map(Object.entries(passes)),
      gates: runtimes.map((r) => r.rig),
      logger: options.logger.child({ component: 'demo.traffic' }),
    });
    traffic.start();
    stops.push(async () => traffic.stop());

    const base = `http://${options.host}:${httpPort}`;
    return {
      urls: {
        signIn: `${base}/`,
        console: `${base}/console`,
        dashboard: `${base}/dashboard`,
        mqtt: mqttUrl,
        terminals: runtimes.map((r) => ({ gateId: r.rig.gateId, url: r.agent.terminalUrl ?? '' })),
      },
      traffic: () => ({ ...traffic.stats(), offeredRate: traffic.offeredRate() }),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
