/**
 * Clock (docs/security.md, "Clock"): a gate whose wall clock jumps forward or back still judges pass validity by
 * the right time, reports the skew (`clockSkewMs` in its status), and its passages carry both the
 * gate's time (`ts`) and the cloud's receive time (`receivedAt`, stored and returned by GET /events).
 * A passage dated more than the cloud's tolerance in the future is refused by the cloud (it would
 * sit at the top of every list and escape retention; cloud/ingest/event-admission.ts), counted and
 * alarmed, and still acknowledged, so the gate's journal drains.
 * The cloud's time reaches the gate in every ack (`ts`); edge-agent/gate-clock.ts anchors it on
 * the monotonic clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { DEFAULT_CLOCK_TOLERANCE_MS, GateClock } from '../../edge-agent/gate-clock.ts';
import { createKeysFile, parseKeysFile, publicOnly } from '../../shared/keys.ts';
import { signPass } from '../../shared/pass.ts';
import { signToken } from '../../shared/token.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';
import { eventually } from '../../testkit/deployment.ts';

const GATE = 'g-clock';
const COMPOUND = 'c-clock';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('GateClock', () => {
  it('uses the wall clock until the cloud is heard, then the cloud-anchored time once they disagree', () => {
    let wall = 1_000_000_000_000;
    let mono = 0;
    const clock = new GateClock({ wall: () => wall, monotonic: () => mono });
    expect(clock.skewMs()).toBeUndefined();
    wall += DAY;
    expect(clock.decisionNow()).toBe(wall);

    clock.observeCloudTime(1_000_000_000_000);
    expect(clock.skewMs()).toBe(DAY);
    expect(clock.decisionNow()).toBe(1_000_000_000_000);
    mono += 5_000;
    wall += 5_000;
    expect(clock.decisionNow()).toBe(1_000_000_005_000);

    // Within the tolerance the wall clock is trusted (it is the finer-grained of the two).
    wall = 1_000_000_005_000 + DEFAULT_CLOCK_TOLERANCE_MS;
    expect(clock.decisionNow()).toBe(wall);
    wall = 1_000_000_005_000 - 3 * DAY;
    expect(clock.skewMs()).toBe(-3 * DAY);
    expect(clock.decisionNow()).toBe(1_000_000_005_000);
  });
});

describe('a gate whose clock jumps', () => {
  const keysFile = createKeysFile();
  const keys = parseKeysFile(keysFile);
  let broker: TestBroker;
  let cloud: TestCloud;
  let agent: EdgeAgent;
  let dir: string;
  let offset = 0;
  let passNo = 0;

  const pass = (notBefore: number, expiresAt: number) => {
    passNo += 1;
    return signPass(
      {
        passId: passNo.toString(16).padStart(16, '0'),
        personId: 'visitor-x',
        compoundId: COMPOUND,
        kind: 'visitor',
        notBefore: Math.floor(notBefore / 1000) * 1000,
        expiresAt: Math.floor(expiresAt / 1000) * 1000,
      },
      keys.signing!,
    );
  };
  const visitor = () => ({
    personId: 'visitor-x',
    compoundId: COMPOUND,
    householdId: null,
    kind: 'visitor' as const,
    name: '访客',
    maskedName: '访*',
    idSealed: null,
    idHash: null,
    maskedIdNumber: null,
    phone: null,
    cards: [],
    elderly: false,
    validFrom: null,
    validTo: null,
    active: true,
    health: 'unknown' as const,
    healthTs: null,
    createdAt: 1,
    updatedAt: 1,
  });
  const scan = (text: string) => agent.present({ method: 'qr', direction: 'in', text });
  const within = (value: number | undefined, expected: number, slackMs = 5_000) =>
    value !== undefined && Math.abs(value - expected) <= slackMs;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anxin-clock-'));
    broker = await startTestBroker({ ring: keys.ring });
    cloud = await startTestCloud({ mqttUrl: broker.url, keysFile });
    await cloud.cloud.core.store.createCompound({ id: COMPOUND, name: 'Clock', timeZone: 'Asia/Shanghai' }, Date.now());
    await cloud.cloud.core.store.createGate(
      { id: GATE, compoundId: COMPOUND, name: GATE, antiPassback: false },
      Date.now(),
    );
    // The visitor the passes name is one of this compound's people: ingest admits only those.
    await cloud.cloud.core.store.upsertResidents([visitor()]);
    const token = signToken({ sub: GATE, role: 'gate', compound: COMPOUND, exp: Date.now() + HOUR }, keys.signing!);
    agent = createEdgeAgent(
      parseEdgeConfig({
        gateId: GATE,
        compoundId: COMPOUND,
        mqtt: { url: broker.url, token, reconnectMs: 200 },
        keys: publicOnly(keysFile),
        dataDir: dir,
        http: { enabled: false },
        statusIntervalMs: 1_000,
      }),
      { clock: { now: () => Date.now() + offset } },
    );
    await agent.start();
    await eventually(() => agent.status().online, 'the gate online');
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await cloud?.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('decides by the cloud-checked time after a jump, and reports the skew', { timeout: 60_000 }, async () => {
    // Before the cloud is heard from, a gate 3 days ahead has only its own clock to go by.
    offset = 3 * DAY;
    const now = Date.now();
    expect(scan(pass(now - HOUR, now + HOUR)).decision.reason).toBe('pass-expired');
    await eventually(() => agent.status().clockSkewMs !== undefined, 'an ack carrying the cloud time');
    expect(within(agent.status().clockSkewMs, 3 * DAY)).toBe(true);

    // Now the same kind of pass is judged by the cloud's time: valid (a visitor pass lets its bearer in).
    const later = Date.now();
    const ahead = scan(pass(later - HOUR, later + HOUR));
    expect(ahead.decision.reason).toBe('ok');
    // The event keeps the gate's own time.
    expect(within(ahead.event?.ts, later + 3 * DAY)).toBe(true);

    // The clock jumps back 2 days from true time: no new ack needed to see it.
    offset = -2 * DAY;
    expect(within(agent.status().clockSkewMs, -2 * DAY)).toBe(true);
    const t = Date.now();
    // A pass that expired an hour ago looks valid to the gate's clock; it is refused.
    expect(scan(pass(t - 2 * HOUR, t - HOUR)).decision.reason).toBe('pass-expired');
    // A pass valid now looks not yet valid to the gate's clock; it is accepted.
    expect(scan(pass(t - HOUR, t + HOUR)).decision.reason).toBe('ok');
    // Within the tolerance, the gate's own clock rules.
    offset = 10_000;
    const u = Date.now();
    expect(scan(pass(u + 5_000, u + HOUR)).decision.reason).toBe('ok');

    // The skew reaches the cloud in the status, and every event carries both clocks.
    offset = -2 * DAY;
    const admin = await cloud.login('admin');
    await eventually(
      async () => {
        const res = await fetch(`${cloud.baseUrl}/api/v1/gates/${GATE}`, {
          headers: { authorization: `Bearer ${admin}` },
        });
        const body = (await res.json()) as { status: { clockSkewMs?: number } | null };
        return within(body.status?.clockSkewMs, -2 * DAY);
      },
      'the skew in the stored gate status',
      15_000,
    );
    await eventually(() => agent.journalDepth === 0, 'every passage acknowledged');
    const manager = await cloud.login('manager');
    const res = await fetch(`${cloud.baseUrl}/api/v1/events?gate=${GATE}&limit=100`, {
      headers: { authorization: `Bearer ${manager}` },
    });
    const { events } = (await res.json()) as { events: { seq: number; ts: number; receivedAt: number }[] };
    // seq 1 and 2 were dated 3 days ahead: refused (answered, never stored). seq 3 and 4 two days
    // behind: within the keep window, stored with the gate's time. seq 5 within the tolerance.
    expect(events.map((e) => e.seq).sort()).toEqual([3, 4, 5]);
    const bySeq = new Map(events.map((e) => [e.seq, e]));
    expect(within(bySeq.get(3)!.ts - bySeq.get(3)!.receivedAt, -2 * DAY)).toBe(true);
    const metrics = await (await fetch(`${cloud.baseUrl}/metrics`)).text();
    expect(metrics).toContain('anxin_ingest_rejects_total{reason="ts-in-future"} 2');
    const alarms = await cloud.cloud.core.store.recentAlarms(GATE, 10);
    expect(alarms.filter((a) => a.kind === 'events-refused')).toHaveLength(1);
  });
});
