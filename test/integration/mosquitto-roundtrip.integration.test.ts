/**
 * The whole system through an external broker (interoperability with a broker other than aedes): Debian's mosquitto started
 * with the config, password and ACL files `anxin broker mosquitto-config` generates, a real cloud,
 * and a real edge agent whose QR scanner simulator sits on a virtual serial port. A scanned pass
 * travels gate → mosquitto → cloud (stored, acked), and a health change made through the API
 * travels cloud → mosquitto → gate and changes its next decision.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mosquittoAccounts } from '../../broker/mosquitto-config.ts';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { OsdpTurnstileSimulator } from '../../firmware-bridge/osdp/simulator.ts';
import { QrScannerSimulator } from '../../firmware-bridge/qr/simulator.ts';
import { createVirtualSerialPair, VirtualBinding } from '../../firmware-bridge/testing/virtual-binding.ts';
import type { EntryEvent } from '../../shared/schemas/mqtt.ts';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';
import { signToken } from '../../shared/token.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';
import { type RunningMosquitto, startMosquitto } from '../../testkit/mosquitto.ts';

const COMPOUND = 'sunny-garden';
const GATE = 'north-in';

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('edge → mosquitto → cloud round trip', () => {
  const keysFile = createKeysFile();
  const keys = parseKeysFile(keysFile);
  let mosquitto: RunningMosquitto;
  let cloud: TestCloud;
  let agent: EdgeAgent;
  let qr: QrScannerSimulator;
  let turnstile: OsdpTurnstileSimulator;
  let dataDir: string;
  let passText: string;
  let manager: string;

  beforeAll(async () => {
    const accounts = mosquittoAccounts({ gates: [{ id: GATE, compound: COMPOUND }], clouds: ['cloud'] }, (claims) =>
      signToken({ ...claims, exp: Date.now() + 86_400_000 }, keys.signing!),
    );
    mosquitto = await startMosquitto({ accounts });
    const cloudPassword = accounts.find((a) => a.username === 'cloud')!.password;
    const gatePassword = accounts.find((a) => a.username === GATE)!.password;

    cloud = await startTestCloud({ keysFile, mqttUrl: mosquitto.url, mqttToken: cloudPassword });
    const actor = { username: 'test', role: 'admin' as const };
    const { registry } = cloud.cloud.core;
    await registry.createCompound({ id: COMPOUND, name: 'Sunny Garden', timeZone: 'Asia/Shanghai' }, actor);
    await registry.registerGate({ id: GATE, compoundId: COMPOUND, name: GATE, antiPassback: false }, actor);
    await registry.createResident(
      {
        personId: 'p-000001',
        compoundId: COMPOUND,
        householdId: 'h-0001',
        kind: 'resident',
        name: '张三明',
        idNumber: '11010519491231002X',
        cards: [],
        elderly: false,
        validFrom: null,
        validTo: null,
      },
      actor,
    );
    await registry.updateHealth([{ personId: 'p-000001', colour: 'green', ts: Date.now() }], actor);
    passText = (
      await registry.issuePass({ personId: 'p-000001', kind: 'resident', validTo: Date.now() + 86_400_000 }, actor)
    ).text;
    manager = await cloud.login('manager');

    const qrPorts = createVirtualSerialPair('roundtrip-qr');
    const turnstilePorts = createVirtualSerialPair('roundtrip-turnstile');
    qr = new QrScannerSimulator({ path: qrPorts.b, baudRate: 115200, binding: VirtualBinding, suffix: 'cr' });
    turnstile = new OsdpTurnstileSimulator({
      path: turnstilePorts.b,
      baudRate: 115200,
      binding: VirtualBinding,
      passDelayMs: 50,
    });
    await Promise.all([qr.start(), turnstile.start()]);

    dataDir = mkdtempSync(join(tmpdir(), 'anxin-roundtrip-'));
    agent = createEdgeAgent(
      parseEdgeConfig({
        gateId: GATE,
        compoundId: COMPOUND,
        mqtt: { url: mosquitto.url, token: gatePassword, reconnectMs: 200 },
        keys: { ...keysFile, keys: keysFile.keys.map(({ kid, publicKey }) => ({ kid, publicKey })) },
        dataDir,
        http: { enabled: false },
        binding: 'virtual',
        devices: {
          qr: { path: qrPorts.a, baudRate: 115200, direction: 'in' },
          turnstile: { path: turnstilePorts.a, baudRate: 115200 },
        },
      }),
      { binding: VirtualBinding },
    );
    await agent.start();
    // The gate's replica arrives by the sync protocol through mosquitto.
    await until('the gate replica to arrive', () => agentRev(agent));
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await Promise.allSettled([qr?.stop(), turnstile?.stop()]);
    await cloud?.stop();
    await mosquitto?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const nextDecision = () =>
    new Promise<EntryEvent>((resolve) => {
      agent.once('decision', (event) => {
        if (event) resolve(event);
      });
    });

  const storedEvents = async () => {
    const res = await fetch(`${cloud.baseUrl}/api/v1/events?gate=${GATE}`, {
      headers: { authorization: `Bearer ${manager}` },
    });
    return ((await res.json()) as { events: (EntryEvent & { receivedAt: number })[] }).events;
  };

  it('a scanned pass is decided by the gate, stored by the cloud and acked back through mosquitto', async () => {
    const decided = nextDecision();
    await qr.scan(passText);
    const event = await decided;
    expect(event).toMatchObject({ gateId: GATE, result: 'granted', reason: 'ok', personId: 'p-000001', method: 'qr' });

    const stored = await until('the passage in the cloud', async () => {
      const events = await storedEvents();
      return events.find((e) => e.seq === event.seq);
    });
    expect(stored).toMatchObject({
      gateId: GATE,
      seq: event.seq,
      result: 'granted',
      passed: true,
      maskedName: '张*明',
    });
    expect(stored.receivedAt).toBeGreaterThanOrEqual(stored.ts);
    await until('the journal to be pruned by the cloud ack', () => (agent.journalDepth === 0 ? true : undefined));
  });

  it('a health change made through the API reaches the gate and turns its next decision', async () => {
    const before = agentRev(agent) ?? 0;
    const res = await fetch(`${cloud.baseUrl}/api/v1/health`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${manager}`, 'content-type': 'application/json' },
      body: JSON.stringify([{ personId: 'p-000001', colour: 'red', ts: Date.now() }]),
    });
    expect(res.status).toBe(200);
    await until('the change to reach the gate', () => ((agentRev(agent) ?? 0) > before ? true : undefined));

    const decided = nextDecision();
    await qr.scan(passText);
    expect(await decided).toMatchObject({ result: 'denied', reason: 'health-red', health: 'red', passed: null });
  });
});

/** The replica revision the gate reports in its status (0 until the first sync). */
function agentRev(agent: EdgeAgent): number | undefined {
  const rev = agent.status().rev;
  return rev > 0 ? rev : undefined;
}
