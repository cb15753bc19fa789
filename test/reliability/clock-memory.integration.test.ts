/**
 * The clock fix survives restarts (docs/security.md "Clock"): a gate whose wall clock is 3 days
 * ahead (or 1 day behind) learns the offset from the cloud's acks, raises `clock-skew`, and — restarted
 * while the broker is down — still judges passes by the cloud-checked time: within the same boot
 * on the remembered monotonic anchor, after a reboot on the remembered offset; once the memory is
 * older than `clock.maxAgeMs` it goes back to the wall clock. The status and the terminal say which.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent, type EdgeAgentOptions } from '../../edge-agent/edge-agent.ts';
import { GateClock } from '../../edge-agent/gate-clock.ts';
import type { AlarmMessage } from '../../shared/schemas/mqtt.ts';
import { createKeysFile, parseKeysFile, publicOnly } from '../../shared/keys.ts';
import { signPass } from '../../shared/pass.ts';
import { signToken } from '../../shared/token.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';
import { eventually } from '../../testkit/deployment.ts';

const GATE = 'g-clockmem';
const COMPOUND = 'c-clockmem';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('GateClock memory', () => {
  it('same boot: the remembered anchor; another boot: the remembered offset; too old: the wall clock', () => {
    let saved: Parameters<NonNullable<ConstructorParameters<typeof GateClock>[0]['memory']>['save']>[0] | undefined;
    const memory = { load: () => saved, save: (r: NonNullable<typeof saved>) => (saved = r) };
    const cloud0 = 1_800_000_000_000;
    let wall = cloud0 + 3 * DAY;
    let mono = 1_000;
    const first = new GateClock({ wall: () => wall, monotonic: () => mono, memory, bootId: 'boot-a' });
    first.observeCloudTime(cloud0);
    expect(saved).toMatchObject({ cloudTs: cloud0, wall: cloud0 + 3 * DAY, bootId: 'boot-a' });

    // A restart an hour later in the same boot, the wall clock meanwhile set back to the right time.
    mono += HOUR;
    wall = cloud0 + HOUR;
    const restarted = new GateClock({ wall: () => wall, monotonic: () => mono, memory, bootId: 'boot-a' });
    expect(restarted.info()).toMatchObject({ source: 'remembered', skewMs: 0, ageMs: HOUR, skewed: false });
    wall = cloud0 + HOUR - DAY;
    expect(restarted.decisionNow()).toBe(cloud0 + HOUR);

    // A reboot: the monotonic clock starts again; the RTC is still 3 days ahead.
    mono = 50;
    wall = cloud0 + 2 * HOUR + 3 * DAY;
    const rebooted = new GateClock({ wall: () => wall, monotonic: () => mono, memory, bootId: 'boot-b' });
    expect(rebooted.info()).toMatchObject({
      source: 'remembered-offset',
      skewMs: 3 * DAY,
      ageMs: 2 * HOUR,
      skewed: true,
    });
    expect(rebooted.decisionNow()).toBe(cloud0 + 2 * HOUR);

    // Past the bound, nothing remembered is trusted.
    const old = new GateClock({ wall: () => wall + 8 * DAY, monotonic: () => mono, memory, bootId: 'boot-b' });
    expect(old.info()).toEqual({ source: 'wall', skewed: false });
    mono = 1_000 + 8 * DAY;
    const oldAnchor = new GateClock({ wall: () => wall, monotonic: () => mono, memory, bootId: 'boot-a' });
    expect(oldAnchor.info().source).toBe('wall');
    // A corrupt record is ignored.
    const bad = new GateClock({
      wall: () => wall,
      memory: { load: () => ({ cloudTs: Number.NaN, monotonic: 0, wall: 0, bootId: null }), save: () => {} },
    });
    expect(bad.cloudNow()).toBeDefined();
  });
});

describe('a gate restarted with a skewed clock while the broker is down', () => {
  const keysFile = createKeysFile();
  const keys = parseKeysFile(keysFile);
  let broker: TestBroker;
  let cloud: TestCloud;
  let agent: EdgeAgent | undefined;
  let dir: string;
  let offset = 0;
  let passNo = 0;
  const alarms: AlarmMessage[] = [];
  const token = signToken({ sub: GATE, role: 'gate', compound: COMPOUND, exp: Date.now() + HOUR }, keys.signing!);

  const pass = (notBefore: number, expiresAt: number) => {
    passNo += 1;
    return signPass(
      {
        passId: `cc${passNo.toString(16).padStart(14, '0')}`,
        personId: 'visitor-x',
        compoundId: COMPOUND,
        kind: 'visitor',
        notBefore: Math.floor(notBefore / 1000) * 1000,
        expiresAt: Math.floor(expiresAt / 1000) * 1000,
      },
      keys.signing!,
    );
  };
  const scan = (text: string) => agent!.present({ method: 'qr', direction: 'in', text }).decision.reason;
  const validNow = () => pass(Date.now() - HOUR, Date.now() + HOUR);
  const expiredNow = () => pass(Date.now() - 2 * HOUR, Date.now() - HOUR);

  const start = async (options: Partial<EdgeAgentOptions> = {}) => {
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
      { clock: { now: () => Date.now() + offset }, ...options },
    );
    agent.on('alarm', (a) => alarms.push(a));
    await agent.start();
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anxin-clockmem-'));
    broker = await startTestBroker({ ring: keys.ring });
    cloud = await startTestCloud({ mqttUrl: broker.url, keysFile });
    await cloud.cloud.core.store.createCompound({ id: COMPOUND, name: 'Clock', timeZone: 'Asia/Shanghai' }, Date.now());
    await cloud.cloud.core.store.createGate(
      { id: GATE, compoundId: COMPOUND, name: GATE, antiPassback: false },
      Date.now(),
    );
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await cloud?.stop();
    await broker?.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('+3 d: learned online, alarmed, kept across a restart in the same boot and across a reboot', {
    timeout: 60_000,
  }, async () => {
    offset = 3 * DAY;
    await start();
    await eventually(() => agent!.status().online, 'online');
    // An ack (every passage is acked) carries the cloud's time.
    agent!.manualOpen({ direction: 'in', reason: 'tick', guard: 'g' });
    await eventually(() => agent!.status().clockSource === 'cloud', 'an ack with the cloud time');
    expect(Math.abs(agent!.status().clockSkewMs! - 3 * DAY)).toBeLessThan(10_000);
    await eventually(() => alarms.some((a) => a.kind === 'clock-skew'), 'the clock-skew alarm');
    expect(alarms.find((a) => a.kind === 'clock-skew')!.detail).toContain('ahead of');
    expect(agent!.state().clock).toMatchObject({ source: 'cloud', skewed: true });
    expect(scan(validNow())).toBe('ok');

    await broker.stop();
    await eventually(() => !agent!.status().online, 'offline');
    await agent!.stop();

    // Restarted, same boot, broker still down: the remembered anchor.
    await start();
    expect(agent!.status()).toMatchObject({ online: false, clockSource: 'remembered' });
    expect(scan(validNow())).toBe('ok');
    expect(scan(expiredNow())).toBe('pass-expired');
    expect(agent!.state().clock?.skewed).toBe(true);
    await agent!.stop();

    // Rebooted (another boot id, the monotonic clock from zero): the remembered offset.
    await start({ bootId: 'another-boot', monotonic: () => performance.now() });
    expect(agent!.status()).toMatchObject({ online: false, clockSource: 'remembered-offset' });
    expect(scan(validNow())).toBe('ok');
    expect(scan(expiredNow())).toBe('pass-expired');
    await agent!.stop();

    // Without the memory (what the gate did before): every valid pass refused.
    const control = new GateClock({ wall: () => Date.now() + offset, bootId: 'x' });
    expect(control.info().source).toBe('wall');
  });

  it('−1 d: an expired pass stays refused after a restart offline', { timeout: 60_000 }, async () => {
    rmSync(dir, { recursive: true, force: true });
    dir = mkdtempSync(join(tmpdir(), 'anxin-clockmem-'));
    broker = await startTestBroker({ ring: keys.ring });
    await cloud.stop();
    cloud = await startTestCloud({ mqttUrl: broker.url, keysFile });
    await cloud.cloud.core.store.createCompound({ id: COMPOUND, name: 'Clock', timeZone: 'Asia/Shanghai' }, Date.now());
    await cloud.cloud.core.store.createGate(
      { id: GATE, compoundId: COMPOUND, name: GATE, antiPassback: false },
      Date.now(),
    );
    offset = -DAY;
    await start();
    await eventually(() => agent!.status().online, 'online');
    agent!.manualOpen({ direction: 'in', reason: 'tick', guard: 'g' });
    await eventually(() => agent!.status().clockSource === 'cloud', 'an ack with the cloud time');
    await broker.stop();
    await eventually(() => !agent!.status().online, 'offline');
    await agent!.stop();
    await start();
    expect(agent!.status().clockSource).toBe('remembered');
    // Expired an hour ago by true time; by the gate's clock (a day behind) it looks valid.
    expect(scan(expiredNow())).toBe('pass-expired');
    expect(scan(validNow())).toBe('ok');
  });
});
