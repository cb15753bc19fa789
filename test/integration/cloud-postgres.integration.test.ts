/**
 * The full cloud on PostgreSQL (docs/deploy.md, "Scaling out"): `createFullCloud` with every
 * extension on a throwaway PostgreSQL database (testkit/postgres.ts), the embedded aedes broker on
 * 127.0.0.1, and two edge agents whose devices are the simulators on virtual serial ports.
 *
 * Provisioned through the HTTP API; then passages made at the gates are stored exactly once in
 * PostgreSQL (rows counted in the database, acks moved there), reach `GET /api/v1/events`, the
 * statistics and a person's trace; a health change syncs to both gates' replicas and is enforced;
 * and a cloud restarted on the same database serves what it stored and takes new passages on.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fullCloudExtensions } from '../../cloud/full-cloud.ts';
import { partsWithoutPostgres } from '../../cloud/postgres-readiness.ts';
import type { Direction } from '../../shared/enums.ts';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';
import { createTestDatabase, type TestDatabase } from '../../testkit/postgres.ts';
import { type SimulatedGate, startSimulatedGate } from '../../testkit/simulated-gate.ts';
import { callApi } from '../../testkit/api-client.ts';

const COMPOUND = 'pg-court';
const LANES: { id: string; direction: Direction }[] = [
  { id: 'pg-north-in', direction: 'in' },
  { id: 'pg-north-out', direction: 'out' },
];
const RESIDENTS = ['p-pg-1', 'p-pg-2', 'p-pg-3'];
const WAIT = { timeout: 15_000, interval: 25 };

const keysFile = createKeysFile();
let database: TestDatabase;
let sql: pg.Pool;
let workDir: string;
let broker: TestBroker;
let cloud: TestCloud;
let manager: string;
const gates = new Map<string, SimulatedGate>();
const passes = new Map<string, string>();
/** `gateId/seq` of every passage the gates journaled. */
const made: string[] = [];

async function api<T>(method: string, path: string, token: string, body?: unknown, status = 200): Promise<T> {
  const answer = await callApi<T>(`${cloud.baseUrl}/api/v1${path}`, method, { token, body });
  expect(answer.status, `${method} ${path}: ${answer.text}`).toBe(status);
  return (answer.text ? answer.body : undefined) as T;
}

async function startCloud(reuse: boolean): Promise<TestCloud> {
  const started = await startTestCloud({
    keysFile,
    mqttUrl: broker.url,
    ...(reuse ? { reuseDbPath: database.url } : { postgresUrl: database.url }),
    dbPool: 4,
    ...fullCloudExtensions({ keysFile, revocations: { onRevocation: (entry) => broker.server.revoke(entry) } }),
  });
  await vi.waitFor(async () => {
    const health = (await (await fetch(`${started.baseUrl}/healthz`)).json()) as { mqtt?: string };
    expect(health.mqtt).toBe('connected');
  }, WAIT);
  return started;
}

/** Scans a resident's pass at a gate and records the journaled passage. */
async function scan(gateId: string, personId: string): Promise<void> {
  const { event } = await gates.get(gateId)!.scanQr(passes.get(personId)!);
  expect(event).toMatchObject({ gateId, personId, result: 'granted' });
  made.push(`${event.gateId}/${event.seq}`);
}

async function storedKeys(): Promise<string[]> {
  const body = await api<{ events: { gateId: string; seq: number }[] }>(
    'GET',
    `/events?compound=${COMPOUND}&limit=1000`,
    manager,
  );
  return body.events.map((e) => `${e.gateId}/${e.seq}`);
}

/** Every passage made so far is in GET /events exactly once, and in PostgreSQL's own tables exactly once. */
async function expectStoredOnce(): Promise<void> {
  await vi.waitFor(async () => {
    expect((await storedKeys()).sort()).toEqual([...made].sort());
  }, WAIT);
  const rows = await sql.query<{ key: string; copies: number }>(
    `SELECT gate_id || '/' || seq AS key, count(*)::int AS copies FROM events GROUP BY gate_id, seq`,
  );
  expect(rows.rows.map((r) => r.key).sort()).toEqual([...made].sort());
  expect(rows.rows.every((r) => r.copies === 1)).toBe(true);
  // The ack mark lives in the database: each gate acknowledged up to its last passage.
  await vi.waitFor(async () => {
    for (const lane of LANES) {
      const last = Math.max(0, ...made.filter((k) => k.startsWith(`${lane.id}/`)).map((k) => Number(k.split('/')[1])));
      const acked = await sql.query<{ up_to: number }>('SELECT up_to FROM gate_acks WHERE gate_id = $1', [lane.id]);
      expect(Number(acked.rows[0]?.up_to ?? 0), `${lane.id} ack mark`).toBe(last);
    }
  }, WAIT);
}

async function replicasCaughtUp(): Promise<void> {
  const { rev } = await api<{ rev: number }>('GET', `/compounds/${COMPOUND}`, manager);
  await vi.waitFor(() => {
    for (const g of gates.values()) expect(g.agent.state().rev, `${g.gateId} rev`).toBeGreaterThanOrEqual(rev);
  }, WAIT);
}

beforeAll(async () => {
  // The whole cloud must be able to store here: a part without PostgreSQL storage fails this suite loudly.
  expect(partsWithoutPostgres()).toEqual([]);
  database = await createTestDatabase('cloud_e2e');
  sql = new pg.Pool({ connectionString: database.url, max: 2 });
  workDir = await mkdtemp(join(tmpdir(), 'anxin-cloud-pg-'));
  broker = await startTestBroker({ ring: parseKeysFile(keysFile).ring });
  cloud = await startCloud(false);
  const admin = await cloud.login('admin');
  manager = await cloud.login('manager');

  await api('POST', '/compounds', manager, { id: COMPOUND, name: 'PostgreSQL Court' }, 201);
  const tokens = new Map<string, string>();
  for (const lane of LANES) {
    const created = await api<{ token: string }>(
      'POST',
      '/gates',
      admin,
      { id: lane.id, compoundId: COMPOUND, name: lane.id },
      201,
    );
    tokens.set(lane.id, created.token);
  }
  for (const [i, personId] of RESIDENTS.entries()) {
    await api(
      'POST',
      '/residents',
      manager,
      { personId, compoundId: COMPOUND, householdId: `h-pg-${i}`, name: `居民${i}` },
      201,
    );
    const pass = await api<{ text: string }>(
      'POST',
      '/passes',
      manager,
      { personId, kind: 'resident', validTo: Date.now() + 86_400_000 },
      201,
    );
    passes.set(personId, pass.text);
  }
  const started = await Promise.all(
    LANES.map((lane) =>
      startSimulatedGate({
        gateId: lane.id,
        compoundId: COMPOUND,
        direction: lane.direction,
        mqttUrl: broker.url,
        token: tokens.get(lane.id)!,
        keys: keysFile,
        dataDir: join(workDir, lane.id),
        portPrefix: `cloud-pg-${process.pid}-${lane.id}`,
      }),
    ),
  );
  for (const g of started) gates.set(g.gateId, g);
  await Promise.all(started.map((g) => g.devicesReady()));
  await replicasCaughtUp();
}, 90_000);

afterAll(async () => {
  await Promise.all([...gates.values()].map((g) => g.stop()));
  await cloud?.stop();
  await broker?.stop();
  await sql?.end();
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('the full cloud on PostgreSQL', () => {
  it('stores every passage of two gates once, acks from the database, and serves events, statistics and traces', async () => {
    const from = Date.now() - 60_000;
    for (const personId of RESIDENTS) await scan('pg-north-in', personId);
    await scan('pg-north-out', RESIDENTS[0]!);
    await expectStoredOnce();

    const to = Date.now() + 60_000;
    const summary = await api<{ passages: { total: number } }>(
      'GET',
      `/stats/summary?compound=${COMPOUND}&from=${from}&to=${to}`,
      manager,
    );
    expect(summary.passages.total).toBe(made.length);
    const trace = await api<{ passages: { gateId: string }[] }>(
      'GET',
      `/trace/person/${RESIDENTS[0]}?from=${from}&to=${to}&reason=${encodeURIComponent('PostgreSQL end-to-end check')}`,
      manager,
    );
    expect(trace.passages.map((p) => p.gateId).sort()).toEqual(['pg-north-in', 'pg-north-out']);
  }, 60_000);

  it('syncs a health change to both gates, which then deny the resident', async () => {
    await api('PUT', '/health', manager, [{ personId: RESIDENTS[1], colour: 'red', ts: Date.now() }]);
    await replicasCaughtUp();
    for (const lane of LANES) {
      const { event } = await gates.get(lane.id)!.scanQr(passes.get(RESIDENTS[1]!)!);
      expect(event).toMatchObject({ personId: RESIDENTS[1], result: 'denied', reason: 'health-red' });
      made.push(`${event.gateId}/${event.seq}`);
    }
    await expectStoredOnce();
  }, 60_000);

  it('restarts on the same database: what was stored stays, new passages follow once', async () => {
    await cloud.stop({ keepDb: true });
    cloud = await startCloud(true);
    manager = await cloud.login('manager');
    expect((await storedKeys()).sort()).toEqual([...made].sort());
    await scan('pg-north-out', RESIDENTS[2]!);
    await expectStoredOnce();
  }, 90_000);
});
