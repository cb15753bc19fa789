/**
 * Several cloud instances in one shared-subscription group (`anxin cloud --mqtt-share-group`,
 * docs/deploy.md "Scaling out"). On Debian's real Mosquitto (a missing mosquitto fails this suite,
 * it never skips) each passage reaches exactly one instance of the group, while every instance
 * still gets every status. The embedded broker (aedes 1.x) has no shared subscriptions: it refuses
 * `$share/…` (broker/aedes-hooks.ts), and a cloud started with a group says so and stops —
 * `CloudMqttClient.start()` rejects, `anxin cloud` exits 2 with the reason (docs/deploy.md).
 */
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mosquittoAccounts } from '../../broker/mosquitto-config.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vi } from 'vitest';
import { run as runCloudCommand } from '../../cli/commands/cloud.ts';
import {
  CloudMqttClient,
  cloudSubscriptions,
  SharedSubscriptionsRefusedError,
} from '../../cloud/mqtt/cloud-mqtt-client.ts';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';
import { silentLogger } from '../../shared/log.ts';
import { signToken } from '../../shared/token.ts';
import { topics } from '../../shared/topics.ts';
import { closeAll, connect, signingKey } from '../broker/fixtures.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { type RunningMosquitto, startMosquitto } from '../../testkit/mosquitto.ts';

const GROUP = 'ingest';
const PASSAGES = 20;

interface Instance {
  client: CloudMqttClient;
  received: { topic: string; payload: string }[];
}

const instances: CloudMqttClient[] = [];
afterEach(async () => {
  await Promise.all(instances.splice(0).map((client) => client.stop()));
  await closeAll();
});

async function startInstance(url: string, clientId: string, token: () => string): Promise<Instance> {
  const received: Instance['received'] = [];
  const client = new CloudMqttClient({
    url,
    clientId,
    token,
    sharedGroup: GROUP,
    onMessage: async (topic, payload) => void received.push({ topic, payload: payload.toString() }),
    logger: silentLogger,
    connectWaitMs: 5_000,
  });
  instances.push(client);
  await client.start();
  expect(client.connected).toBe(true);
  return { client, received };
}

/** Publishes `PASSAGES` events messages (payload `{"n":i}`) and one status as gate `g1`. */
async function publishAsGate(gate: MqttClient): Promise<void> {
  for (let n = 0; n < PASSAGES; n++) await gate.publishAsync(topics.gateEvents('g1'), `{"n":${n}}`, { qos: 1 });
  await gate.publishAsync(topics.gateStatus('g1'), '{"online":true}', { qos: 1 });
}

const eventsOf = (instance: Instance) =>
  instance.received.filter((m) => m.topic === topics.gateEvents('g1')).map((m) => JSON.parse(m.payload).n as number);
const statusesOf = (instance: Instance) => instance.received.filter((m) => m.topic === topics.gateStatus('g1'));

async function until(condition: () => boolean, what: string, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

describe('cloud subscriptions with a shared group', () => {
  it('shares every kind but status and sync/ack (snapshot acks reach every instance)', () => {
    expect(Object.keys(cloudSubscriptions(GROUP)).sort()).toEqual([
      `$share/${GROUP}/anxin/v1/gates/+/alarms`,
      // Claims and asks are decided in the store (one hold per household), so any instance may take them.
      `$share/${GROUP}/anxin/v1/gates/+/claims`,
      `$share/${GROUP}/anxin/v1/gates/+/claims/ask`,
      `$share/${GROUP}/anxin/v1/gates/+/cmd/result`,
      `$share/${GROUP}/anxin/v1/gates/+/events`,
      `$share/${GROUP}/anxin/v1/gates/+/sync/request`,
      'anxin/v1/gates/+/status',
      'anxin/v1/gates/+/sync/ack',
    ]);
    expect(Object.keys(cloudSubscriptions())).not.toContainEqual(expect.stringMatching(/^\$share/));
  });

  it('refuses a group name that is not one plain topic level', () => {
    for (const bad of ['', 'A', 'a/b', '+', 'x'.repeat(65)]) {
      expect(
        () =>
          new CloudMqttClient({
            url: 'mqtt://127.0.0.1:1',
            clientId: 'cloud',
            token: () => 't',
            sharedGroup: bad,
            onMessage: async () => {},
            logger: silentLogger,
          }),
      ).toThrow(/sharedGroup/);
    }
  });
});

describe('two cloud instances in one group on Mosquitto', () => {
  const accounts = mosquittoAccounts(
    { gates: [{ id: 'g1', compound: 'c1' }], clouds: ['cloud-a', 'cloud-b'] },
    (claims) => signToken({ ...claims, exp: Date.now() + 3_600_000 }, signingKey),
  );
  const password = (username: string) => accounts.find((a) => a.username === username)!.password;
  let mosquitto: RunningMosquitto;
  beforeAll(async () => {
    mosquitto = await startMosquitto({ accounts });
  });
  afterAll(() => mosquitto?.stop());

  it('delivers each passage to exactly one instance, and every status to both', async () => {
    const a = await startInstance(mosquitto.url, 'cloud-a', () => password('cloud-a'));
    const b = await startInstance(mosquitto.url, 'cloud-b', () => password('cloud-b'));
    const gate = await connect(mosquitto.url, { clientId: 'g1', username: 'g1', password: password('g1') });
    await publishAsGate(gate);
    await until(
      () => eventsOf(a).length + eventsOf(b).length >= PASSAGES && statusesOf(a).length + statusesOf(b).length >= 2,
      'every passage and both statuses',
    );
    await settle(); // a duplicate would arrive now
    const all = [...eventsOf(a), ...eventsOf(b)].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: PASSAGES }, (_, n) => n));
    expect(eventsOf(a).length).toBeGreaterThan(0);
    expect(eventsOf(b).length).toBeGreaterThan(0);
    expect(statusesOf(a)).toHaveLength(1);
    expect(statusesOf(b)).toHaveLength(1);
  });
});

describe('a cloud with a shared group on the embedded broker (aedes)', () => {
  const keysFile = createKeysFile();
  const signing = parseKeysFile(keysFile).signing!;
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker({ ring: new Map([[signing.kid, signing.publicKey]]) });
  });
  afterAll(() => broker?.stop());

  it('is refused: start() rejects naming the broker and the fix, the link says refused, nothing comes in', async () => {
    const received: string[] = [];
    const client = new CloudMqttClient({
      url: broker.url,
      clientId: 'cloud-a',
      token: () => signToken({ sub: 'cloud-a', role: 'cloud', exp: Date.now() + 60_000 }, signing),
      sharedGroup: GROUP,
      onMessage: async (topic) => void received.push(topic),
      logger: silentLogger,
      connectWaitMs: 5_000,
      reconnectMs: 50,
    });
    instances.push(client);
    const started = client.start();
    await expect(started).rejects.toBeInstanceOf(SharedSubscriptionsRefusedError);
    await expect(started).rejects.toThrow(/refused the shared subscriptions \$share\/ingest\/.*aedes.*Mosquitto/);
    expect(client.connected).toBe(false);
    expect(client.linkState).toBe('refused');
    expect(client.lastFailure.error).toMatch(/--mqtt-share-group/);
    expect(broker.server.stats().refused.subscribe['shared-subscription-unsupported']).toBeGreaterThan(0);
  });

  it('`anxin cloud --mqtt-share-group` exits 2 with the reason on one line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anxin-share-aedes-'));
    const keys = join(dir, 'keys.json');
    writeFileSync(keys, JSON.stringify(keysFile));
    const err: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      err.push(String(chunk));
      return true;
    });
    try {
      const code = await runCloudCommand([
        ...['--keys', keys, '--db', join(dir, 'cloud.db'), '--port', '0', '--mqtt', broker.url],
        ...['--mqtt-share-group', GROUP],
      ]);
      expect(code).toBe(2);
      expect(err.join('')).toMatch(
        /^anxin cloud: the broker at mqtt:\/\/127\.0\.0\.1:\d+ refused the shared subscriptions/m,
      );
    } finally {
      spy.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
