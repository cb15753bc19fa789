/**
 * A gate on the demo's wiring (`binding: 'virtual'`: the real drivers over in-process serial pairs,
 * firmware-bridge/testing/virtual-binding.ts), provisioned earlier with the fixtures' replica and cut
 * off from any broker (nothing listens on port 1): what the offline and bring-up tests drive with
 * real simulators at the far end of each pair. Unlike offline-gate.ts, no fake devices: the bytes
 * on the serial lines are real.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { openGateDatabase } from '../../edge-agent/gate-database.ts';
import { ReplicaStore } from '../../edge-agent/replica-store.ts';
import { OsdpTurnstileSimulator, type OsdpTurnstileSimulatorOptions } from '../../firmware-bridge/osdp/simulator.ts';
import { QrScannerSimulator } from '../../firmware-bridge/qr/simulator.ts';
import { createVirtualSerialPair, VirtualBinding } from '../../firmware-bridge/testing/virtual-binding.ts';
import { silentLogger } from '../../shared/log.ts';
import { BASE_CHANGES, COMPOUND, GATE, gateKeysFile } from './fixtures.ts';

/** A new temp folder whose `gate/` holds a replica of the fixtures at rev 5 (provisioned before the network went down). */
export function provisionedGateDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const db = openGateDatabase(join(dir, 'gate'));
  new ReplicaStore(db).applyDelta(BASE_CHANGES, 5);
  db.close();
  return dir;
}

/** The agent of `provisionedGateDir(…)`, with these devices, on virtual serial ports and no broker. */
export function createVirtualGate(dir: string, devices: Record<string, unknown>): EdgeAgent {
  return createEdgeAgent(
    parseEdgeConfig({
      gateId: GATE,
      compoundId: COMPOUND,
      mqtt: { url: 'mqtt://127.0.0.1:1', reconnectMs: 100 },
      keys: gateKeysFile(),
      dataDir: join(dir, 'gate'),
      http: { enabled: false },
      binding: 'virtual',
      devices,
      journal: { synchronous: 'normal' },
    }),
    { logger: silentLogger },
  );
}

/**
 * A QR scanner and a turnstile simulator, started, each at the far end of its own virtual pair;
 * `devices` is the gate's side of both for `createVirtualGate`.
 */
export async function startQrAndTurnstile(
  name: string,
  turnstile: Partial<Pick<OsdpTurnstileSimulatorOptions, 'nakCommands'>> = {},
): Promise<{ qrSim: QrScannerSimulator; turnstileSim: OsdpTurnstileSimulator; devices: Record<string, unknown> }> {
  const qrPair = createVirtualSerialPair(`${name}-qr`);
  const turnstilePair = createVirtualSerialPair(`${name}-turnstile`);
  const qrSim = new QrScannerSimulator({ path: qrPair.b, baudRate: 115200, binding: VirtualBinding });
  const turnstileSim = new OsdpTurnstileSimulator({
    path: turnstilePair.b,
    baudRate: 115200,
    binding: VirtualBinding,
    passDelayMs: 20,
    ...turnstile,
  });
  await Promise.all([qrSim.start(), turnstileSim.start()]);
  return {
    qrSim,
    turnstileSim,
    devices: {
      qr: { path: qrPair.a, baudRate: 115200 },
      turnstile: { path: turnstilePair.a, baudRate: 115200, pollIntervalMs: 5 },
    },
  };
}
