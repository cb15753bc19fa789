/**
 * Cloud readiness (docs/edge-agent.md "Cloud readiness"): after a broker restart the backlog drains and the gate is current as soon as
 * broker and cloud are both back — not when the 30 s ack timer or the 15 s sync retry fires. Gate
 * and cloud use clean sessions, so what the gate sends before the cloud has re-subscribed is
 * dropped by the broker; the cloud's retained `{online: true}` on `anxin/v1/cloud/status`
 * (published once it has subscribed) is what makes the gate resend and ask for sync
 * (edge-agent/cloud-readiness.ts).
 *
 * The broker is really restarted (the embedded aedes broker stopped and started again on the same
 * port; then Mosquitto killed and started again on its port). The gate's ack timer and sync retry
 * are set to ten minutes, so anything that arrives within the test was sent because of readiness;
 * the uplink's timeout-resend counter is checked to be zero.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerServer } from '../../broker/server.ts';
import { createBrokerServer } from '../../broker/server.ts';
import { generateMosquittoConfig, newAdminPassword } from '../../broker/mosquitto-config.ts';
import type { Actor } from '../../cloud/registry/actor.ts';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { createKeysFile, parseKeysFile, publicOnly } from '../../shared/keys.ts';
import { signToken } from '../../shared/token.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';
import { findMosquitto, freePort } from '../../testkit/mosquitto.ts';
import { eventually } from '../../testkit/deployment.ts';

const COMPOUND = 'c-ready';
const HOUR = 3_600_000;
const TEN_MINUTES = 600_000;
const ADMIN: Actor = { username: 'admin', role: 'admin' };

const keysFile = createKeysFile();
const keys = parseKeysFile(keysFile);
const EXP = Date.now() + HOUR;
/** Deterministic per gate: Mosquitto's password file holds exactly this text. */
const tokens = new Map<string, string>();
const gateToken = (gateId: string) => {
  let token = tokens.get(gateId);
  if (token === undefined) {
    token = signToken({ sub: gateId, role: 'gate', compound: COMPOUND, exp: EXP }, keys.signing!);
    tokens.set(gateId, token);
  }
  return token;
};
const cloudToken = signToken({ sub: 'cloud', role: 'cloud', exp: Date.now() + HOUR }, keys.signing!);

/** A broker that can be stopped and started again on the same port. */
interface RestartableBroker {
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

async function aedesBroker(): Promise<RestartableBroker> {
  const port = await freePort();
  let server: BrokerServer | undefined;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    async start() {
      server = createBrokerServer({ keys: keys.ring, port, host: '127.0.0.1' });
      await server.start();
    },
    async stop() {
      await server?.stop();
      server = undefined;
    },
  };
}

async function mosquittoBroker(gateIds: readonly string[]): Promise<RestartableBroker & { dir: string }> {
  const binary = findMosquitto();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'anxin-ready-mosq-'));
  const files = generateMosquittoConfig({
    dir,
    port,
    host: '127.0.0.1',
    accounts: [
      { username: 'cloud', role: 'cloud', password: cloudToken },
      ...gateIds.map((id) => ({ username: id, role: 'gate' as const, compound: COMPOUND, password: gateToken(id) })),
    ],
    admin: { password: newAdminPassword() },
    ...(process.getuid?.() === 0 ? { runAsUser: 'root' } : {}),
  });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o600 });
  let child: ChildProcess | undefined;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    dir,
    async start() {
      const started = spawn(binary, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
      child = started;
      let log = '';
      started.stderr?.setEncoding('utf8');
      started.stderr?.on('data', (chunk: string) => {
        log += chunk;
      });
      await eventually(
        () => /mosquitto version \S+ running/.test(log) || started.exitCode !== null,
        'mosquitto listening',
        10_000,
        () => log,
      );
      if (started.exitCode !== null) throw new Error(`mosquitto exited: ${log}`);
    },
    async stop() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGKILL');
      await exited;
    },
  };
}

interface Setup {
  broker: RestartableBroker;
  cloud: TestCloud;
  agent: EdgeAgent;
  dir: string;
}

async function setUp(broker: RestartableBroker, gateId: string, cloudOptions: { mqttToken?: string } = {}) {
  await broker.start();
  const cloud = await startTestCloud({ mqttUrl: broker.url, keysFile, ...cloudOptions });
  const { store } = cloud.cloud.core;
  if (!(await store.getCompound(COMPOUND)))
    await store.createCompound({ id: COMPOUND, name: 'Ready', timeZone: 'Asia/Shanghai' }, Date.now());
  await store.createGate({ id: gateId, compoundId: COMPOUND, name: gateId, antiPassback: false }, Date.now());
  const dir = mkdtempSync(join(tmpdir(), 'anxin-ready-'));
  const agent = createEdgeAgent(
    parseEdgeConfig({
      gateId,
      compoundId: COMPOUND,
      mqtt: { url: broker.url, token: gateToken(gateId), reconnectMs: 200 },
      keys: publicOnly(keysFile),
      dataDir: dir,
      http: { enabled: false },
      // Nothing below may be what made the backlog or the sync request go out again.
      timeouts: { ackMs: TEN_MINUTES, syncRetryMs: TEN_MINUTES, cloudReadyMs: TEN_MINUTES },
      stalenessLimitMs: 24 * HOUR,
    }),
  );
  await agent.start();
  await eventually(() => agent.status().online && agent.inputCounters.readiness.ready > 0, 'the gate ready');
  return { broker, cloud, agent, dir };
}

async function tearDown(s: Setup | undefined): Promise<void> {
  if (!s) return;
  await s.agent.stop();
  await s.cloud.stop();
  await s.broker.stop();
  rmSync(s.dir, { recursive: true, force: true });
}

const cloudConnected = async (cloud: TestCloud) =>
  ((await (await fetch(`${cloud.baseUrl}/healthz`)).json()) as { mqtt?: string }).mqtt === 'connected';

/** Stops the broker, journals `n` passages and changes the mode meanwhile, starts it again; returns how long the gate took to be current. */
async function restartOnce(s: Setup, gateId: string, n: number, mode: 'lockdown' | 'normal') {
  await s.broker.stop();
  await eventually(() => !s.agent.status().online, 'the gate offline');
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) {
    const { seq } = s.agent.manualOpen({ direction: i % 2 ? 'in' : 'out', reason: 'outage', guard: 'g' });
    if (seq !== null) seqs.push(seq);
  }
  // Committed in the cloud, but its publish is lost: only a sync request can bring it to the gate.
  await s.cloud.cloud.core.registry.setMode(COMPOUND, mode, 'during the outage', ADMIN);
  expect(s.agent.status().mode).not.toBe(mode);

  await s.broker.start();
  await eventually(() => cloudConnected(s.cloud), 'the cloud connected again');
  const bothBack = Date.now();
  const last = seqs[seqs.length - 1]!;
  await eventually(
    async () => (await s.cloud.cloud.core.store.ackedUpTo(gateId)) >= last && s.agent.journalDepth === 0,
    'the backlog stored and acknowledged',
    60_000,
  );
  await eventually(() => s.agent.status().mode === mode, `the gate in ${mode}`, 60_000);
  return Date.now() - bothBack;
}

describe('cloud readiness after a broker restart', () => {
  let s: Setup | undefined;
  afterEach(async () => {
    await tearDown(s);
    s = undefined;
  }, 30_000);

  it('aedes: three restarts, each backlog stored and each mode change applied without any timer', {
    timeout: 180_000,
  }, async () => {
    const gateId = 'g-ready-aedes';
    s = await setUp(await aedesBroker(), gateId);
    const readyBefore = s.agent.inputCounters.readiness.ready;
    const took: number[] = [];
    for (const [i, mode] of (['lockdown', 'normal', 'lockdown'] as const).entries()) {
      took.push(await restartOnce(s, gateId, 50 + i * 100, mode));
    }
    const stored = s.cloud.cloud.core.store;
    const page = await stored.queryEvents({ gateId, limit: 1000 });
    expect(page.events.length).toBe(50 + 150 + 250);
    // No ack timeout resent anything, no fallback fired: readiness did it.
    expect(s.agent.inputCounters.acks.resends).toBe(0);
    expect(s.agent.inputCounters.readiness.fallbacks).toBe(0);
    expect(s.agent.inputCounters.readiness.ready).toBeGreaterThanOrEqual(readyBefore + 3);
    console.info(`aedes restarts: gate current ${took.join(', ')} ms after broker and cloud were back`);
  });

  it('Mosquitto: killed and restarted, the backlog and the mode change arrive', { timeout: 120_000 }, async () => {
    const gateId = 'g-ready-mosq';
    const broker = await mosquittoBroker([gateId]);
    s = await setUp(broker, gateId, { mqttToken: cloudToken });
    const took = await restartOnce(s, gateId, 80, 'lockdown');
    expect(s.agent.inputCounters.acks.resends).toBe(0);
    expect(s.agent.inputCounters.readiness.fallbacks).toBe(0);
    console.info(`mosquitto restart: gate current ${took} ms after broker and cloud were back`);
    rmSync(broker.dir, { recursive: true, force: true });
  });

  it('a cloud restart behind a broker that stays up: the gate resends what the cloud missed', {
    timeout: 120_000,
  }, async () => {
    const gateId = 'g-ready-cloud';
    s = await setUp(await aedesBroker(), gateId);
    const dbPath = s.cloud.dbPath;
    await s.cloud.stop({ keepDb: true });
    // The cloud said `online: false` as it stopped: the gate holds its events instead of losing them.
    await eventually(() => s!.agent.inputCounters.readiness.cloudOffline > 0, 'the gate told the cloud is gone');
    const seqs: number[] = [];
    for (let i = 0; i < 30; i++) seqs.push(s.agent.manualOpen({ direction: 'in', reason: 'x', guard: 'g' }).seq!);
    s.cloud = await startTestCloud({ mqttUrl: s.broker.url, keysFile, reuseDbPath: dbPath });
    await eventually(
      async () => (await s!.cloud.cloud.core.store.ackedUpTo(gateId)) >= seqs[seqs.length - 1]!,
      'the passages made while the cloud was down stored',
      60_000,
    );
    expect(s.agent.inputCounters.acks.resends).toBe(0);
  });
});
