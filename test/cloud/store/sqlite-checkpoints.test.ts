/**
 * The SQLite store checkpoints its WAL on a worker thread, never inside an ingest commit
 * (cloud/store/sqlite/connection.ts, shared/sqlite/wal-checkpointer.ts; docs/cloud.md, "Ingest
 * pipeline"): on real files in a temp folder. The WAL's bound under a writer that never pauses is
 * proven on the checkpointer itself (test/shared/sqlite/wal-checkpointer.test.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import { checkpointThreadRunning, killCheckpointThreadForTest } from '../../../shared/sqlite/wal-checkpointer.ts';
import { entryEvent } from '../fixtures.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function openStore(): Promise<SqliteCloudStore> {
  const dir = mkdtempSync(join(tmpdir(), 'anxin-cloud-ckpt-'));
  dirs.push(dir);
  const store = new SqliteCloudStore({ path: join(dir, 'cloud.db') });
  const now = Date.now();
  await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, now);
  await store.createGate({ id: 'g-1', compoundId: 'c-1', name: 'North', antiPassback: false }, now);
  return store;
}

/** A batch of `n` passages from `seq` on, committed and made durable as ingest does before its acks. */
async function ingest(store: SqliteCloudStore, seq: number, n: number): Promise<void> {
  const now = Date.now();
  const events = Array.from({ length: n }, (_, i) => ({
    ...entryEvent('g-1', seq + i, { ts: now }),
    compoundId: 'c-1',
    receivedAt: now,
  }));
  const result = await store.insertEvents(events);
  expect(result.inserted).toHaveLength(n);
  await store.durable();
}

async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('SQLite store checkpoints', () => {
  it('runs them on the worker while ingest commits, none inside a commit, and ends the worker on close', async () => {
    const store = await openStore();
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    expect(checkpointThreadRunning()).toBe(true);
    // Ingest without a pause (each batch durable before the next, as its acks wait) until the
    // worker has reported checkpoints of the passages' frames.
    const runsAtStart = store.walCheckpoints?.runs ?? 0;
    const deadline = Date.now() + 30_000;
    let seq = 1;
    while (seq <= 2_000 || (store.walCheckpoints?.runs ?? 0) < runsAtStart + 2) {
      if (Date.now() > deadline) throw new Error('timed out waiting for the worker to checkpoint');
      await ingest(store, seq, 200);
      seq += 200;
    }
    expect(store.walCheckpoints?.lastCheckpointed).toBeGreaterThan(0);
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    expect(await store.ackedUpTo('g-1')).toBe(seq - 1);
    expect(store.walCheckpoints?.errors).toBe(0);
    await store.close();
    expect(checkpointThreadRunning()).toBe(false);
    expect(store.db.open).toBe(false);
  });

  it('goes back to checkpoints inside commits (every 10,000 pages) when the worker dies, and ingest goes on', async () => {
    const store = await openStore();
    await ingest(store, 1, 100);
    await killCheckpointThreadForTest();
    await until(() => (store.walCheckpoints?.errors ?? 0) > 0, 'the fallback');
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(10_000);
    await ingest(store, 101, 100);
    expect(await store.ackedUpTo('g-1')).toBe(200);
    await store.close();
    expect(checkpointThreadRunning()).toBe(false);
  });

  it('closes cleanly with a durable() still running, and the next store starts a new worker', async () => {
    const first = await openStore();
    await first.insertEvents([
      { ...entryEvent('g-1', 1, { ts: Date.now() }), compoundId: 'c-1', receivedAt: Date.now() },
    ]);
    const durable = first.durable();
    await first.close();
    await durable;
    expect(checkpointThreadRunning()).toBe(false);
    const second = await openStore();
    expect(checkpointThreadRunning()).toBe(true);
    await ingest(second, 1, 10);
    await second.close();
    expect(checkpointThreadRunning()).toBe(false);
  });
});
