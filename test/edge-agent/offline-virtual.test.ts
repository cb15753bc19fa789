/**
 * The demo's wiring (`binding: 'virtual'`, real drivers and simulators over in-process serial
 * pairs) with no broker at all: the gate still decides, opens and journals (docs/architecture.md rule 1).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { openGateDatabase } from '../../edge-agent/gate-database.ts';
import { JournalStore } from '../../edge-agent/journal-store.ts';
import { ReplicaStore } from '../../edge-agent/replica-store.ts';
import { OsdpTurnstileSimulator } from '../../firmware-bridge/osdp/simulator.ts';
import { QrScannerSimulator } from '../../firmware-bridge/qr/simulator.ts';
import { createVirtualSerialPair, VirtualBinding } from '../../firmware-bridge/testing/virtual-binding.ts';
import { silentLogger } from '../../shared/log.ts';
import { waitFor } from './cloud-stand-in.ts';
import { BASE_CHANGES, COMPOUND, GATE, gateKeysFile, HOUR, pass } from './fixtures.ts';

let agent: EdgeAgent | undefined;
let dir: string | undefined;
const sims: { stop(): Promise<void> }[] = [];

afterEach(async () => {
  await agent?.stop();
  await Promise.all(sims.splice(0).map((s) => s.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('edge agent without a network, on virtual serial ports', () => {
  it('decides from its replica, opens the turnstile and journals while the broker is unreachable', async () => {
    dir = mkdtempSync(join(tmpdir(), 'anxin-edge-virtual-'));
    // A replica provisioned earlier (e.g. before the network went down).
    const db = openGateDatabase(join(dir, 'gate'));
    new ReplicaStore(db).applyDelta(BASE_CHANGES, 5);
    db.close();

    const qrPair = createVirtualSerialPair('edge-offline-qr');
    const turnstilePair = createVirtualSerialPair('edge-offline-turnstile');
    const qrSim = new QrScannerSimulator({ path: qrPair.b, baudRate: 115200, binding: VirtualBinding });
    const turnstileSim = new OsdpTurnstileSimulator({
      path: turnstilePair.b,
      baudRate: 115200,
      binding: VirtualBinding,
      passDelayMs: 20,
    });
    sims.push(qrSim, turnstileSim);
    await Promise.all([qrSim.start(), turnstileSim.start()]);
    const unlocks: string[] = [];
    turnstileSim.on('unlock', (direction) => unlocks.push(direction));

    agent = createEdgeAgent(
      parseEdgeConfig({
        gateId: GATE,
        compoundId: COMPOUND,
        // Nothing listens on port 1: every connection attempt is refused.
        mqtt: { url: 'mqtt://127.0.0.1:1', reconnectMs: 100 },
        keys: gateKeysFile(),
        dataDir: join(dir, 'gate'),
        http: { enabled: false },
        binding: 'virtual',
        devices: {
          qr: { path: qrPair.a, baudRate: 115200 },
          turnstile: { path: turnstilePair.a, baudRate: 115200, pollIntervalMs: 5 },
        },
        journal: { synchronous: 'normal' },
      }),
      { logger: silentLogger },
    );
    await agent.start();
    await waitFor(
      () => agent!.status().devices.qr === 'ok' && agent!.status().devices.turnstile === 'ok',
      'devices up',
    );

    const now = Date.now();
    await qrSim.scan(pass('alice', { notBefore: now - HOUR, expiresAt: now + HOUR }));
    await waitFor(() => agent!.state().lastScans[0]?.passed === true, 'the confirmed passage');
    expect(unlocks).toEqual(['in']);
    await qrSim.scan(pass('bob', { notBefore: now - HOUR, expiresAt: now + HOUR }));
    await waitFor(() => agent!.state().lastScans.length === 2, 'the second decision');
    const state = agent.state();
    expect(state).toMatchObject({ online: false, stale: true, journalDepth: 2 });
    expect(state.lastScans.map((s) => s.reason)).toEqual(['health-red', 'ok']);

    await agent.stop();
    agent = undefined;
    const reopened = openGateDatabase(join(dir, 'gate'));
    const events = new JournalStore(reopened, new ReplicaStore(reopened)).readFinal(0, 10);
    reopened.close();
    expect(events.map((e) => [e.seq, e.reason, e.passed])).toEqual([
      [1, 'ok', true],
      [2, 'health-red', null],
    ]);
  });
});
