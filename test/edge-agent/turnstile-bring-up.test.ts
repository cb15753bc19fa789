/**
 * At the gate: a turnstile PD that NAKs osdp_ISTAT used to stay `absent`, raise no alarm,
 * and end every grant `passed: false`. Now it is brought online and passages are confirmed; a PD
 * that cannot be brought up at all is `fault` with a `device-fault` alarm that says why. Real
 * control panel and turnstile simulator over in-process virtual serial pairs, no broker.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import type { EdgeAgent } from '../../edge-agent/edge-agent.ts';
import type { OsdpCommandName } from '../../firmware-bridge/osdp/codes.ts';
import { writeScbkFile } from '../../firmware-bridge/osdp/key-file.ts';
import { OsdpSimulatorLine, OsdpTurnstileSimulator } from '../../firmware-bridge/osdp/simulator.ts';
import { createVirtualSerialPair, VirtualBinding } from '../../firmware-bridge/testing/virtual-binding.ts';
import type { AlarmMessage } from '../../shared/schemas/mqtt.ts';
import { waitFor } from './cloud-stand-in.ts';
import { COMPOUND, GATE, gateKeysFile, HOUR, pass } from './fixtures.ts';
import { createVirtualGate, provisionedGateDir, startQrAndTurnstile } from './virtual-gate.ts';

let agent: EdgeAgent | undefined;
let dir: string | undefined;
const sims: { stop(): Promise<void> }[] = [];
let pairs = 0;

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await Promise.all(sims.splice(0).map((s) => s.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function gateWithPd(nakCommands: OsdpCommandName[]) {
  dir = provisionedGateDir('anxin-edge-bringup-');
  pairs++;
  const { qrSim, turnstileSim, devices } = await startQrAndTurnstile(`bringup-${pairs}`, { nakCommands });
  sims.push(qrSim, turnstileSim);
  const alarms: AlarmMessage[] = [];
  agent = createVirtualGate(dir, devices);
  agent.on('alarm', (alarm) => alarms.push(alarm));
  await agent.start();
  return { qrSim, turnstileSim, alarms, agent };
}

describe('the gate with a turnstile PD that refuses commands', () => {
  it('brings up a PD that NAKs osdp_ISTAT and confirms the passage', async () => {
    const { qrSim, agent } = await gateWithPd(['ISTAT']);
    await waitFor(() => agent.status().devices.turnstile === 'ok', 'the turnstile ok');
    const now = Date.now();
    await qrSim.scan(pass('alice', { notBefore: now - HOUR, expiresAt: now + HOUR }));
    await waitFor(() => agent.state().lastScans[0]?.passed === true, 'the confirmed passage');
  });

  it('reports a PD that refuses osdp_ID as a fault with a device-fault alarm naming the NAK', async () => {
    const { alarms, agent } = await gateWithPd(['ID']);
    await waitFor(() => agent.status().devices.turnstile === 'fault', 'the turnstile fault');
    await waitFor(() => alarms.some((a) => a.kind === 'device-fault'), 'the alarm');
    const alarm = alarms.find((a) => a.kind === 'device-fault')!;
    expect(alarm.detail).toMatch(/^turnstile: PD refused bring-up: .*ID.*NAK 3/);
  });
});

describe('an OSDP card reader at another address on the turnstile line (devices.readers kind osdp)', () => {
  it('shares the line: the turnstile and a keyed exit reader, a card at the reader opens out', async () => {
    dir = provisionedGateDir('anxin-edge-osdp-reader-');
    pairs++;
    const line = createVirtualSerialPair(`bringup-line-${pairs}`);
    const readerKey = randomBytes(16);
    writeScbkFile(join(dir, 'gate', 'exit-reader.scbk'), readerKey);
    const simLine = new OsdpSimulatorLine({ path: line.b, baudRate: 115200, binding: VirtualBinding });
    const turnstileSim = new OsdpTurnstileSimulator({
      path: line.b,
      baudRate: 115200,
      line: simLine,
      address: 0,
      passDelayMs: 20,
    });
    const readerSim = new OsdpTurnstileSimulator({
      path: line.b,
      baudRate: 115200,
      line: simLine,
      address: 3,
      scbk: readerKey,
    });
    sims.push(readerSim, turnstileSim);
    await turnstileSim.start();
    await readerSim.start();
    const unlocks: string[] = [];
    turnstileSim.on('unlock', (direction) => unlocks.push(direction));
    agent = createVirtualGate(dir, {
      turnstile: { path: line.a, baudRate: 115200, pollIntervalMs: 5 },
      readers: [{ kind: 'osdp', name: 'exit-reader', address: 3, direction: 'out', scbkFile: 'exit-reader.scbk' }],
    });
    await agent.start();
    await waitFor(
      () => agent!.status().devices.turnstile === 'ok' && readerSim.secure,
      'both PDs up, the reader keyed',
    );
    readerSim.presentCard(90, 324); // alice's card
    await waitFor(() => agent!.state().lastScans[0]?.passed === true, 'the passage out');
    expect(agent.state().lastScans[0]).toMatchObject({ direction: 'out', method: 'card' });
    expect(unlocks).toEqual(['out']);
  });

  it('refuses a reader without the turnstile, and two PDs at one address', () => {
    const base = { gateId: GATE, compoundId: COMPOUND, mqtt: { url: 'mqtt://127.0.0.1:1' }, keys: gateKeysFile() };
    expect(() => parseEdgeConfig({ ...base, devices: { readers: [{ kind: 'osdp', address: 3 }] } })).toThrow(
      /OSDP reader on the turnstile's line: devices.turnstile is needed/,
    );
    expect(() =>
      parseEdgeConfig({
        ...base,
        devices: { turnstile: { path: '/dev/x', address: 3 }, readers: [{ kind: 'osdp', address: 3 }] },
      }),
    ).toThrow(/both use OSDP address 3/);
  });
});
