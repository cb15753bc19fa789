/**
 * Control panel ↔ turnstile simulator over a real socat pty pair at 115200 baud, on the OS serial
 * binding: the whole stack as an edge agent runs it. Needs socat; fails (never skips) without it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OsdpCommand } from '../../../firmware-bridge/osdp/codes.ts';
import { type OsdpCard, OsdpControlPanel, type TurnstileInput } from '../../../firmware-bridge/osdp/control-panel.ts';
import type { OsdpFrame } from '../../../firmware-bridge/osdp/frame.ts';
import { OsdpTurnstileSimulator, type TurnstileBehaviour } from '../../../firmware-bridge/osdp/simulator.ts';
import { openPtyPair, type PtyPair } from '../../../testkit/socat.ts';
import { until } from './mock-pd.ts';

const PASS_DELAY_MS = 150;

let pty: PtyPair;
let sim: OsdpTurnstileSimulator;
let cp: OsdpControlPanel;
let inputs: Array<[TurnstileInput, boolean]>;
let cards: OsdpCard[];
let statuses: string[];
let commands: OsdpFrame[];

async function startPair(behaviour: TurnstileBehaviour = 'pass') {
  sim = new OsdpTurnstileSimulator({ path: pty.a, baudRate: 115_200, passDelayMs: PASS_DELAY_MS, behaviour });
  cp = new OsdpControlPanel({ path: pty.b, baudRate: 115_200 });
  inputs = [];
  cards = [];
  statuses = [];
  commands = [];
  sim.on('command', (frame) => commands.push(frame));
  cp.on('input', (name, active) => inputs.push([name, active]));
  cp.on('card', (card) => cards.push(card));
  cp.on('status', (status) => statuses.push(status));
  cp.on('error', () => {});
  await sim.start();
  await cp.start();
  await until(() => cp.status === 'ok', 'the control panel online');
}

const edges = (name: TurnstileInput) => inputs.filter(([n]) => n === name).map(([, active]) => active);

beforeEach(async () => {
  pty = await openPtyPair();
});

afterEach(async () => {
  await cp?.stop();
  await sim?.stop();
  await pty.close();
});

describe('OSDP control panel ↔ turnstile simulator over a socat pty pair', () => {
  it('unlock in → the simulator sees the OUT at once → passed-in after the pass delay', async () => {
    await startPair('pass');
    const unlocks: Array<[string, bigint]> = [];
    sim.on('unlock', (direction, at) => unlocks.push([direction, at]));
    const sent = process.hrtime.bigint();
    await cp.unlock('in', 2_000);
    expect(unlocks.map(([d]) => d)).toEqual(['in']);
    expect(unlocks[0]![1]).toBeGreaterThan(sent);
    await until(() => edges('passed-in').length >= 2, 'passed-in on and off');
    expect(edges('passed-in')).toEqual([true, false]);
    expect(edges('passed-out')).toEqual([]);
  });

  it('timeout behaviour → no pass', async () => {
    await startPair('timeout');
    await cp.unlock('out', 500);
    const polled = commands.length;
    await until(() => commands.length > polled + 20 && sim.outputs[1] === false, 'the unlock to lapse', 3_000);
    expect(inputs).toEqual([]);
  });

  it('tailgate → two passes on one unlock', async () => {
    await startPair('tailgate');
    await cp.unlock('out', 2_000);
    await until(() => edges('passed-out').length >= 4, 'two passes');
    expect(edges('passed-out')).toEqual([true, false, true, false]);
    expect(sim.stats.unlocks).toBe(1);
  });

  it('forced → the forced input', async () => {
    await startPair('forced');
    await cp.unlock('in', 1_000);
    await until(() => edges('forced').length >= 2, 'forced on and off');
    expect(edges('forced')).toEqual([true, false]);
    sim.forcePassage('out');
    await until(() => edges('forced').length >= 4, 'a second forced passage');
    expect(edges('passed-out')).toEqual([true, false]);
  });

  it('fire alarm on and off, tamper, LED and buzzer', async () => {
    await startPair();
    const feedback: string[] = [];
    sim.on('led', (led) => feedback.push(`led ${led.temporary.onColour}`));
    sim.on('buzz', (buz) => feedback.push(`buzz ${buz.count}`));
    sim.setFireAlarm(true);
    await until(() => cp.inputs.get('fire') === true, 'fire');
    sim.setFireAlarm(false);
    await until(() => cp.inputs.get('fire') === false, 'fire over');
    sim.setTamper(true);
    await until(() => cp.inputs.get('tamper') === true, 'tamper');
    expect(edges('fire')).toEqual([true, false]);
    await cp.led('green', 1_000);
    await cp.buzz(2);
    expect(feedback).toEqual(['led 2', 'buzz 2']);
  });

  it('a card presented on the bus → card event with facility and number', async () => {
    await startPair();
    sim.presentCard(90, 324);
    await until(() => cards.length === 1, 'a card');
    expect(cards[0]).toMatchObject({ format: 'wiegand26', bits: 26, facility: 90, number: 324 });
  });

  it('unplug → status fault; replug → recovers by itself with ID/CAP and polls again', async () => {
    await startPair();
    await pty.kill();
    await until(() => cp.status === 'fault', 'status fault');
    await expect(cp.unlock('in', 500)).rejects.toMatchObject({ code: 'osdp-offline' });
    const before = commands.length;
    await pty.restart();
    await until(() => cp.status === 'ok', 'status ok again', 15_000);
    const after = commands.slice(before);
    expect(after[0]).toMatchObject({ code: OsdpCommand.ID, sequence: 0 });
    expect(after[1]).toMatchObject({ code: OsdpCommand.CAP, sequence: 1 });
    await until(() => commands.slice(before).filter((f) => f.code === OsdpCommand.POLL).length >= 3, 'polls again');
    expect(statuses).toEqual(['ok', 'fault', 'ok']);
    await cp.unlock('in', 500);
    await until(() => edges('passed-in').length >= 2, 'a pass after the replug');
  });
});
