/**
 * The whole system in one process, with real parts only: the aedes broker on 127.0.0.1 (ephemeral
 * port), the full cloud (core + analytics + web routes + revocations, as `createFullCloud`
 * assembles it) and three edge agents whose ID-card reader, QR scanner and OSDP turnstile are the
 * device simulators on in-process virtual serial ports — the wiring of `anxin demo`.
 *
 * Everything is provisioned through the HTTP API over a real socket (compound, gates with their
 * device tokens, a guard login, residents, health colours, QR passes). Then:
 * - passes are scanned and ID cards laid at all three gates; every passage is stored exactly once
 *   and is visible through `GET /api/v1/events` and on the SSE stream `GET /api/v1/live`, opened
 *   the way the guard console opens it (a live ticket in `?token=`);
 * - a resident turned red through `PUT /api/v1/health` is denied `health-red` at every gate once
 *   the change has reached the gates' replicas (rev), and the denials are stored and live too;
 *   turned green again, the resident passes again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fullCloudExtensions } from '../../cloud/full-cloud.ts';
import type { IdCard } from '../../firmware-bridge/idreader/driver.ts';
import type { Direction, HealthColour, Method, Reason, Result } from '../../shared/enums.ts';
import { generateIdNumber } from '../../shared/id-number.ts';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';
import { type GatePassage, type SimulatedGate, startSimulatedGate } from '../../testkit/simulated-gate.ts';
import { openSseStream, type SseStream } from '../helpers/sse-stream.ts';

const COMPOUND = 'jade-court';
const GATE_LANES: { id: string; name: string; direction: Direction }[] = [
  { id: 'north-in', name: '北门 进 North in', direction: 'in' },
  { id: 'south-out', name: '南门 出 South out', direction: 'out' },
  { id: 'east-in', name: '东门 进 East in', direction: 'in' },
];
const GUARD = { username: 'guard-jade', password: 'guard-jade-pw' };
/** Generous bound for anything that crosses the system (decisions, MQTT, ingest, sync). */
const WAIT = { timeout: 10_000, interval: 25 };

interface Person {
  personId: string;
  name: string;
  maskedName: string;
  idNumber: string;
}

/** Deterministic ID numbers (Park–Miller), so every run uses the same people. */
function seededRandom(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
}
const rand = seededRandom(20260311);
const person = (personId: string, name: string, maskedName: string, birthDate: string): Person => ({
  personId,
  name,
  maskedName,
  idNumber: generateIdNumber(rand, { birthDate }),
});
const WANG = person('p-wang', '王建国', '王*国', '1975-02-11');
const LI = person('p-li', '李秀英', '李*英', '1948-09-30');
const ZHAO = person('p-zhao', '赵小明', '赵*明', '1992-12-05');
/** The resident whose health turns red and back to green. */
const CHEN = person('p-chen', '陈红梅', '陈*梅', '1983-07-21');
/** Holds a valid ID card but lives elsewhere: not registered in this compound. */
const STRANGER = person('p-stranger', '孙悟空', '孙*空', '1990-01-01');
const RESIDENTS = [WANG, LI, ZHAO, CHEN];

/** The card a person lays on the reader (the printed fields of a second-generation ID card). */
function idCardOf(p: Person): Omit<IdCard, 'idNumberValid' | 'photo' | 'kind'> {
  const born = p.idNumber.slice(6, 14);
  return {
    name: p.name,
    sex: Number(p.idNumber[16]) % 2 === 1 ? 'male' : 'female',
    nationCode: '01',
    birthDate: `${born.slice(0, 4)}-${born.slice(4, 6)}-${born.slice(6, 8)}`,
    address: '上海市静安区翡翠苑',
    idNumber: p.idNumber,
    authority: '上海市公安局静安分局',
    validFrom: '2016-05-01',
    validTo: '2036-05-01',
  };
}

/** What a passage must look like wherever it shows up (gate journal, `/events`, `/live`). */
interface ExpectedPassage {
  gateId: string;
  seq: number;
  direction: Direction;
  method: Method;
  result: Result;
  reason: Reason;
  health: HealthColour;
  passed: boolean | null;
  personId: string | null;
  maskedName: string | null;
}

interface StoredEvent {
  gateId: string;
  compoundId: string;
  seq: number;
  direction: Direction;
  method: Method;
  result: Result;
  reason: Reason;
  health: HealthColour;
  passed: boolean | null;
  personId?: string;
  idHash?: string;
  passId?: string;
  maskedName: string | null;
  receivedAt: number;
}

interface LiveEntry {
  gateId: string;
  compoundId: string;
  seq: number;
  direction: Direction;
  method: Method;
  result: Result;
  reason: Reason;
  health: HealthColour;
  passed: boolean | null;
  personId: string | null;
  maskedName: string | null;
}

const keysFile = createKeysFile();
let workDir: string;
let broker: TestBroker;
let cloud: TestCloud;
let admin: string;
let manager: string;
let guard: string;
let live: SseStream;
const gates = new Map<string, SimulatedGate>();
const passes = new Map<string, string>();
/** Every passage made at any gate in this suite, in the order the gates decided them. */
const made: ExpectedPassage[] = [];
/** Health timestamps only move forward (the store ignores an older colour). */
let lastHealthTs = 0;

async function api<T>(
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${cloud.baseUrl}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Like `api`, but fails the test unless the status is the expected one. */
async function apiOk<T>(method: string, path: string, token: string, body: unknown, status: number): Promise<T> {
  const res = await api<T>(method, path, token, body);
  expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(status);
  return res.body;
}

async function login(username: string, password: string): Promise<string> {
  const res = await fetch(`${cloud.baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

function gate(id: string): SimulatedGate {
  const found = gates.get(id);
  if (!found) throw new Error(`no gate ${id}`);
  return found;
}

function passOf(p: Person): string {
  const text = passes.get(p.personId);
  if (!text) throw new Error(`no pass for ${p.personId}`);
  return text;
}

/**
 * Records what the gate journaled against what the scenario expects of it. `who` is the person
 * the gate must have recognised (null: nobody).
 */
function record(
  passage: GatePassage,
  expected: { method: Method; result: Result; reason: Reason; health: HealthColour; who: Person | null },
): ExpectedPassage {
  const { event } = passage;
  const lane = GATE_LANES.find((l) => l.id === event.gateId)!;
  const entry: ExpectedPassage = {
    gateId: event.gateId,
    seq: event.seq,
    direction: lane.direction,
    method: expected.method,
    result: expected.result,
    reason: expected.reason,
    health: expected.health,
    // A granted passage is confirmed by the turnstile simulator; a denial has no passage at all.
    passed: expected.result === 'granted' ? true : null,
    personId: expected.who?.personId ?? null,
    maskedName: expected.who?.maskedName ?? null,
  };
  expect(event).toMatchObject({
    gateId: entry.gateId,
    direction: entry.direction,
    method: entry.method,
    result: entry.result,
    reason: entry.reason,
    health: entry.health,
    passed: entry.passed,
    mode: 'normal',
  });
  expect(event.personId ?? null).toBe(entry.personId);
  made.push(entry);
  return entry;
}

const granted = (method: Method, who: Person) =>
  ({ method, result: 'granted', reason: 'ok', health: 'green', who }) as const;
const deniedRed = (method: Method, who: Person) =>
  ({ method, result: 'denied', reason: 'health-red', health: 'red', who }) as const;

async function storedEvents(): Promise<StoredEvent[]> {
  const body = await apiOk<{ events: StoredEvent[]; nextCursor: string | null }>(
    'GET',
    `/events?compound=${COMPOUND}&limit=1000`,
    manager,
    undefined,
    200,
  );
  expect(body.nextCursor).toBeNull();
  return body.events;
}

function liveEntries(): LiveEntry[] {
  return live.messages.filter((m) => m.event === 'entry').map((m) => JSON.parse(m.data) as LiveEntry);
}

const key = (e: { gateId: string; seq: number }) => `${e.gateId}/${e.seq}`;

/** Every passage in `expected` is stored exactly once and streamed exactly once, as the gate decided it. */
async function expectStoredAndLive(expected: readonly ExpectedPassage[]): Promise<void> {
  const stored = await vi.waitFor(async () => {
    const events = await storedEvents();
    const keys = new Set(events.map(key));
    const missing = expected.filter((e) => !keys.has(key(e))).map(key);
    expect(missing, 'passages not yet in GET /events').toEqual([]);
    return events;
  }, WAIT);
  for (const e of expected) {
    const matches = stored.filter((s) => key(s) === key(e));
    expect(matches, `stored copies of ${key(e)}`).toHaveLength(1);
    const [s] = matches;
    expect(s).toMatchObject({
      gateId: e.gateId,
      compoundId: COMPOUND,
      seq: e.seq,
      direction: e.direction,
      method: e.method,
      result: e.result,
      reason: e.reason,
      health: e.health,
      passed: e.passed,
      maskedName: e.maskedName,
    });
    expect(s?.personId ?? null).toBe(e.personId);
    expect(s?.receivedAt).toBeGreaterThan(0);
    // An ID card is matched through its pseudonym; the cloud keeps that (never the number).
    if (e.method === 'idcard') expect(s?.idHash).toMatch(/^[0-9a-f]{64}$/);
    if (e.method === 'qr') expect(s?.passId).toBeDefined();
  }

  await vi.waitFor(() => {
    const keys = new Set(liveEntries().map(key));
    expect(expected.filter((e) => !keys.has(key(e))).map(key), 'passages not yet on /live').toEqual([]);
  }, WAIT);
  const entries = liveEntries();
  for (const e of expected) {
    const matches = entries.filter((l) => key(l) === key(e));
    expect(matches, `live copies of ${key(e)}`).toHaveLength(1);
    expect(matches[0]).toEqual({
      gateId: e.gateId,
      compoundId: COMPOUND,
      seq: e.seq,
      ts: expect.any(Number),
      direction: e.direction,
      method: e.method,
      result: e.result,
      reason: e.reason,
      personId: e.personId,
      maskedName: e.maskedName,
      health: e.health,
      mode: 'normal',
      passed: e.passed,
    });
  }
}

/** Sets one resident's colour through the API and waits until every gate's replica has the change. */
async function setHealth(entry: { personId: string } | { idNumber: string }, colour: HealthColour): Promise<void> {
  lastHealthTs = Math.max(Date.now(), lastHealthTs + 1);
  const result = await apiOk('PUT', '/health', manager, [{ ...entry, colour, ts: lastHealthTs }], 200);
  expect(result).toEqual({ updated: 1, notFound: [] });
  await replicasCaughtUp();
}

/** Waits until every gate's replica — and the status each gate reports to the cloud — has the compound's rev. */
async function replicasCaughtUp(): Promise<number> {
  const { rev } = await apiOk<{ rev: number }>('GET', `/compounds/${COMPOUND}`, manager, undefined, 200);
  expect(rev).toBeGreaterThan(0);
  await vi.waitFor(() => {
    for (const g of gates.values()) expect(g.agent.state().rev, `${g.gateId} replica rev`).toBeGreaterThanOrEqual(rev);
  }, WAIT);
  await vi.waitFor(async () => {
    const { gates: listed } = await apiOk<{ gates: { id: string; status: { online: boolean; rev: number } | null }[] }>(
      'GET',
      `/gates?compound=${COMPOUND}`,
      guard,
      undefined,
      200,
    );
    expect(listed.map((g) => g.id).sort()).toEqual(GATE_LANES.map((l) => l.id).sort());
    for (const g of listed) {
      expect(g.status?.online, `${g.id} online in the cloud`).toBe(true);
      expect(g.status?.rev, `${g.id} rev reported to the cloud`).toBeGreaterThanOrEqual(rev);
    }
  }, WAIT);
  return rev;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'anxin-three-gates-'));
  broker = await startTestBroker({ ring: parseKeysFile(keysFile).ring });
  // The full cloud, wired as `anxin demo` wires it: revoked device tokens go to the embedded broker.
  cloud = await startTestCloud({
    keysFile,
    mqttUrl: broker.url,
    ...fullCloudExtensions({ keysFile, revocations: { onRevocation: (entry) => broker.server.revoke(entry) } }),
  });
  await vi.waitFor(async () => {
    const health = (await (await fetch(`${cloud.baseUrl}/healthz`)).json()) as { mqtt?: string };
    expect(health.mqtt).toBe('connected');
  }, WAIT);

  // Provisioning over HTTP: admin registers the compound's gates and its guard, the manager the rest.
  admin = await cloud.login('admin');
  manager = await cloud.login('manager');
  await apiOk('POST', '/compounds', manager, { id: COMPOUND, name: '翡翠苑 Jade Court' }, 201);
  const tokens = new Map<string, string>();
  for (const lane of GATE_LANES) {
    const created = await apiOk<{ token: string; gate: { id: string; compoundId: string } }>(
      'POST',
      '/gates',
      admin,
      { id: lane.id, compoundId: COMPOUND, name: lane.name },
      201,
    );
    expect(created.gate).toMatchObject({ id: lane.id, compoundId: COMPOUND });
    tokens.set(lane.id, created.token);
  }
  await apiOk('POST', '/users', admin, { ...GUARD, role: 'guard', compoundId: COMPOUND }, 201);
  guard = await login(GUARD.username, GUARD.password);

  for (const [i, p] of RESIDENTS.entries()) {
    await apiOk(
      'POST',
      '/residents',
      manager,
      { personId: p.personId, compoundId: COMPOUND, householdId: `h-${i + 1}`, name: p.name, idNumber: p.idNumber },
      201,
    );
  }
  // Colours by ID number (matched through its pseudonym) and by personId: both forms of the contract.
  lastHealthTs = Date.now();
  const health = await apiOk(
    'PUT',
    '/health',
    manager,
    [
      { idNumber: WANG.idNumber, colour: 'green', ts: lastHealthTs },
      { personId: LI.personId, colour: 'green', ts: lastHealthTs },
      { personId: ZHAO.personId, colour: 'green', ts: lastHealthTs },
      { idNumber: CHEN.idNumber, colour: 'green', ts: lastHealthTs },
    ],
    200,
  );
  expect(health).toEqual({ updated: 4, notFound: [] });
  for (const p of [WANG, ZHAO, CHEN]) {
    const pass = await apiOk<{ text: string; personId: string }>(
      'POST',
      '/passes',
      manager,
      { personId: p.personId, kind: 'resident', validTo: Date.now() + 86_400_000 },
      201,
    );
    expect(pass.personId).toBe(p.personId);
    passes.set(p.personId, pass.text);
  }

  // The guard console's way onto the live stream: trade the sign-in token for a one-minute ticket.
  const { ticket } = await apiOk<{ ticket: string }>('POST', '/auth/live-ticket', guard, undefined, 200);
  live = await openSseStream(`${cloud.baseUrl}/api/v1/live?token=${encodeURIComponent(ticket)}`);
  expect(live.status).toBe(200);
  expect(live.contentType).toContain('text/event-stream');
  await live.waitForComment('connected');

  const started = await Promise.all(
    GATE_LANES.map((lane) =>
      startSimulatedGate({
        gateId: lane.id,
        compoundId: COMPOUND,
        direction: lane.direction,
        mqttUrl: broker.url,
        token: tokens.get(lane.id)!,
        keys: keysFile,
        dataDir: join(workDir, lane.id),
        portPrefix: `three-gates-${process.pid}-${lane.id}`,
      }),
    ),
  );
  for (const g of started) gates.set(g.gateId, g);
  await Promise.all(started.map((g) => g.devicesReady()));
  await replicasCaughtUp();
}, 60_000);

afterAll(async () => {
  await live?.close();
  await Promise.allSettled([...gates.values()].map((g) => g.stop()));
  await cloud?.stop();
  await broker?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 30_000);

describe('broker + full cloud + three simulated gates', () => {
  it('stores every passage at the three gates once, visible through GET /events and /live', async () => {
    const [north, south, east] = await Promise.all([
      (async () => [
        record(await gate('north-in').scanQr(passOf(WANG)), granted('qr', WANG)),
        record(await gate('north-in').swipeIdCard(idCardOf(CHEN)), granted('idcard', CHEN)),
      ])(),
      (async () => [
        record(await gate('south-out').swipeIdCard(idCardOf(LI)), granted('idcard', LI)),
        record(await gate('south-out').scanQr(passOf(CHEN)), granted('qr', CHEN)),
      ])(),
      (async () => [
        record(await gate('east-in').scanQr(passOf(ZHAO)), granted('qr', ZHAO)),
        record(await gate('east-in').swipeIdCard(idCardOf(STRANGER)), {
          method: 'idcard',
          result: 'denied',
          reason: 'unknown-person',
          health: 'unknown',
          who: null,
        }),
      ])(),
    ]);
    await expectStoredAndLive([...north!, ...south!, ...east!]);

    // A guard reads the same passages without the pseudonyms (docs/architecture.md rule 5).
    const asGuard = await apiOk<{ events: StoredEvent[] }>('GET', '/events?limit=1000', guard, undefined, 200);
    expect(asGuard.events.length).toBeGreaterThanOrEqual(6);
    expect(asGuard.events.every((e) => e.compoundId === COMPOUND && e.idHash === undefined)).toBe(true);
  });

  it('denies a resident at every gate with health-red once PUT /health has reached the gates, and stores and streams the denials', async () => {
    await setHealth({ idNumber: CHEN.idNumber }, 'red');
    const denials = await Promise.all([
      gate('north-in')
        .swipeIdCard(idCardOf(CHEN))
        .then((p) => record(p, deniedRed('idcard', CHEN))),
      gate('south-out')
        .scanQr(passOf(CHEN))
        .then((p) => record(p, deniedRed('qr', CHEN))),
      gate('east-in')
        .swipeIdCard(idCardOf(CHEN))
        .then((p) => record(p, deniedRed('idcard', CHEN))),
    ]);
    await expectStoredAndLive(denials);
    // Only that resident: the others still pass.
    const other = record(await gate('east-in').scanQr(passOf(ZHAO)), granted('qr', ZHAO));
    await expectStoredAndLive([other]);
  });

  it('grants the resident again at every gate once the colour is green again', async () => {
    await setHealth({ personId: CHEN.personId }, 'green');
    const grants = await Promise.all([
      gate('north-in')
        .scanQr(passOf(CHEN))
        .then((p) => record(p, granted('qr', CHEN))),
      gate('south-out')
        .swipeIdCard(idCardOf(CHEN))
        .then((p) => record(p, granted('idcard', CHEN))),
      gate('east-in')
        .scanQr(passOf(CHEN))
        .then((p) => record(p, granted('qr', CHEN))),
    ]);
    await expectStoredAndLive(grants);
  });

  it('ends with every journal acknowledged and each gate’s seq 1…n stored exactly once', async () => {
    await vi.waitFor(() => {
      for (const g of gates.values()) expect(g.agent.journalDepth, `${g.gateId} journal depth`).toBe(0);
    }, WAIT);
    // What the gates journaled, whatever the scenario expected of it: one event per decision.
    const journaled = [...gates.values()].reduce((n, g) => n + g.agent.counters.decisions, 0);
    expect(journaled).toBe(made.length);
    const stored = await storedEvents();
    expect(stored).toHaveLength(journaled);
    expect(new Set(stored.map(key)).size).toBe(journaled);
    for (const g of gates.values()) {
      const seqs = stored
        .filter((e) => e.gateId === g.gateId)
        .map((e) => e.seq)
        .sort((a, b) => a - b);
      expect(seqs, `${g.gateId} seqs`).toEqual(Array.from({ length: g.agent.counters.decisions }, (_, i) => i + 1));
    }
    await expectStoredAndLive(made);
    expect(liveEntries()).toHaveLength(journaled);
  });
});
