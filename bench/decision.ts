/**
 * Edge decision: `decideEntry` alone over the gate's real SQLite replica holding N persons
 * (default 100 k), per credential kind, beside the floors it cannot beat — the Ed25519 verify of
 * a QR pass, the HMAC of an ID number, one indexed SQLite read — and beside the same decisions over
 * an in-memory Map replica (the peer: what the SQLite adapter costs). QR passes are measured twice,
 * as the agent decides them (a `VerifiedPassCache` in the gate context): a first scan (every pass
 * new: Ed25519 verify + cache insert) and a repeat scan (a pass seen before: the verify is skipped,
 * everything else checked). Device passes (`AX2:`, docs/passes.md "Device passes") three ways, each
 * a frame the gate has not seen before:
 *
 * - first scan, cold: a certificate the gate has never seen at all (not by sync, not scanned):
 *   Ed25519 of the certificate + the P-256 key decompressed and imported + ECDSA of the frame, all on
 *   the scan path;
 * - first scan, certificate received by sync: the cloud pushed it (`pass.device`) and the gate's
 *   background verifier checked its Ed25519 signature then (docs/passes.md "Certificates by sync");
 *   the scan imports the stored point and verifies the frame's ECDSA;
 * - new frame of a certificate already scanned here: ECDSA only (the imported key is cached).
 *
 * The sync's own CPU per certificate (applying the change, verifying it in the background) is printed too.
 *
 *   node --import tsx bench/decision.ts [--quick] [--persons 100k] [--decisions 20000]
 */
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type Credential, decideEntry, type GateContext } from '../edge-agent/decision.ts';
import { openGateDatabase } from '../edge-agent/gate-database.ts';
import { VerifiedPassCache } from '../edge-agent/pass-cache.ts';
import { ReplicaStore } from '../edge-agent/replica-store.ts';
import type { ReplicaView } from '../edge-agent/replica-view.ts';
import { verifyDevicePass } from '../shared/device-pass.ts';
import type { Direction } from '../shared/enums.ts';
import { createKeysFile, type ParsedKeys, parseKeysFile } from '../shared/keys.ts';
import { newPassId, signPass, verifyPass } from '../shared/pass.ts';
import { pseudonymizeIdNumber } from '../shared/pseudonym.ts';
import { type BenchContext, intFlag, runBench } from './lib/cli.ts';
import { type DevicePassSet, devicePassSet, MapReplica, syncCertificates } from './lib/decision-replicas.ts';
import { generatePopulation, replicaChanges, type SyntheticPerson } from './lib/population.ts';
import { randomInt, seededRandom } from './lib/prng.ts';
import { latencyFigures } from './lib/report.ts';
import { Samples } from './lib/samples.ts';

const USAGE = `bench decision [--quick] [--persons N] [--decisions N] [--json FILE]
  decideEntry over a SQLite replica of N persons (default 100k; --quick 10k), per credential kind.`;

const TARGET_P99_MS = 0.2;
/** The target for a device pass's first scan (docs/passes.md); both kinds of first scan and a new frame are held to it. */
const DEVICE_FIRST_SCAN_TARGET_P99_MS = 0.5;

/**
 * A full GC before each measured series: the set-up (100 k generated persons, the replica load,
 * thousands of signed passes) leaves garbage whose collection would otherwise land in whichever
 * series runs next (measured: first-scan p99 4 ms in one run, 0.22 ms in the next).
 */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
const DAY_MS = 86_400_000;
const COMPOUND_ID = 'c-0';

type Report = BenchContext<unknown>['report'];

/** What every part of the run shares: the keys, the clock, the population and the sample size. */
interface Setup {
  report: Report;
  keys: ParsedKeys;
  now: number;
  persons: readonly SyntheticPerson[];
  /** Decisions measured per credential kind and view. */
  perKind: number;
  random: () => number;
}

/** The gate's own SQLite replica of the population, loaded 5 k changes a transaction as a sync applies them. */
function loadReplica(setup: Setup, dir: string) {
  const { report, persons, now } = setup;
  const db = openGateDatabase(join(dir, 'gate'), { synchronous: 'full' });
  const replica = new ReplicaStore(db);
  const loadStart = process.hrtime.bigint();
  const changes = replicaChanges(persons, now - DAY_MS);
  const chunk = 5_000;
  for (let i = 0; i < changes.length; i += chunk) replica.applyDelta(changes.slice(i, i + chunk), i + chunk);
  replica.touchCloudContact(now - 60_000);
  const loadS = Number(process.hrtime.bigint() - loadStart) / 1e9;
  report.progress(`replica loaded: ${replica.personCount()} persons in ${loadS.toFixed(1)} s`);
  return { db, replica, loadS, rssWithReplica: process.memoryUsage().rss / 2 ** 20 };
}

/** The credentials the kinds draw from, signed up front: signing is the cloud's cost, not the gate's. */
interface SignedCredentials {
  /** Passes scanned again and again (the repeat scans). */
  passes: string[];
  /** Passes the gate has not seen (first scans, warm-up included). */
  freshPasses: string[];
  /** One frame each of device certificates the gate has not seen, by sync or otherwise. */
  freshDevice: string[];
  /** Certificates the cloud pushes to the gate before any frame of them is scanned (one frame each). */
  synced: DevicePassSet;
  /** Eleven frames each of known certificates: the first warms the cache, the others are scanned. */
  knownDevice: string[][];
}

function signCredentials(setup: Setup): SignedCredentials {
  const { report, keys, now, persons, perKind, random } = setup;
  const somePersonId = () => persons[randomInt(random, persons.length)]!.record.personId;
  const grant = {
    compoundId: COMPOUND_ID,
    kind: 'resident',
    notBefore: now - DAY_MS,
    expiresAt: now + 30 * DAY_MS,
  } as const;
  const signSome = (count: number) =>
    Array.from({ length: count }, () =>
      signPass({ passId: newPassId(), personId: somePersonId(), ...grant }, keys.signing!),
    );
  const passes = signSome(Math.min(perKind, 5_000));
  report.progress(`signing ${perKind + 1_000} distinct passes for the first-scan figures`);
  const freshPasses = signSome(perKind + Math.min(1_000, perKind));

  // Device passes: certificates never seen (cold), pushed by sync before their first scan, and known.
  report.progress(`signing ${2 * (perKind + 1_000)} device certificates and frames`);
  const count = perKind + Math.min(1_000, perKind);
  const device = { signing: keys.signing!, compoundId: COMPOUND_ID, now, personId: somePersonId };
  const freshDevice = devicePassSet(count, 1, device).frames.map((frames) => frames[0]!);
  // One certificate per person: a second one of the same person would replace the first (by sync).
  let distinct = 0;
  const nextPersonId = () => persons[(distinct++ * 7_919) % persons.length]!.record.personId;
  const synced = devicePassSet(count, 1, { ...device, personId: nextPersonId });
  const knownDevice = devicePassSet(Math.min(perKind, 2_000), 11, device).frames;
  return { passes, freshPasses, freshDevice, synced, knownDevice };
}

/**
 * One credential maker per kind measured; `rewind` starts the first-scan kinds over at their first
 * credential (each series draws the same unseen passes).
 */
function credentialKinds(setup: Setup, signed: SignedCredentials) {
  const { persons, random } = setup;
  const { passes, freshPasses, freshDevice, knownDevice } = signed;
  const syncedDevice = signed.synced.frames.map((frames) => frames[0]!);
  let fresh = 0;
  let freshDeviceAt = 0;
  const somePerson = () => persons[randomInt(random, persons.length)]!;
  const carded = persons.filter((p) => p.record.cards.length > 0);
  const direction = (): Direction => (random() < 0.5 ? 'in' : 'out');
  const kinds: Record<string, () => Credential> = {
    'qr first scan': () => ({ method: 'qr', direction: direction(), text: freshPasses[fresh++ % freshPasses.length]! }),
    'qr repeat scan': () => ({ method: 'qr', direction: direction(), text: passes[randomInt(random, passes.length)]! }),
    'qr device pass first scan, cold (certificate never seen)': () => ({
      method: 'qr',
      direction: direction(),
      text: freshDevice[freshDeviceAt++ % freshDevice.length]!,
    }),
    'qr device pass first scan, certificate received by sync': () => ({
      method: 'qr',
      direction: direction(),
      text: syncedDevice[freshDeviceAt++ % syncedDevice.length]!,
    }),
    'qr device pass new frame': () => ({
      method: 'qr',
      direction: direction(),
      text: knownDevice[randomInt(random, knownDevice.length)]![1 + randomInt(random, 10)]!,
    }),
    idcard: () => {
      const p = somePerson();
      return {
        method: 'idcard',
        direction: direction(),
        card: { idNumber: p.idNumber, idNumberValid: true, validTo: null, maskedName: p.record.maskedName },
      };
    },
    card: () => ({
      method: 'card',
      direction: direction(),
      card: carded.length > 0 ? carded[randomInt(random, carded.length)]!.record.cards[0]! : '1:1',
    }),
    'idcard-unknown': () => ({
      method: 'idcard',
      direction: direction(),
      card: { idNumber: '11010119900307803X', idNumberValid: true, validTo: null },
    }),
  };
  const rewind = () => {
    fresh = 0;
    freshDeviceAt = 0;
  };
  return { kinds, rewind };
}

/** One series: `perKind` decisions of one kind over one view, after a warm-up and a full GC. */
function measureKind(
  setup: Setup,
  series: { viewName: string; view: ReplicaView; kind: string; make: () => Credential },
  gate: GateContext,
  signed: SignedCredentials,
) {
  const { report, now, perKind } = setup;
  const { viewName, view, kind, make } = series;
  const warmUp = Array.from({ length: Math.min(1_000, perKind) }, make);
  const credentials = Array.from({ length: perKind }, make);
  // The agent's gate context carries a pass cache; a repeat scan finds its pass in it.
  const context: GateContext = { ...gate, passCache: new VerifiedPassCache() };
  if (kind === 'qr repeat scan') for (const text of signed.passes) context.passCache!.verify(text, gate.ring, now);
  if (kind === 'qr device pass new frame') {
    for (const frames of signed.knownDevice) context.passCache!.verifyDevice(frames[0]!, gate.ring, now, 60_000);
  }
  // Warm-up: JIT, statement cache, SQLite page cache.
  for (const credential of warmUp)
    decideEntry(credential, { ...context, passCache: new VerifiedPassCache() }, view, now);
  collectGarbage();
  const before = { ...context.passCache!.stats };
  const samples = new Samples();
  const reasons = new Map<string, number>();
  for (const credential of credentials) {
    const start = process.hrtime.bigint();
    const decision = decideEntry(credential, context, view, now);
    samples.addNs(process.hrtime.bigint() - start);
    reasons.set(decision.reason, (reasons.get(decision.reason) ?? 0) + 1);
  }
  const d = samples.distribution();
  const [hits, misses, synced] = (['hits', 'misses', 'synced'] as const).map(
    (k) => context.passCache!.stats[k] - before[k],
  );
  const mix =
    [...reasons].map(([r, n]) => `${r} ${((100 * n) / perKind).toFixed(0)}%`).join(', ') +
    (kind.startsWith('qr') ? `; pass cache hits ${hits}/${hits! + misses!}, verified at sync ${synced}` : '');
  const isTarget = viewName === 'sqlite';
  const target = kind.startsWith('qr device pass') ? DEVICE_FIRST_SCAN_TARGET_P99_MS : TARGET_P99_MS;
  report.add(
    ...latencyFigures(
      `decideEntry ${kind} [${viewName}]`,
      d,
      isTarget ? { p99: target } : undefined,
      isTarget ? mix : undefined,
    ),
  );
  report.add({ name: `decideEntry ${kind} [${viewName}] throughput`, value: 1000 / d.mean, unit: '/s' });
}

/** Floors: what a decision of each kind cannot avoid (a signature check, the ID-number HMAC, one indexed read). */
function measureFloors(setup: Setup, signed: SignedCredentials, replica: ReplicaStore) {
  const { report, keys, now, persons, perKind } = setup;
  const floor = (name: string, fn: (i: number) => void) => {
    for (let i = 0; i < 500; i++) fn(i);
    collectGarbage();
    const samples = new Samples();
    for (let i = 0; i < perKind; i++) {
      const start = process.hrtime.bigint();
      fn(i);
      samples.addNs(process.hrtime.bigint() - start);
    }
    const d = samples.distribution();
    report.add(
      { name: `floor: ${name} p50`, value: d.p50, unit: 'ms' },
      { name: `floor: ${name} p99`, value: d.p99, unit: 'ms' },
    );
  };
  const { passes, freshDevice } = signed;
  floor('Ed25519 verifyPass', (i) => verifyPass(passes[i % passes.length]!, keys.ring, now));
  floor('Ed25519 + P-256 verifyDevicePass', (i) =>
    verifyDevicePass(freshDevice[i % freshDevice.length]!, keys.ring, now, 60_000),
  );
  floor('HMAC-SHA-256 pseudonym', (i) => pseudonymizeIdNumber(persons[i % persons.length]!.idNumber, keys.pepper));
  floor('SQLite personById (indexed get + JSON.parse)', (i) =>
    replica.personById(persons[(i * 7919) % persons.length]!.record.personId),
  );
}

await runBench(
  'decision',
  USAGE,
  { persons: { type: 'string' }, decisions: { type: 'string' } },
  async ({ report, quick, values, tempDir }) => {
    const personCount = intFlag(values, 'persons', quick ? 10_000 : 100_000);
    const perKind = intFlag(values, 'decisions', quick ? 2_000 : 20_000);
    const keys = parseKeysFile(createKeysFile());
    const now = Date.UTC(2026, 0, 15, 8, 0, 0);

    report.progress(`generating ${personCount} persons`);
    const { persons } = generatePopulation({ count: personCount, pepper: keys.pepper });
    const setup: Setup = {
      report,
      keys,
      now,
      persons,
      perKind,
      random: seededRandom(7),
    };
    const { db, replica, loadS, rssWithReplica } = loadReplica(setup, await tempDir('decision'));
    const gate: GateContext = {
      gateId: 'g-0',
      compoundId: COMPOUND_ID,
      ring: keys.ring,
      pepper: keys.pepper,
      antiPassback: true,
      yellowPolicy: 'deny',
      stalenessLimitMs: 15 * 60_000,
      fireAlarm: false,
    };
    const signed = signCredentials(setup);
    const { kinds, rewind } = credentialKinds(setup, signed);
    const mapReplica = new MapReplica(persons, now - 60_000);
    report.progress(`syncing ${signed.synced.changes.length} device certificates to the gate`);
    const sync = syncCertificates(replica, keys.ring, signed.synced, mapReplica);
    report.add(
      {
        name: 'sync: pass.device change applied (stored unverified), CPU per certificate',
        value: sync.applyMs,
        unit: 'ms',
      },
      {
        name: 'sync: background verification (Ed25519 + point), CPU per certificate',
        value: sync.verifyMs,
        unit: 'ms',
      },
    );
    const views: [string, ReplicaView][] = [
      ['sqlite', replica],
      ['map (peer)', mapReplica],
    ];
    for (const [viewName, view] of views) {
      for (const [kind, make] of Object.entries(kinds)) {
        rewind();
        measureKind(setup, { viewName, view, kind, make }, gate, signed);
      }
    }
    measureFloors(setup, signed, replica);

    report.add({
      name: `RSS of this process with the ${personCount} person replica open`,
      value: rssWithReplica,
      unit: 'MB',
      note: 'reference; the edge agent process itself is measured in bench/sync.ts',
    });
    report.add({ name: 'replica load (applyDelta, 5k per tx)', value: persons.length / loadS, unit: 'persons/s' });
    db.close();
  },
);
