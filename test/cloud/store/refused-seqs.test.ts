/**
 * The cumulative ack steps over refused seqs (docs/security.md, "A stolen gate"): a refused event is
 * answered — never stored, never redelivered forever — and the mark still stops at a real gap.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import type { RefusedSeq, StoredEvent } from '../../../cloud/store/store.ts';
import { entryEvent } from '../fixtures.ts';

const stored = (seq: number, receivedAt = 1_000): StoredEvent => ({
  ...entryEvent('g-1', seq),
  compoundId: 'c-1',
  receivedAt,
});
const refused = (seq: number, refusedAt = 1_000): RefusedSeq => ({
  gateId: 'g-1',
  seq,
  reason: 'foreign-person',
  refusedAt,
});
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('refused seqs and the ack mark', () => {
  let store: SqliteCloudStore;
  beforeEach(async () => {
    store = new SqliteCloudStore({ path: ':memory:' });
    await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
    await store.createGate({ id: 'g-1', compoundId: 'c-1', name: 'North', antiPassback: false }, 1);
  });
  afterEach(async () => {
    await store.close();
  });

  it('steps over refused seqs in the same batch, and stores none of them', async () => {
    const result = await store.insertEvents([stored(1), stored(3)], undefined, [refused(2), refused(4)]);
    expect(result.acks.get('g-1')).toBe(4);
    expect(result.inserted.map((e) => e.seq)).toEqual([1, 3]);
    expect((await store.queryEvents({ gateId: 'g-1', limit: 10 })).events.map((e) => e.seq).sort()).toEqual([1, 3]);
    expect(await store.ackedUpTo('g-1')).toBe(4);
  });

  it('a refusal filling a gap moves the mark over the seqs stored beyond it, and a real gap still stops it', async () => {
    expect((await store.insertEvents([stored(1), stored(2), stored(4), stored(5)])).acks.get('g-1')).toBe(2);
    expect((await store.insertEvents([], undefined, [refused(3)])).acks.get('g-1')).toBe(5);
    // Refused first, then the events before it: the mark walks over the refused seq when they come.
    expect((await store.insertEvents([], undefined, [refused(7)])).acks.get('g-1')).toBe(5);
    expect((await store.insertEvents([stored(6)])).acks.get('g-1')).toBe(7);
    // A refused seq beyond a gap leaves the gap: seq 8 was never answered.
    expect((await store.insertEvents([], undefined, [refused(9)])).acks.get('g-1')).toBe(7);
  });

  it('walks pages of both tables when a long run of stored and refused seqs follows a filled gap', async () => {
    // 2..1201 stored, 1202..2601 refused, 2602..3000 stored; seq 1 arrives last.
    await store.insertEvents(range(2, 1201).map((seq) => stored(seq)));
    await store.insertEvents(
      [],
      undefined,
      range(1202, 2601).map((seq) => refused(seq)),
    );
    await store.insertEvents(range(2602, 3000).map((seq) => stored(seq)));
    expect(await store.ackedUpTo('g-1')).toBe(0);
    expect((await store.insertEvents([stored(1)])).acks.get('g-1')).toBe(3000);
  });

  it('a resent refused seq is answered again and recorded once; a resent stored one stays stored', async () => {
    await store.insertEvents([stored(1)], undefined, [refused(2)]);
    const again = await store.insertEvents([stored(1)], undefined, [refused(2)]);
    expect(again.inserted).toEqual([]);
    expect(again.acks.get('g-1')).toBe(2);
    const count = store.db.prepare('SELECT COUNT(*) AS n FROM refused_seqs').get() as { n: number };
    expect(count.n).toBe(1);
  });

  it('refused seqs are purged with the passages, audit entries on their own horizon', async () => {
    await store.insertEvents([], undefined, [refused(1, 100), refused(2, 5_000)]);
    await store.recordAudit({
      at: 100,
      actor: 'a',
      role: 'admin',
      action: 'x',
      compoundId: null,
      target: null,
      detail: null,
    });
    await store.recordAudit({
      at: 5_000,
      actor: 'a',
      role: 'admin',
      action: 'y',
      compoundId: null,
      target: null,
      detail: null,
    });
    expect(await store.purgeBefore(1_000, 100)).toBe(1);
    const left = store.db.prepare('SELECT seq FROM refused_seqs').all() as { seq: number }[];
    expect(left).toEqual([{ seq: 2 }]);
    expect(await store.purgeAuditBefore(1_000, 100)).toBe(1);
    expect((await store.listAudit({ limit: 10 })).entries.map((e) => e.action)).toEqual(['y']);
    // The mark is kept: the gate is not asked for seq 1 or 2 again.
    expect(await store.ackedUpTo('g-1')).toBe(2);
  });
});
