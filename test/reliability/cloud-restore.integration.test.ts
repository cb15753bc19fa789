/**
 * The cloud restored from a backup (docs/operations.md): passages stored and acknowledged after
 * the backup are gone from the restored database, but the gate keeps acknowledged events for a
 * while; the restarted cloud announces how far it has each gate, the gate sends the rest again,
 * and every passage ends up stored exactly once — with real processes and a real SQLite backup
 * (`VACUUM INTO`, taken while the cloud runs).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Deployment, eventually } from '../../testkit/deployment.ts';

const GATE = 'g-restore';

let d: Deployment;

beforeAll(async () => {
  d = await Deployment.running({ gates: [GATE] });
}, 60_000);

afterAll(async () => {
  await d?.close();
}, 30_000);

describe('the cloud restored from a backup', () => {
  it('gets back every passage acknowledged after the backup, each stored once', { timeout: 120_000 }, async () => {
    const before = await d.burst(GATE, 40);
    expect(before.failed).toBe(0);
    await d.expectEveryPassageStoredOnce(GATE, before.seqs);

    // The backup, online, while the cloud runs.
    const backup = join(d.dir, 'cloud-backup.db');
    const live = new Database(d.cloudDb);
    try {
      live.exec(`VACUUM INTO '${backup}'`);
    } finally {
      live.close();
    }

    const after = await d.burst(GATE, 60);
    expect(after.failed).toBe(0);
    const { lastSeq } = await d.expectEveryPassageStoredOnce(GATE, [...before.seqs, ...after.seqs]);
    expect(lastSeq).toBe(100);

    // The disk is lost; the backup goes back in place of cloud.db.
    await d.kill('cloud', 'SIGTERM');
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${d.cloudDb}${suffix}`, { force: true });
    const restored = new Database(backup);
    try {
      restored.exec(`VACUUM INTO '${d.cloudDb}'`);
    } finally {
      restored.close();
    }
    expect(d.storedSeqs(GATE)).toHaveLength(40);

    await d.startCloud();
    // No new passage needed: the restarted cloud's ack announcement makes the gate send 41…100.
    // (The gate stays online with an empty unacknowledged journal meanwhile, so wait for the rows.)
    await eventually(() => d.storedSeqs(GATE).length >= 100 || undefined, 'the gate sending 41…100 again');
    const result = await d.expectEveryPassageStoredOnce(GATE, [...before.seqs, ...after.seqs]);
    expect(result.lastSeq).toBe(100);
  });
});
