/**
 * The store contract, on every backend (test/cloud/store/backends.ts): the embedded SQLite store
 * and the PostgreSQL store on a real server give the same answers. Engine-specific behaviour
 * (SQLite's WAL and fsync, PostgreSQL's partitions and locks) is tested beside each engine.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uptimeOf } from '../../../cloud/analytics/uptime.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { RetentionJob } from '../../../cloud/store/retention-job.ts';
import { silentLogger } from '../../../shared/log.ts';
import { entryEvent, resident } from '../fixtures.ts';
import { storeBackends, throwingHook } from './backends.ts';
import { collectSnapshot } from '../../helpers/collect-snapshot.ts';

const stored = (gateId: string, seq: number, ts?: number) => ({
  ...entryEvent(gateId, seq, ts === undefined ? {} : { ts }),
  compoundId: 'c-1',
  receivedAt: 5,
});

describe.each(storeBackends())('the $name store', (backend) => {
  let store: CloudStore;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await backend.open();
    await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
    await store.createGate({ id: 'g-1', compoundId: 'c-1', name: 'North', antiPassback: false }, 1);
  });
  afterEach(async () => {
    await store.close();
  });

  it('stores every EntryEvent field and reads it back', async () => {
    const event = {
      ...stored('g-1', 1),
      idHash: 'a'.repeat(64),
      passId: 'abcd',
      guard: 'wang',
      passed: null,
      decisionMs: 2.5,
    };
    await store.insertEvents([event]);
    const page = await store.queryEvents({ limit: 10 });
    expect(page.events).toEqual([event]);
  });

  it('ignores (gateId, seq) duplicates and acks up to the first gap', async () => {
    const first = await store.insertEvents([stored('g-1', 1), stored('g-1', 2), stored('g-1', 4)]);
    expect(first.inserted.map((e) => e.seq)).toEqual([1, 2, 4]);
    expect(first.acks.get('g-1')).toBe(2);
    const replay = await store.insertEvents([stored('g-1', 2), stored('g-1', 3)]);
    expect(replay.inserted.map((e) => e.seq)).toEqual([3]);
    expect(replay.acks.get('g-1')).toBe(4);
    expect(await store.ackedUpTo('g-1')).toBe(4);
  });

  it('walks the ack over more than one page of stored seqs', async () => {
    const events = Array.from({ length: 2500 }, (_, i) => stored('g-1', i + 2));
    expect((await store.insertEvents(events)).acks.get('g-1')).toBe(0);
    expect((await store.insertEvents([stored('g-1', 1)])).acks.get('g-1')).toBe(2501);
  });

  it('rolls the batch back when the hook throws', async () => {
    await expect(store.insertEvents([stored('g-1', 1)], throwingHook(backend.name, 'boom'))).rejects.toThrow('boom');
    expect((await store.queryEvents({ limit: 10 })).events).toEqual([]);
    expect(await store.ackedUpTo('g-1')).toBe(0);
  });

  it('pages events newest first with a cursor and filters', async () => {
    await store.insertEvents(Array.from({ length: 5 }, (_, i) => stored('g-1', i + 1)));
    const one = await store.queryEvents({ limit: 2, gateId: 'g-1' });
    expect(one.events.map((e) => e.seq)).toEqual([5, 4]);
    const two = await store.queryEvents({ limit: 2, gateId: 'g-1', cursor: one.nextCursor! });
    expect(two.events.map((e) => e.seq)).toEqual([3, 2]);
    const three = await store.queryEvents({ limit: 2, gateId: 'g-1', cursor: two.nextCursor! });
    expect(three.events.map((e) => e.seq)).toEqual([1]);
    expect(three.nextCursor).toBeNull();
    expect((await store.queryEvents({ limit: 10, gateId: 'g-2' })).events).toEqual([]);
    await expect(store.queryEvents({ limit: 1, cursor: 'bm9wZQ' })).rejects.toMatchObject({ code: 'invalid-cursor' });
  });

  it('numbers registry changes per compound and serves deltas or a snapshot', async () => {
    const [batch] = await store.upsertResidents([resident('p-1', 'c-1'), resident('p-2', 'c-1')]);
    expect(batch).toMatchObject({ compoundId: 'c-1', fromRev: 0, toRev: 2 });
    const health = await store.setHealth([{ personId: 'p-1', colour: 'red', ts: 10 }]);
    expect(health[0]).toMatchObject({ fromRev: 2, toRev: 3 });
    expect(await store.setHealth([{ personId: 'p-1', colour: 'green', ts: 5 }])).toEqual([]);
    const read = await store.readChanges('c-1', 1, 100);
    expect(read.kind === 'delta' && read.changes.map((c) => c.rev)).toEqual([2, 3]);
    expect((await store.readChanges('c-1', 0, 100)).kind).toBe('snapshot-needed');
    expect((await store.readChanges('c-1', 99, 100)).kind).toBe('snapshot-needed');
    expect(await store.compactChangeLog(1)).toBe(2);
    expect((await store.readChanges('c-1', 1, 100)).kind).toBe('snapshot-needed');
    expect((await store.readChanges('c-1', 2, 100)).kind).toBe('delta');
    const snap = await collectSnapshot(store, 'c-1');
    expect(snap.rev).toBe(3);
    expect(snap.records.map((r) => r.op)).toEqual(['quota.policy', 'mode', 'person.upsert', 'person.upsert', 'health']);
  });

  it('dates a gate going offline by when a live last will arrived, not by the connect time it carries', async () => {
    const H = 3_600_000;
    const T0 = Date.parse('2026-11-01T00:00:00Z');
    const status = (online: boolean, ts: number) => ({
      online,
      mode: 'normal' as const,
      rev: 0,
      journalDepth: 0,
      devices: { idreader: 'ok' as const, qr: 'ok' as const, turnstile: 'ok' as const },
      version: 'test',
      ts,
    });
    await store.createCompound({ id: 'c1', name: 'C1', timeZone: 'Asia/Shanghai' }, 0);
    // The will is built when the gate connects (ts T0); its online status follows a second later.
    await store.recordStatus('g1', 'c1', status(true, T0 + 1_000), T0 + 1_000);
    await store.recordStatus('g1', 'c1', status(false, T0), T0 + H);
    expect(await store.statusHistory('g1', T0 - H, T0 + 10 * H)).toEqual([
      { ts: T0 + 1_000, online: true, mode: 'normal' },
      { ts: T0 + H, online: false, mode: 'normal' },
    ]);
    const uptime = uptimeOf(await store.statusHistory('g1', T0, T0 + 10 * H), T0, T0 + 10 * H, T0 + 10 * H);
    expect(uptime.onlineMs).toBe(H - 1_000);

    // The same will retained, delivered when the cloud subscribes hours later: when it happened is
    // unknown, so it is dated no earlier than the gate's last known change (never before it).
    await store.recordStatus('g2', 'c1', status(true, T0 + 1_000), T0 + 1_000);
    await store.recordStatus('g2', 'c1', status(false, T0), T0 + 5 * H, { retained: true });
    expect((await store.statusHistory('g2', T0 - H, T0 + 10 * H)).map((r) => r.ts)).toEqual([T0 + 1_000, T0 + 1_000]);
  });

  it('records a command’s result only for the gate it was sent to, answering with the command’s kind', async () => {
    const command = { gateId: 'g-1', direction: null, reason: null, by: 'cloud', issuedAt: 1, result: null };
    await store.recordCommand({ ...command, cmdId: 'c-renew', kind: 'renew-token' });
    await store.recordCommand({ ...command, cmdId: 'c-open', kind: 'open' });
    expect(await store.recordCommandResult('g-1', 'c-renew', true, null, 5)).toBe('renew-token');
    expect(await store.recordCommandResult('g-1', 'c-open', false, 'jammed', 6)).toBe('open');
    expect(await store.recordCommandResult('g-2', 'c-open', true, null, 7)).toBeUndefined();
    expect(await store.recordCommandResult('g-1', 'c-none', true, null, 8)).toBeUndefined();
    expect((await store.recentCommands('g-1', 5)).find((c) => c.cmdId === 'c-open')?.result).toEqual({
      ok: false,
      error: 'jammed',
      at: 6,
    });
  });

  it('purges old events in chunks', async () => {
    await store.insertEvents(Array.from({ length: 25 }, (_, i) => stored('g-1', i + 1, 1000 + i)));
    await store.insertEvents([stored('g-1', 26, 1_000_000)]);
    const job = new RetentionJob({ store, logger: silentLogger, horizonMs: 1000, chunk: 10, now: () => 500_000 });
    expect(await job.runOnce()).toBe(25);
    expect((await store.queryEvents({ limit: 100 })).events.map((e) => e.seq)).toEqual([26]);
  });

  it('keeps data across reopen with the schema migrated once', async () => {
    await store.createCompound({ id: 'c-9', name: 'Nine', timeZone: 'Asia/Shanghai' }, 1);
    await store.insertEvents([stored('g-1', 1)]);
    await store.close();
    const again = await backend.reopen();
    try {
      expect((await again.getCompound('c-9'))?.name).toBe('Nine');
      expect(await again.ackedUpTo('g-1')).toBe(1);
      expect((await again.insertEvents([stored('g-1', 1), stored('g-1', 2)])).inserted.map((e) => e.seq)).toEqual([2]);
    } finally {
      await again.close();
    }
  });
});
