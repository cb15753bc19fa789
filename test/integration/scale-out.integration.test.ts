/**
 * Several cloud instances on one PostgreSQL and one Mosquitto (docs/deploy.md, "Scaling out"),
 * all real: a throwaway PostgreSQL cluster (testkit/postgres.ts), Debian's Mosquitto with the
 * generated dynamic-security accounts (testkit/mosquitto.ts), two `anxin cloud` processes in one
 * shared-subscription group, and gates made of the gate's own journal and uplink
 * (testkit/journaled-gate.ts: QoS 1, resend on no ack, journal pruned only by the cloud's ack).
 *
 * - `/live` across instances: a manager's SSE stream on each instance shows every passage,
 *   though each passage was stored by one instance only (PostgreSQL LISTEN/NOTIFY).
 * - One instance SIGKILLed mid-ingest: the gates' backlogs end fully acknowledged by the other,
 *   and the database holds every passage exactly once — 0 lost, 0 duplicated.
 * Bounded in passages and time; every wait is on an event or a condition, never a fixed sleep.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mosquittoAccounts } from '../../broker/mosquitto-config.ts';
import { hashPassword } from '../../cloud/auth/password-hash.ts';
import { PostgresCloudStore } from '../../cloud/store/postgres/postgres-store.ts';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';
import { signToken } from '../../shared/token.ts';
import { AnxinProcess, cloudArgs, eventually, waitForPort, writeKeys } from '../../testkit/anxin-process.ts';
import { JournaledGate } from '../../testkit/journaled-gate.ts';
import { freePort, type RunningMosquitto, startMosquitto } from '../../testkit/mosquitto.ts';
import { createTestDatabase, type TestDatabase } from '../../testkit/postgres.ts';
import { resident } from '../cloud/fixtures.ts';

const COMPOUND = 'c-1';
const GATES = ['g-1', 'g-2', 'g-3', 'g-4'];
const PERSONS = Array.from({ length: 12 }, (_, i) => `p-${i}`);
const LIVE_PER_GATE = 5;
const BURST_PER_GATE = 150;
const GROUP = 'scale';
const PASSWORD = 'scale-out-pw';

let dir: string;
let db: TestDatabase;
let mosquitto: RunningMosquitto;
const clouds: { process: AnxinProcess; port: number }[] = [];
const gates: JournaledGate[] = [];
let query: (sql: string) => Promise<pg.QueryResultRow[]>;
let admin: pg.Client;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-scale-out-'));
  db = await createTestDatabase('scale_out');
  const store = await PostgresCloudStore.open({ url: db.url, max: 2 });
  await store.createCompound({ id: COMPOUND, name: COMPOUND, timeZone: 'Asia/Shanghai' }, Date.now());
  for (const id of GATES)
    await store.createGate({ id, compoundId: COMPOUND, name: id, antiPassback: false }, Date.now());
  await store.upsertResidents(PERSONS.map((p) => resident(p, COMPOUND)));
  const passwordHash = await hashPassword(PASSWORD);
  await store.createUser({ username: 'mgr', passwordHash, role: 'manager', compoundId: null, createdAt: Date.now() });
  await store.close();
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  query = async (sql) => (await admin.query(sql)).rows;

  const keysFile = createKeysFile();
  const signing = parseKeysFile(keysFile).signing!;
  const keyPaths = writeKeys(dir, keysFile);
  const accounts = mosquittoAccounts(
    { gates: GATES.map((id) => ({ id, compound: COMPOUND })), clouds: ['cloud-a', 'cloud-b'] },
    (claims) => signToken({ ...claims, exp: Date.now() + 3_600_000 }, signing),
  );
  const password = (username: string) => accounts.find((a) => a.username === username)!.password;
  mosquitto = await startMosquitto({ accounts });
  for (const name of ['cloud-a', 'cloud-b']) {
    const port = await freePort();
    const args = cloudArgs({
      port,
      mqttUrl: mosquitto.url,
      db: db.url,
      keysPath: keyPaths.privatePath,
      mqttLogin: { clientId: name, token: password(name) },
    });
    const process = new AnxinProcess(name, [...args, '--mqtt-share-group', GROUP, '--db-pool', '4']);
    process.spawn();
    clouds.push({ process, port });
  }
  for (const cloud of clouds) {
    await waitForPort(cloud.port, 60_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${cloud.process.output}`);
    });
    await eventually(
      async () =>
        (await health(cloud.port)).mqtt === 'connected' && (await health(cloud.port)).liveFanout === 'listening',
      `${cloud.process.name} subscribed and listening`,
      30_000,
      () => cloud.process.output,
    );
  }
  for (const gateId of GATES) {
    gates.push(
      await JournaledGate.start({
        gateId,
        mqttUrl: mosquitto.url,
        token: password(gateId),
        dir: join(dir, gateId),
        persons: PERSONS,
      }),
    );
  }
}, 180_000);

afterAll(async () => {
  for (const gate of gates) await gate.stop();
  for (const cloud of clouds) await cloud.process.kill('SIGTERM');
  await admin?.end();
  await mosquitto?.stop();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function health(port: number): Promise<Record<string, unknown>> {
  try {
    return (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** The `/live` entries a manager's SSE stream on `port` shows, as `gateId:seq`. */
async function liveStream(port: number): Promise<{ seen: Set<string>; close(): void }> {
  const login = await fetch(`http://127.0.0.1:${port}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'mgr', password: PASSWORD }),
  });
  expect(login.status).toBe(200);
  const { token } = (await login.json()) as { token: string };
  const abort = new AbortController();
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/live`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    signal: abort.signal,
  });
  expect(response.status).toBe(200);
  const seen = new Set<string>();
  void (async () => {
    let buffer = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!/^event: entry$/m.test(frame)) continue;
          const data = JSON.parse(/^data: (.*)$/m.exec(frame)![1]!) as { gateId: string; seq: number };
          seen.add(`${data.gateId}:${data.seq}`);
        }
      }
    } catch {
      // aborted
    }
  })();
  return { seen, close: () => abort.abort() };
}

/** The cloud's connections waiting on a lock: each instance writes one batch at a time, so two = both instances. */
const WAITING_INGESTS = `SELECT COUNT(*) AS n FROM pg_stat_activity
  WHERE application_name = 'anxin-cloud' AND wait_event_type = 'Lock'`;

const ingested = async (port: number) => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return [...text.matchAll(/^anxin_ingest_events_total(?:\{[^}]*\})? (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
};

describe('two cloud instances, one PostgreSQL, one Mosquitto', () => {
  it("shows every passage on each instance's /live, whichever instance stored it", async () => {
    const streams = await Promise.all(clouds.map((cloud) => liveStream(cloud.port)));
    try {
      for (const gate of gates) gate.append(LIVE_PER_GATE);
      await Promise.all(gates.map((gate) => gate.fullyAcked()));
      const expected = GATES.flatMap((g) => Array.from({ length: LIVE_PER_GATE }, (_, i) => `${g}:${i + 1}`));
      for (const stream of streams) {
        await eventually(() => expected.every((key) => stream.seen.has(key)), 'every passage on the stream', 30_000);
      }
      // The group split the ingest: each instance stored some, so each stream showed the other's.
      for (const cloud of clouds) expect(await ingested(cloud.port)).toBeGreaterThan(0);
    } finally {
      for (const stream of streams) stream.close();
    }
  }, 120_000);

  it('loses nothing and stores nothing twice when one instance is SIGKILLed mid-ingest', async () => {
    const [a, b] = clouds as [(typeof clouds)[0], (typeof clouds)[0]];
    const total = GATES.length * (LIVE_PER_GATE + BURST_PER_GATE);
    const firstHalf = BURST_PER_GATE / 2;
    const stored = async () => Number((await query('SELECT COUNT(*) AS n FROM events'))[0]!.n);
    // Part of the burst stored…
    for (const gate of gates) gate.append(firstHalf);
    await eventually(
      async () => (await stored()) >= GATES.length * LIVE_PER_GATE + 60,
      'part of the burst stored',
      60_000,
    );
    // …then no batch may commit: `events` locked against writers (readers go on) until the kill.
    // The rest of the burst cannot be stored meanwhile, so the kill is mid-ingest whatever the
    // machine's speed, and each instance is waiting inside an ingest transaction of its own.
    await admin.query('BEGIN');
    try {
      await admin.query('LOCK TABLE events IN EXCLUSIVE MODE');
      for (const gate of gates) gate.append(BURST_PER_GATE - firstHalf);
      await eventually(
        async () => Number((await query(WAITING_INGESTS))[0]!.n) >= 2,
        'both instances waiting inside an ingest transaction',
        60_000,
      );
      const killed = await a.process.kill('SIGKILL');
      expect(killed.signal).toBe('SIGKILL');
      expect(await stored()).toBeLessThan(total);
    } finally {
      await admin.query('COMMIT');
    }
    await Promise.all(gates.map((gate) => gate.fullyAcked()));
    for (const gate of gates) expect(gate.journal.ackedUpTo()).toBe(LIVE_PER_GATE + BURST_PER_GATE);

    const perGate = await query(
      'SELECT gate_id, COUNT(*)::int AS n, COUNT(DISTINCT seq)::int AS distinct_seqs, MIN(seq)::int AS lo, MAX(seq)::int AS hi FROM events GROUP BY gate_id ORDER BY gate_id',
    );
    expect(perGate).toEqual(
      GATES.map((gateId) => ({
        gate_id: gateId,
        n: LIVE_PER_GATE + BURST_PER_GATE,
        distinct_seqs: LIVE_PER_GATE + BURST_PER_GATE,
        lo: 1,
        hi: LIVE_PER_GATE + BURST_PER_GATE,
      })),
    );
    expect(await stored()).toBe(total);
    // The survivor took over: it answered what the killed one never acked.
    expect((await health(b.port)).mqtt).toBe('connected');
    expect(b.process.unexpectedExits).toEqual([]);
  }, 180_000);
});
