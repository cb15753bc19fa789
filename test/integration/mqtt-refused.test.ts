/**
 * A broker that refuses, then accepts (docs/edge-agent.md "Health"): during a key or token
 * rotation the broker answers CONNACK "not authorized". MQTT.js alone gives up for good after one
 * refused CONNACK, so the gate and the cloud stayed offline until restarted while `/healthz` said
 * ok. Both must keep retrying with backoff, read their token file again before every attempt (the
 * rotated token works without a restart), and say `degraded` meanwhile.
 *
 * Real parts: the anxin broker on 127.0.0.1 verifying Ed25519 tokens, an edge agent (fake
 * devices) and a cloud, each given a token file that first holds a token the broker refuses.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { silentLogger } from '../../shared/log.ts';
import { signToken } from '../../shared/token.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';
import { FakeIdCardReader, FakeQrScanner, FakeTurnstile } from '../edge-agent/fake-devices.ts';
import { COMPOUND, GATE, gateKeysFile, gateToken, impostorKey, ring, signingKey } from '../edge-agent/fixtures.ts';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';

const WAIT_MS = 15_000;

async function eventually<T>(probe: () => T | Promise<T>, what: string): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let dir: string;
let broker: TestBroker | undefined;
let agent: EdgeAgent | undefined;
let cloud: TestCloud | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-refused-'));
});

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await cloud?.stop();
  cloud = undefined;
  await broker?.stop();
  broker = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe('after a refused CONNACK', () => {
  it('the gate keeps retrying, says degraded, and connects with the rotated token from its file', async () => {
    broker = await startTestBroker({ ring });
    const tokenFile = join(dir, 'gate.token');
    // A token signed by a key the broker does not know: CONNACK "not authorized".
    writeFileSync(
      tokenFile,
      signToken({ sub: GATE, role: 'gate', compound: COMPOUND, exp: Date.now() + 3_600_000 }, impostorKey),
    );
    agent = createEdgeAgent(
      parseEdgeConfig({
        gateId: GATE,
        compoundId: COMPOUND,
        mqtt: { url: broker.url, tokenFile, reconnectMs: 100 },
        keys: gateKeysFile(),
        dataDir: dir,
        http: { port: 0 },
        journal: { synchronous: 'normal' },
      }),
      {
        logger: silentLogger,
        devices: { qr: new FakeQrScanner(), idreader: new FakeIdCardReader(), turnstile: new FakeTurnstile() },
        version: 'test',
      },
    );
    await agent.start();
    const a = agent;
    const base = a.terminalUrl!;

    // Refused, and refused again: the link did not stop after the first refusal.
    await eventually(() => {
      const health = a.health() as unknown as { mqtt: { state: string; failedAttempts: number } };
      return health.mqtt.state === 'refused' && health.mqtt.failedAttempts >= 3;
    }, 'three refused attempts');
    const degraded = (await (await fetch(`${base}/healthz`)).json()) as Record<string, unknown>;
    expect(degraded).toMatchObject({ status: 'degraded', mqtt: { state: 'refused' } });
    expect(degraded.problems).toContain('mqtt-refused');
    expect(a.status()).toMatchObject({ online: false, health: 'degraded' });
    expect(a.state().problems).toContain('mqtt-refused');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain(`anxin_gate_mqtt_link_state{gate="${GATE}",state="refused"} 1`);

    // The rotation lands in the file; no restart.
    writeFileSync(tokenFile, gateToken());
    await eventually(() => a.status().online, 'the gate online with the rotated token');
    const ok = (await (await fetch(`${base}/healthz`)).json()) as Record<string, unknown>;
    expect(ok).toMatchObject({ mqtt: { state: 'connected' } });
    expect(ok.problems).not.toContain('mqtt-refused');
  });

  it('the cloud keeps retrying, says degraded on /healthz, and connects with the rotated token from its file', async () => {
    const keysFile = createKeysFile();
    const keys = parseKeysFile(keysFile);
    broker = await startTestBroker({ ring: keys.ring });
    const tokenFile = join(dir, 'cloud.token');
    writeFileSync(tokenFile, signToken({ sub: 'cloud', role: 'cloud', exp: Date.now() + 3_600_000 }, signingKey));
    cloud = await startTestCloud({
      keysFile,
      mqttUrl: broker.url,
      mqttTokenFile: tokenFile,
      mqttReconnectMs: 100,
      mqttConnectWaitMs: 200,
    });
    const base = cloud.baseUrl;
    const health = async () => (await (await fetch(`${base}/healthz`)).json()) as Record<string, unknown>;
    // Refused, and refused again: the link did not stop after the first refusal.
    await eventually(async () => {
      const h = await health();
      return h.mqttLink === 'refused' && h.status === 'degraded' && Number(h.mqttFailedAttempts) >= 3;
    }, 'three refused attempts, the cloud degraded');

    writeFileSync(tokenFile, signToken({ sub: 'cloud', role: 'cloud', exp: Date.now() + 3_600_000 }, keys.signing!));
    await eventually(async () => (await health()).status === 'ok', 'the cloud connected with the rotated token');
    expect(await health()).toMatchObject({ status: 'ok', mqtt: 'connected', mqttLink: 'connected' });
  });
});
