/**
 * The demo's wiring (`binding: 'virtual'`, real drivers and simulators over in-process serial
 * pairs) with no broker at all: the gate still decides, opens and journals (docs/architecture.md rule 1).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { openGateDatabase } from '../../edge-agent/gate-database.ts';
import { JournalStore } from '../../edge-agent/journal-store.ts';
import { ReplicaStore } from '../../edge-agent/replica-store.ts';
import { waitFor } from './cloud-stand-in.ts';
import { HOUR, pass } from './fixtures.ts';
import { createVirtualGate, provisionedGateDir, startQrAndTurnstile } from './virtual-gate.ts';

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
    // A replica provisioned earlier (e.g. before the network went down); nothing listens on port 1.
    dir = provisionedGateDir('anxin-edge-virtual-');
    const { qrSim, turnstileSim, devices } = await startQrAndTurnstile('edge-offline');
    sims.push(qrSim, turnstileSim);
    const unlocks: string[] = [];
    turnstileSim.on('unlock', (direction) => unlocks.push(direction));

    agent = createVirtualGate(dir, devices);
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
