/**
 * When ingest writes a batch (cloud/ingest/event-ingest.ts): once the messages pause for
 * `quietMs`, once the oldest queued passage has waited `flushIntervalMs` however the messages keep
 * coming, or at once at `maxBatch`. The clock is faked (timers and `performance.now()`), so the
 * test says exactly which message lands in which batch, whatever the machine's load.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventIngest } from '../../../cloud/ingest/event-ingest.ts';
import { createCloudMetrics } from '../../../cloud/metrics/cloud-metrics.ts';
import type { StoredEvent } from '../../../cloud/store/store.ts';
import { silentLogger } from '../../../shared/log.ts';
import { entryEvent } from '../fixtures.ts';

const message = (...events: unknown[]) => JSON.stringify({ events });

describe('EventIngest flush policy', () => {
  let batches: number[][];
  let acks: { gateId: string; upTo: number }[];
  let ingest: EventIngest;

  const make = (options: { quietMs?: number; flushIntervalMs?: number; maxBatch?: number }) =>
    new EventIngest({
      store: {
        insertEvents: async (events: readonly StoredEvent[]) => {
          batches.push(events.map((e) => e.seq));
          const last = events.at(-1);
          return { inserted: [...events], acks: new Map(last ? [[last.gateId, last.seq]] : []) };
        },
        durable: async () => {},
      },
      compoundOf: () => 'c-1',
      publishAck: (gateId, upTo) => {
        acks.push({ gateId, upTo });
      },
      metrics: createCloudMetrics(),
      logger: silentLogger,
      ...options,
    });

  /** Message `seq` of gate g-1 (one passage), taken by ingest at once (no compound read). */
  const send = (seq: number) => expect(ingest.accept('g-1', message(entryEvent('g-1', seq)))).toBeUndefined();

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance'] });
    batches = [];
    acks = [];
  });
  afterEach(async () => {
    vi.useRealTimers();
    await ingest.stop();
  });

  it('writes a lone passage once the messages pause for quietMs', async () => {
    ingest = make({ quietMs: 5, flushIntervalMs: 30 });
    send(1);
    await vi.advanceTimersByTimeAsync(4);
    expect(batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([[1]]);
    expect(acks).toEqual([{ gateId: 'g-1', upTo: 1 }]);
  });

  it('keeps a stream in one batch until its oldest passage has waited flushIntervalMs', async () => {
    ingest = make({ quietMs: 5, flushIntervalMs: 30 });
    // A message every 3 ms: never a pause of 5 ms.
    for (let seq = 1; seq <= 10; seq++) {
      send(seq);
      await vi.advanceTimersByTimeAsync(3);
    }
    // t = 30 ms: the first passage has waited its 30 ms; the batch holds all ten.
    expect(batches).toEqual([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]);
    send(11);
    await vi.advanceTimersByTimeAsync(5);
    expect(batches).toEqual([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [11]]);
  });

  it('writes a burst after its last message, not cut by the first one’s timer', async () => {
    ingest = make({ quietMs: 5, flushIntervalMs: 30 });
    send(1);
    await vi.advanceTimersByTimeAsync(4);
    send(2);
    await vi.advanceTimersByTimeAsync(4);
    send(3);
    await vi.advanceTimersByTimeAsync(4);
    expect(batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('writes at once when the queue reaches maxBatch', async () => {
    ingest = make({ quietMs: 5, flushIntervalMs: 30, maxBatch: 3 });
    send(1);
    send(2);
    send(3);
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('never waits longer than flushIntervalMs, also when quietMs is set above it', async () => {
    ingest = make({ quietMs: 50, flushIntervalMs: 2 });
    send(1);
    await vi.advanceTimersByTimeAsync(2);
    expect(batches).toEqual([[1]]);
  });
});
