/**
 * The journal-full alarm (issue: "a clear alarm when the journal passes a configurable depth —
 * never silent dropping"): raised once when the unacknowledged depth reaches `alarmDepth`, or when
 * the disk under the journal has less than `minFreeBytes` free; shown in the status and on the
 * terminal; cleared with hysteresis. Nothing journaled is dropped meanwhile.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EdgeAgent } from '../../edge-agent/edge-agent.ts';
import type { AlarmMessage } from '../../shared/schemas/mqtt.ts';
import { BASE_CHANGES } from './fixtures.ts';
import { startOfflineGate } from './offline-gate.ts';

const MiB = 1024 * 1024;

let dir: string;
let agent: EdgeAgent | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-journal-full-'));
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function startAgent(journal: { alarmDepth?: number; minFreeBytes?: number }, freeSpace?: () => Promise<number>) {
  // No broker (nothing listens on port 1): nothing is acknowledged, so the journal only grows.
  const alarms: AlarmMessage[] = [];
  const gate = await startOfflineGate({
    dir,
    changes: BASE_CHANGES,
    config: { journal },
    ...(freeSpace ? { agent: { freeSpace } } : {}),
    beforeStart: (a) => a.on('alarm', (alarm) => alarms.push(alarm)),
  });
  agent = gate.agent;
  return { agent: gate.agent, alarms };
}

const manual = (a: EdgeAgent) => a.manualOpen({ direction: 'in', guard: 'test', reason: 'journal depth' });

describe('journal-full', () => {
  it('raises one alarm when the unacknowledged depth reaches alarmDepth, shown in status and terminal', async () => {
    const { agent: a, alarms } = await startAgent({ alarmDepth: 3 });
    manual(a);
    manual(a);
    expect(a.status().journalFull).toBe(false);
    manual(a);
    expect(alarms.filter((x) => x.kind === 'journal-full')).toHaveLength(1);
    expect(alarms[0]!.detail).toContain('nothing is dropped');
    expect(a.status().journalFull).toBe(true);
    expect(a.state().journalFull).toBe(true);
    for (let i = 0; i < 5; i++) manual(a);
    // Once per crossing, not per passage; every passage is still journaled.
    expect(alarms.filter((x) => x.kind === 'journal-full')).toHaveLength(1);
    expect(a.journalDepth).toBe(8);
  });

  it('raises it when the disk under the journal runs low, and clears it once there is twice the reserve', async () => {
    let free = 10 * MiB;
    const { agent: a, alarms } = await startAgent({ minFreeBytes: 64 * MiB }, async () => free);
    expect(alarms.map((x) => x.kind)).toEqual(['journal-full']);
    expect(alarms[0]!.detail).toContain('10 MiB free');
    expect(a.status().journalFull).toBe(true);
    // Passages are still decided and journaled.
    expect(manual(a).seq).toBe(1);

    // The periodic check (every 10 s), run by hand here.
    const check = () => (a as unknown as { checkFreeSpace(): Promise<void> }).checkFreeSpace();
    free = 100 * MiB; // above the reserve, below twice it: still raised (hysteresis)
    await check();
    expect(a.status().journalFull).toBe(true);
    free = 200 * MiB;
    await check();
    expect(a.status().journalFull).toBe(false);
    expect(alarms).toHaveLength(1);
  });

  it('reads the real free space of the data directory by default (statfs)', async () => {
    const { agent: a, alarms } = await startAgent({ minFreeBytes: 1 });
    expect(alarms).toEqual([]);
    expect(a.status().journalFull).toBe(false);
  });
});
