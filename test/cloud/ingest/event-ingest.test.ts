import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventIngest } from '../../../cloud/ingest/event-ingest.ts';
import { GateDirectory } from '../../../cloud/ingest/gate-directory.ts';
import { createCloudMetrics } from '../../../cloud/metrics/cloud-metrics.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import type { StoredEvent } from '../../../cloud/store/store.ts';
import { createLogger, silentLogger } from '../../../shared/log.ts';
import { entryEvent } from '../fixtures.ts';

const message = (...events: unknown[]) => JSON.stringify({ events });

describe('EventIngest', () => {
  let store: SqliteCloudStore;
  let metrics: ReturnType<typeof createCloudMetrics>;
  let acks: { gateId: string; upTo: number; storedAtAck: number }[];
  let ingest: EventIngest;

  const make = (extra: Partial<ConstructorParameters<typeof EventIngest>[0]> = {}) => {
    const gates = new GateDirectory(store);
    return new EventIngest({
      store,
      compoundOf: (gateId) => gates.compoundOf(gateId),
      publishAck: async (gateId, upTo) => {
        // What is visible in the store at the moment the ack goes out.
        const page = await store.queryEvents({ gateId, limit: 1000 });
        acks.push({ gateId, upTo, storedAtAck: page.events.length });
      },
      metrics,
      logger: silentLogger,
      flushIntervalMs: 1,
      ...extra,
    });
  };

  beforeEach(async () => {
    store = new SqliteCloudStore({ path: ':memory:' });
    await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
    await store.createGate({ id: 'g-1', compoundId: 'c-1', name: 'North', antiPassback: false }, 1);
    await store.createGate({ id: 'g-2', compoundId: 'c-1', name: 'South', antiPassback: false }, 1);
    metrics = createCloudMetrics();
    acks = [];
    ingest = make();
  });
  afterEach(async () => {
    await ingest.stop();
    await store.close();
  });

  const settle = async () => {
    await ingest.flush();
    await new Promise((r) => setImmediate(r));
  };

  it("stamps an ack with when the store read its mark, when the store says (several instances' acks in order)", async () => {
    const stamps: (number | undefined)[] = [];
    const stamped = make({
      store: {
        insertEvents: async (...args: Parameters<SqliteCloudStore['insertEvents']>) => ({
          ...(await store.insertEvents(...args)),
          acksReadAt: 1_234,
        }),
        durable: () => store.durable(),
      },
      publishAck: (_gateId, _upTo, readAt) => {
        stamps.push(readAt);
      },
    });
    await stamped.accept('g-1', message(entryEvent('g-1', 1)));
    await stamped.flush();
    await stamped.stop();
    expect(stamps).toEqual([1_234]);
    // The SQLite store (one instance) leaves it to the time of publishing.
    await ingest.accept('g-1', message(entryEvent('g-1', 2)));
    await settle();
    expect((await store.insertEvents([])).acksReadAt).toBeUndefined();
  });

  it('stores a replayed event once and acks it both times', async () => {
    await ingest.accept('g-1', message(entryEvent('g-1', 1)));
    await settle();
    await ingest.accept('g-1', message(entryEvent('g-1', 1)));
    await settle();
    expect((await store.queryEvents({ limit: 10 })).events).toHaveLength(1);
    expect(acks.map((a) => a.upTo)).toEqual([1, 1]);
    expect(metrics.ingestEvents.get({ outcome: 'stored' })).toBe(1);
    expect(metrics.ingestEvents.get({ outcome: 'duplicate' })).toBe(1);
  });

  it('acks only after the batch is committed', async () => {
    await ingest.accept('g-1', message(entryEvent('g-1', 1), entryEvent('g-1', 2)));
    await settle();
    expect(acks).toEqual([{ gateId: 'g-1', upTo: 2, storedAtAck: 2 }]);
  });

  it('stops the ack at a gap and moves it on when the gap is filled', async () => {
    await ingest.accept('g-1', message(entryEvent('g-1', 1), entryEvent('g-1', 2), entryEvent('g-1', 4)));
    await settle();
    expect(acks.at(-1)?.upTo).toBe(2);
    await ingest.accept('g-1', message(entryEvent('g-1', 3)));
    await settle();
    expect(acks.at(-1)?.upTo).toBe(4);
  });

  it('rejects and counts events whose gateId is not the topic gate', async () => {
    await ingest.accept('g-1', message(entryEvent('g-1', 1), entryEvent('g-2', 1)));
    await settle();
    expect(metrics.ingestRejects.get({ reason: 'gate-mismatch' })).toBe(1);
    const stored = (await store.queryEvents({ limit: 10 })).events;
    expect(stored.map((e) => `${e.gateId}/${e.seq}`)).toEqual(['g-1/1']);
  });

  it('rejects and counts invalid payloads without storing or acking', async () => {
    await ingest.accept('g-1', 'not json');
    await ingest.accept('g-1', message({ ...entryEvent('g-1', 1), seq: 0 }));
    await ingest.accept('g-1', JSON.stringify({ events: [] }));
    await settle();
    expect(metrics.ingestRejects.get({ reason: 'invalid-payload' })).toBe(3);
    expect(acks).toEqual([]);
  });

  it('rejects events of gates that are not registered', async () => {
    await ingest.accept('g-9', message(entryEvent('g-9', 1), entryEvent('g-9', 2)));
    await settle();
    expect(metrics.ingestRejects.get({ reason: 'unknown-gate' })).toBe(2);
    expect(acks).toEqual([]);
  });

  it('runs the hook in the transaction with only new events, and tags receivedAt and compound', async () => {
    const seen: StoredEvent[][] = [];
    await ingest.stop();
    ingest = make({
      hook: {
        engine: 'sqlite',
        onStored: (events) => {
          seen.push([...events]);
        },
      },
      now: () => 42,
    });
    await ingest.accept('g-1', message(entryEvent('g-1', 1)));
    await settle();
    await ingest.accept('g-1', message(entryEvent('g-1', 1), entryEvent('g-1', 2)));
    await settle();
    expect(seen.map((b) => b.map((e) => e.seq))).toEqual([[1], [2]]);
    expect(seen[0]![0]).toMatchObject({ compoundId: 'c-1', receivedAt: 42 });
  });

  it('does not ack a batch whose transaction failed', async () => {
    await ingest.stop();
    ingest = make({
      hook: {
        engine: 'sqlite',
        onStored: () => {
          throw new Error('rollup failed');
        },
      },
    });
    await ingest.accept('g-1', message(entryEvent('g-1', 1)));
    await settle();
    expect(acks).toEqual([]);
    expect(metrics.ingestRejects.get({ reason: 'store-failed' })).toBe(1);
  });

  it('holds the publisher back when the queue is full and lets it go once drained', async () => {
    await ingest.stop();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const slowStore = {
      insertEvents: async (...args: Parameters<SqliteCloudStore['insertEvents']>) => {
        await gate;
        return store.insertEvents(...args);
      },
      durable: () => store.durable(),
    };
    ingest = make({ store: slowStore, maxQueued: 3, maxBatch: 10, flushIntervalMs: 50 });
    await ingest.accept('g-1', message(entryEvent('g-1', 1), entryEvent('g-1', 2)));
    let accepted = false;
    const second = Promise.resolve(ingest.accept('g-1', message(entryEvent('g-1', 3), entryEvent('g-1', 4)))).then(
      () => {
        accepted = true;
      },
    );
    try {
      await new Promise((r) => setTimeout(r, 100));
      expect(accepted).toBe(false);
      expect(metrics.ingestBackpressure.get()).toBe(1);
      expect(metrics.registry.render()).toMatch(/anxin_ingest_lag_seconds \d/);
    } finally {
      release();
    }
    await second;
    await settle();
    expect(acks.at(-1)?.upTo).toBe(4);
  });

  it('batches a burst into few transactions', async () => {
    const all = Array.from({ length: 20 }, (_, i) => ingest.accept('g-2', message(entryEvent('g-2', i + 1))));
    await Promise.all(all);
    await settle();
    expect(metrics.ingestBatchSize.count()).toBeLessThan(20);
    expect(acks.at(-1)).toMatchObject({ gateId: 'g-2', upTo: 20 });
  });

  it('acknowledges a batch only once the store says it is durable, in batch order', async () => {
    await ingest.stop();
    const syncs: (() => void)[] = [];
    const heldStore = {
      insertEvents: (...args: Parameters<SqliteCloudStore['insertEvents']>) => store.insertEvents(...args),
      durable: () => new Promise<void>((resolve) => syncs.push(resolve)),
    };
    ingest = make({ store: heldStore, flushIntervalMs: 1 });
    await ingest.accept('g-1', message(entryEvent('g-1', 1)));
    await vi.waitFor(() => expect(syncs).toHaveLength(1));
    await ingest.accept('g-1', message(entryEvent('g-1', 2)));
    await vi.waitFor(() => expect(syncs).toHaveLength(2));
    // Both batches are committed (visible), neither is acknowledged while the disk has not confirmed.
    expect((await store.queryEvents({ limit: 10 })).events).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 20));
    expect(acks).toEqual([]);
    syncs[1]!();
    await new Promise((r) => setTimeout(r, 20));
    expect(acks).toEqual([]);
    syncs[0]!();
    await vi.waitFor(() => expect(acks.map((a) => a.upTo)).toEqual([1, 2]));
  });

  it('withholds the ack when the fsync fails, and counts it', async () => {
    await ingest.stop();
    ingest = make({
      store: {
        insertEvents: (...args: Parameters<SqliteCloudStore['insertEvents']>) => store.insertEvents(...args),
        durable: () => Promise.reject(new Error('EIO')),
      },
      flushIntervalMs: 1,
    });
    await ingest.accept('g-1', message(entryEvent('g-1', 1)));
    await ingest.flush();
    expect(acks).toEqual([]);
    expect(metrics.registry.render()).toMatch(/reason="fsync-failed"} 1/);
  });

  it('withholds the ack, logs and counts it when the store could not move the marks after storing', async () => {
    await ingest.stop();
    const lines: string[] = [];
    const logger = createLogger({
      destination: new Writable({
        write: (chunk: Buffer, _encoding, done) => {
          lines.push(chunk.toString());
          done();
        },
      }),
    });
    const lost = new Error('connection terminated');
    const stored: number[] = [];
    ingest = make({
      store: {
        insertEvents: async (...args: Parameters<SqliteCloudStore['insertEvents']>) => ({
          ...(await store.insertEvents(...args)),
          acks: new Map(),
          ackError: lost,
        }),
        durable: () => store.durable(),
      },
      logger,
      onStored: (events) => stored.push(...events.map((e) => e.seq)),
    });
    await ingest.accept('g-1', message(entryEvent('g-1', 1), entryEvent('g-1', 2)));
    await ingest.accept('g-2', message(entryEvent('g-2', 1)));
    await settle();
    // Stored (and reported stored once), never acknowledged: the gates resend, the copies are skipped.
    expect(stored).toEqual([1, 2, 1]);
    expect(acks).toEqual([]);
    expect(metrics.ingestRejects.get({ reason: 'ack-failed' })).toBe(2);
    const logged = lines.map((l) => JSON.parse(l));
    expect(logged).toEqual([
      expect.objectContaining({ level: 50, gates: 2, err: expect.objectContaining({ message: lost.message }) }),
    ]);
  });
});
