/**
 * The events table's behaviour on every store backend: the all-compound and per-compound lists
 * newest first (SQLite merges per-gate pages for want of an index on ts alone or per compound;
 * PostgreSQL reads its per-compound index), time windows, retention in bounded chunks over every gate in the table, and the ack walk
 * (batch seqs first, rolled-back batches, gaps).
 */
import fc from 'fast-check';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { RetentionJob } from '../../../cloud/store/retention-job.ts';
import type { CloudStore, StoredEvent } from '../../../cloud/store/store.ts';
import { silentLogger } from '../../../shared/log.ts';
import { entryEvent } from '../fixtures.ts';
import { type StoreBackend, storeBackends, throwingHook } from './backends.ts';

const GATES = [
  { id: 'g-a1', compoundId: 'c-a' },
  { id: 'g-a2', compoundId: 'c-a' },
  { id: 'g-b1', compoundId: 'c-b' },
  { id: 'g-c1', compoundId: 'c-c' },
];

const event = (gate: (typeof GATES)[number], seq: number, ts: number, extra: Partial<StoredEvent> = {}) => ({
  ...entryEvent(gate.id, seq, { ts }),
  compoundId: gate.compoundId,
  receivedAt: ts + 10,
  ...extra,
});

async function openStore(backend: StoreBackend): Promise<CloudStore> {
  const store = await backend.open();
  for (const c of ['c-a', 'c-b', 'c-c']) await store.createCompound({ id: c, name: c, timeZone: 'Asia/Shanghai' }, 1);
  for (const g of GATES) await store.createGate({ ...g, name: g.id, antiPassback: false }, 1);
  return store;
}

describe.each(storeBackends())('events on the $name store', (backend) => {
  let store: CloudStore;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await openStore(backend);
  });

  it('lists every compound, or one, newest first, page by page, exactly as a sort of all rows would', async () => {
    // Besides the registered gates: one the registry does not know, and a gate whose passages name
    // another compound than its own (neither happens through ingest; the lists must not care).
    const sources = [...GATES, { id: 'g-zz', compoundId: 'c-a' }, { id: 'g-a1', compoundId: 'c-b' }];
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ source: fc.integer({ min: 0, max: sources.length - 1 }), ts: fc.integer({ min: 0, max: 40 }) }),
          { maxLength: 40 },
        ),
        fc.integer({ min: 1, max: 7 }),
        fc.boolean(),
        fc.constantFrom(undefined, 'c-a', 'c-b', 'c-none'),
        fc.constantFrom(undefined, [5, 30] as const),
        async (rows, limit, onlyDenied, compoundId, window) => {
          const s = await openStore(backend);
          try {
            const seqs = new Map<string, number>();
            const events = rows.map(({ source, ts }, i) => {
              const gate = sources[source]!;
              const seq = (seqs.get(gate.id) ?? 0) + 1;
              seqs.set(gate.id, seq);
              return event(gate, seq, ts, i % 3 === 0 ? { result: 'denied', reason: 'health-red' } : {});
            });
            // Two batches: the second one meets pairs of gate and compound the first already wrote.
            await s.insertEvents(events.slice(0, events.length >> 1));
            await s.insertEvents(events.slice(events.length >> 1));
            // Insert order = id order, so (ts desc, id desc) is ts desc then insertion order reversed.
            const expected = events
              .map((e, id) => ({ e, id }))
              .filter(({ e }) => !onlyDenied || e.result === 'denied')
              .filter(({ e }) => compoundId === undefined || e.compoundId === compoundId)
              .filter(({ e }) => !window || (e.ts >= window[0] && e.ts < window[1]))
              .sort((a, b) => b.e.ts - a.e.ts || b.id - a.id)
              .map(({ e }) => `${e.gateId}/${e.seq}`);
            const seen: string[] = [];
            let cursor: string | undefined;
            for (let pages = 0; pages < 100; pages++) {
              const page = await s.queryEvents({
                limit,
                ...(onlyDenied ? { result: 'denied' as const } : {}),
                ...(compoundId ? { compoundId } : {}),
                ...(window ? { from: window[0], to: window[1] } : {}),
                ...(cursor ? { cursor } : {}),
              });
              seen.push(...page.events.map((e) => `${e.gateId}/${e.seq}`));
              if (!page.nextCursor) break;
              cursor = page.nextCursor;
            }
            expect(seen).toEqual(expected);
          } finally {
            await s.close();
          }
        },
      ),
      { numRuns: 60 },
    );
    // 60 fresh stores: a few seconds on a quiet machine, more beside the other suites.
  }, 120_000);

  it("lists a compound's passages stored after a rolled-back batch of the same gate", async () => {
    const gate = { id: 'g-new', compoundId: 'c-c' };
    const throwing = throwingHook(backend.name, 'boom');
    await expect(store.insertEvents([event(gate, 1, 10)], throwing)).rejects.toThrow('boom');
    expect((await store.queryEvents({ limit: 10, compoundId: 'c-c' })).events).toEqual([]);
    await store.insertEvents([event(gate, 2, 20)]);
    expect((await store.queryEvents({ limit: 10, compoundId: 'c-c' })).events.map((e) => e.seq)).toEqual([2]);
  });

  it('keeps the time window of an all-compound list', async () => {
    await store.insertEvents([event(GATES[0]!, 1, 100), event(GATES[2]!, 1, 200), event(GATES[3]!, 1, 300)]);
    const page = await store.queryEvents({ limit: 10, from: 150, to: 300 });
    expect(page.events.map((e) => e.gateId)).toEqual(['g-b1']);
  });

  it('purges gate by gate in bounded chunks, every gate in the table, and keeps what is recent', async () => {
    const events: StoredEvent[] = [];
    GATES.forEach((gate, g) => {
      for (let seq = 1; seq <= 12; seq++) events.push(event(gate, seq, seq <= 9 ? 1000 + seq : 900_000 + g));
    });
    // A gate the registry does not (or no longer) know must not escape retention.
    for (let seq = 1; seq <= 3; seq++) events.push(event({ id: 'g-zz', compoundId: 'c-a' }, seq, 2000 + seq));
    await store.insertEvents(events);
    expect(await store.purgeBefore(500_000, 10)).toBe(10);
    const job = new RetentionJob({ store, logger: silentLogger, horizonMs: 1000, chunk: 10, now: () => 500_000 });
    expect(await job.runOnce()).toBe(4 * 9 + 3 - 10);
    const left = (await store.queryEvents({ limit: 100 })).events;
    expect(left.map((e) => e.ts).sort()).toEqual([
      900_000, 900_000, 900_000, 900_001, 900_001, 900_001, 900_002, 900_002, 900_002, 900_003, 900_003, 900_003,
    ]);
  });

  it('keeps the ack of a rolled-back batch out of the next one', async () => {
    const gate = GATES[0]!;
    expect((await store.insertEvents([event(gate, 1, 1)])).acks.get(gate.id)).toBe(1);
    const throwing = throwingHook(backend.name, 'boom');
    await expect(store.insertEvents([event(gate, 2, 2), event(gate, 3, 3)], throwing)).rejects.toThrow('boom');
    expect((await store.insertEvents([event(gate, 3, 3)])).acks.get(gate.id)).toBe(1);
    expect((await store.insertEvents([event(gate, 2, 2)])).acks.get(gate.id)).toBe(3);
    expect(await store.ackedUpTo(gate.id)).toBe(3);
  });

  it('acks over seqs of the batch given out of order and over duplicates already stored', async () => {
    const gate = GATES[1]!;
    await store.insertEvents([event(gate, 4, 4), event(gate, 5, 5)]);
    const result = await store.insertEvents([
      event(gate, 3, 3),
      event(gate, 1, 1),
      event(gate, 2, 2),
      event(gate, 4, 4),
    ]);
    expect(result.inserted.map((e) => e.seq)).toEqual([3, 1, 2]);
    expect(result.acks.get(gate.id)).toBe(5);
  });

  it('acks up to a gap, then over everything stored beyond it once the gap is filled', async () => {
    const gate = GATES[0]!;
    const beyond = Array.from({ length: 1500 }, (_, i) => event(gate, i + 3, i + 3));
    expect((await store.insertEvents([event(gate, 1, 1), ...beyond])).acks.get(gate.id)).toBe(1);
    expect((await store.insertEvents([event(gate, 1503, 1503)])).acks.get(gate.id)).toBe(1);
    expect((await store.insertEvents([event(gate, 2, 2)])).acks.get(gate.id)).toBe(1503);
  });
});
