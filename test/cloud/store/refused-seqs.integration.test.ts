/**
 * The cumulative ack steps over refused seqs (docs/security.md, "A stolen gate"), on every store
 * backend: a refused event is answered — never stored, never redelivered forever — and the mark
 * still stops at a real gap. Refused seqs are purged with the passages; audit entries on their own
 * horizon.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { CloudStore, RefusedSeq, StoredEvent } from '../../../cloud/store/store.ts';
import { entryEvent } from '../fixtures.ts';
import { storeBackends } from './backends.ts';

const T = Date.UTC(2026, 10, 1);
const stored = (seq: number): StoredEvent => ({
  ...entryEvent('g-1', seq, { ts: T + seq }),
  compoundId: 'c-1',
  receivedAt: T + seq,
});
const refused = (seq: number, refusedAt = T): RefusedSeq => ({
  gateId: 'g-1',
  seq,
  reason: 'foreign-person',
  refusedAt,
});
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const storedSeqs = async (store: CloudStore) =>
  (await store.queryEvents({ gateId: 'g-1', limit: 10_000 })).events.map((e) => e.seq).sort((a, b) => a - b);

describe.each(storeBackends())('refused seqs and the ack mark on the $name store', (backend) => {
  let store: CloudStore;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await backend.open();
    await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
    await store.createGate({ id: 'g-1', compoundId: 'c-1', name: 'North', antiPassback: false }, 1);
  });

  it('steps over refused seqs in the same batch, and stores none of them', async () => {
    const result = await store.insertEvents([stored(1), stored(3)], undefined, [refused(2), refused(4)]);
    expect(result.acks.get('g-1')).toBe(4);
    expect(result.inserted.map((e) => e.seq)).toEqual([1, 3]);
    expect(await storedSeqs(store)).toEqual([1, 3]);
    expect(await store.ackedUpTo('g-1')).toBe(4);
  });

  it('a refusal filling a gap moves the mark over the seqs stored beyond it, and a real gap still stops it', async () => {
    expect((await store.insertEvents([stored(1), stored(2), stored(4), stored(5)])).acks.get('g-1')).toBe(2);
    expect((await store.insertEvents([], undefined, [refused(3)])).acks.get('g-1')).toBe(5);
    // Refused first, then the event before it: the mark walks over the refused seq when it comes.
    expect((await store.insertEvents([], undefined, [refused(7)])).acks.get('g-1')).toBe(5);
    expect((await store.insertEvents([stored(6)])).acks.get('g-1')).toBe(7);
    // A refused seq beyond a gap leaves the gap: seq 8 was never answered.
    expect((await store.insertEvents([], undefined, [refused(9)])).acks.get('g-1')).toBe(7);
    expect(await store.ackedUpTo('g-1')).toBe(7);
  });

  it('walks pages of both tables when a long run of stored and refused seqs follows a filled gap', async () => {
    // 2..1201 stored, 1202..2601 refused, 2602..3000 stored; seq 1 arrives last.
    await store.insertEvents(range(2, 1201).map(stored));
    await store.insertEvents(
      [],
      undefined,
      range(1202, 2601).map((seq) => refused(seq)),
    );
    await store.insertEvents(range(2602, 3000).map(stored));
    expect(await store.ackedUpTo('g-1')).toBe(0);
    expect((await store.insertEvents([stored(1)])).acks.get('g-1')).toBe(3000);
  });

  it('a resent refused seq is answered again; one stored earlier and refused on a resend stays stored', async () => {
    await store.insertEvents([stored(1)], undefined, [refused(2)]);
    const again = await store.insertEvents([], undefined, [refused(1), refused(2)]);
    expect(again.inserted).toEqual([]);
    expect(again.acks.get('g-1')).toBe(2);
    expect(await storedSeqs(store)).toEqual([1]);
    // Both tables answer seq 1 now; the walk over them still counts it once.
    await store.insertEvents([stored(4)]);
    expect((await store.insertEvents([], undefined, [refused(3)])).acks.get('g-1')).toBe(4);
  });

  it('refused seqs are purged with the passages, audit entries on their own horizon; the mark stays', async () => {
    await store.insertEvents([], undefined, [refused(1, T - 100), refused(2, T + 5_000)]);
    const audit = (at: number, action: string) =>
      store.recordAudit({ at, actor: 'a', role: 'admin', action, compoundId: null, target: null, detail: null });
    await audit(T - 100, 'x');
    await audit(T + 5_000, 'y');
    expect(await store.purgeBefore(T, 100)).toBe(1);
    expect(await store.purgeBefore(T, 100)).toBe(0);
    expect(await store.purgeAuditBefore(T, 100)).toBe(1);
    expect((await store.listAudit({ limit: 10 })).entries.map((e) => e.action)).toEqual(['y']);
    expect(await store.ackedUpTo('g-1')).toBe(2);
  });
});
