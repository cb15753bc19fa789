import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TurnstileControl } from '../../edge-agent/turnstile-control.ts';
import type { AlarmKind } from '../../shared/enums.ts';
import { silentLogger } from '../../shared/log.ts';
import { FakeTurnstile } from './fake-devices.ts';

let device: FakeTurnstile;
let control: TurnstileControl;
let alarms: AlarmKind[];

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
  device = new FakeTurnstile();
  control = new TurnstileControl({
    device,
    logger: silentLogger,
    passageTimeoutMs: 10_000,
    tailgateWindowMs: 3_000,
    pulseMs: 3_000,
  });
  alarms = [];
  control.on('alarm', (kind) => alarms.push(kind));
  control.start();
});

afterEach(() => {
  control.stop();
  vi.useRealTimers();
});

describe('TurnstileControl', () => {
  it('unlocks in the granted direction and resolves true on the matching passed input', async () => {
    const outcome = control.authorise('out');
    expect(device.unlocks).toEqual(['out']);
    device.pass('in');
    device.pass('out');
    await expect(outcome).resolves.toBe(true);
    expect(alarms).toEqual(['forced']);
  });

  it('resolves false when nobody passes within the timeout (default 10 s)', async () => {
    const outcome = control.authorise('in');
    vi.advanceTimersByTime(9_999);
    expect(control.pendingPassages).toBe(1);
    vi.advanceTimersByTime(1);
    await expect(outcome).resolves.toBe(false);
    device.pass('in');
    expect(alarms).toEqual(['forced']);
  });

  it('confirms queued grants oldest first', async () => {
    const first = control.authorise('in');
    vi.advanceTimersByTime(5_000);
    const second = control.authorise('in');
    device.pass('in');
    await expect(first).resolves.toBe(true);
    vi.advanceTimersByTime(10_000);
    await expect(second).resolves.toBe(false);
  });

  it('tells tailgating (soon after a passage) from forcing (no recent passage)', async () => {
    const outcome = control.authorise('in');
    device.pass('in');
    await outcome;
    vi.advanceTimersByTime(2_000);
    device.pass('in');
    vi.advanceTimersByTime(3_001);
    device.pass('in');
    device.input('forced', true);
    device.input('tamper', true);
    expect(alarms).toEqual(['tailgate', 'forced', 'forced', 'tamper']);
  });

  it('holds both directions open during a fire alarm and reports unscanned passages instead of alarms', () => {
    const free: string[] = [];
    control.on('freePassage', (direction) => free.push(direction));
    device.input('fire', true);
    expect(control.fireAlarm).toBe(true);
    expect(device.unlocks).toEqual(['in', 'out']);
    vi.advanceTimersByTime(1_500);
    expect(device.unlocks).toEqual(['in', 'out', 'in', 'out']);
    device.pass('in');
    device.input('forced', true);
    expect(free).toEqual(['in']);
    expect(alarms).toEqual(['fire']);
    device.input('fire', false);
    vi.advanceTimersByTime(10_000);
    expect(device.unlocks).toHaveLength(4);
    expect(alarms).toEqual(['fire', 'fire']);
  });

  it('holds the gate open in emergency-open mode', () => {
    control.setFreeByMode(true);
    vi.advanceTimersByTime(3_000);
    expect(device.unlocks.length).toBeGreaterThanOrEqual(6);
    control.setFreeByMode(false);
    const count = device.unlocks.length;
    vi.advanceTimersByTime(10_000);
    expect(device.unlocks).toHaveLength(count);
  });

  it('gives green/red light and beeps, coalescing a burst of the same feedback', () => {
    control.deny();
    control.deny();
    vi.advanceTimersByTime(300);
    control.deny();
    void control.authorise('in');
    expect(device.leds).toEqual(['red', 'red', 'green']);
    expect(device.beeps).toEqual([3, 3, 1]);
  });

  it('settles waiting grants as not passed when stopped', async () => {
    const outcome = control.authorise('in');
    control.stop();
    await expect(outcome).resolves.toBe(false);
  });

  it('without a turnstile, a grant is not applicable (null)', async () => {
    const bare = new TurnstileControl({ logger: silentLogger });
    await expect(bare.authorise('in')).resolves.toBeNull();
  });
});
