/**
 * Settings from the cloud (docs/edge-agent.md "Settings from the cloud"): what a manager sets for a
 * gate over HTTP — at registration (`POST /api/v1/gates {antiPassback}`) or later (`PATCH
 * /api/v1/gates/:id`) — reaches the gate through its sync and changes its decisions; gate.json's
 * values of those keys are only defaults. The settings hold offline and across a restart of the gate.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { createKeysFile, parseKeysFile, publicOnly } from '../../shared/keys.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';
import { eventually } from '../../testkit/deployment.ts';

const COMPOUND = 'c-settings';
const GATE = 'g-settings';
const CARD = '12:3456';

describe('gate settings come from the cloud', () => {
  const keysFile = createKeysFile();
  const keys = parseKeysFile(keysFile);
  let broker: TestBroker;
  let cloud: TestCloud;
  let agent: EdgeAgent | undefined;
  let token: string;
  let gateToken: string;
  let personId: string;
  const dir = mkdtempSync(join(tmpdir(), 'anxin-settings-'));

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${cloud.baseUrl}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  const startAgent = async () => {
    agent = createEdgeAgent(
      parseEdgeConfig({
        gateId: GATE,
        compoundId: COMPOUND,
        mqtt: { url: broker.url, token: gateToken, reconnectMs: 200 },
        keys: publicOnly(keysFile),
        dataDir: dir,
        http: { enabled: false },
        // gate.json says the opposite of what the manager sets: the cloud must win.
        antiPassback: false,
        yellowPolicy: 'deny',
      }),
    );
    await agent.start();
  };
  const card = (direction: 'in' | 'out') => agent!.present({ method: 'card', direction, card: CARD }).decision.reason;

  beforeAll(async () => {
    broker = await startTestBroker({ ring: keys.ring });
    cloud = await startTestCloud({ mqttUrl: broker.url, keysFile });
    token = await cloud.login('admin');
    expect(
      (await api('POST', '/compounds', { id: COMPOUND, name: 'Settings', timeZone: 'Asia/Shanghai' })).status,
    ).toBe(201);
    const created = await api('POST', '/gates', { id: GATE, compoundId: COMPOUND, name: 'North', antiPassback: true });
    expect(created.status).toBe(201);
    gateToken = created.body.token as string;
    const resident = await api('POST', '/residents', {
      compoundId: COMPOUND,
      householdId: 'h1',
      name: '张三',
      cards: [CARD],
    });
    expect(resident.status).toBe(201);
    personId = resident.body.personId as string;
    await startAgent();
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await cloud?.stop();
    await broker?.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('POST /gates {antiPassback: true} turns anti-passback on at a gate whose gate.json says false', {
    timeout: 60_000,
  }, async () => {
    await eventually(
      () => agent!.gateSettings.source === 'cloud' && card('in') === 'ok',
      'the resident and the settings synced',
    );
    expect(agent!.gateSettings.antiPassback).toBe(true);
    expect(card('in')).toBe('anti-passback');
    expect(card('out')).toBe('ok');
  });

  it('PATCH /gates/:id changes decisions, hold times and labels live, and the gate shows them', {
    timeout: 60_000,
  }, async () => {
    // Yellow, and gate.json's policy (deny): referred to the guard.
    expect((await api('PUT', '/health', [{ personId, colour: 'yellow', ts: Date.now() }])).status).toBe(200);
    await eventually(() => card('out') === 'health-yellow', 'the yellow colour at the gate');
    const patched = await api('PATCH', `/gates/${GATE}`, {
      antiPassback: false,
      passageMs: 4_000,
      unlockMs: 1_500,
      yellowPolicy: 'grant',
      stalenessLimitMs: 600_000,
      labels: { in: '北门 进', out: '北门 出' },
    });
    expect(patched.status).toBe(200);
    expect((patched.body.gate as { settings: unknown }).settings).toMatchObject({
      antiPassback: false,
      passageMs: 4_000,
    });
    expect((await api('GET', `/gates/${GATE}`)).body.gate).toMatchObject({ antiPassback: false });
    await eventually(() => agent!.gateSettings.antiPassback === false, 'anti-passback off at the gate');
    expect(agent!.gateSettings).toMatchObject({
      yellowPolicy: 'grant',
      stalenessLimitMs: 600_000,
      passageMs: 4_000,
      unlockMs: 1_500,
      labels: { in: '北门 进', out: '北门 出' },
    });
    expect(agent!.state().labels).toEqual({ in: '北门 进', out: '北门 出' });
    expect(card('out')).toBe('ok');
    expect(card('out')).toBe('ok');
    // A bad value is refused and changes nothing.
    expect((await api('PATCH', `/gates/${GATE}`, { passageMs: -1 })).status).toBe(400);
    expect((await api('PATCH', `/gates/${GATE}`, { colour: 'red' })).status).toBe(400);
  });

  it('holds offline and across a restart of the gate', { timeout: 60_000 }, async () => {
    expect((await api('PATCH', `/gates/${GATE}`, { antiPassback: true })).status).toBe(200);
    await eventually(() => agent!.gateSettings.antiPassback === true, 'anti-passback on again');
    await broker.stop();
    await eventually(() => !agent!.status().online, 'the gate offline');
    await agent!.stop();
    await startAgent();
    expect(agent!.status().online).toBe(false);
    expect(agent!.gateSettings).toMatchObject({ source: 'cloud', antiPassback: true, passageMs: 4_000 });
    const first = card('in');
    expect(first === 'ok' || first === 'anti-passback').toBe(true);
    expect(card('in')).toBe('anti-passback');
  });
});
