import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCloudMetrics } from '../../../cloud/metrics/cloud-metrics.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import { chunkDeltas } from '../../../cloud/sync/change-publisher.ts';
import { SyncResponder } from '../../../cloud/sync/sync-responder.ts';
import { silentLogger } from '../../../shared/log.ts';
import { type SyncMessage, isSnapshotChunk, syncMessageSchema } from '../../../shared/schemas/mqtt.ts';
import { resident } from '../fixtures.ts';

describe('SyncResponder', () => {
  let store: SqliteCloudStore;
  let sent: { topic: string; message: SyncMessage }[];
  let responder: SyncResponder;
  const make = (opts: { maxChangesPerMessage?: number; maxRecordsPerPart?: number } = {}) =>
    new SyncResponder({
      store,
      publish: async (topic, payload) => {
        // Snapshot parts go out serialised already (cloud/sync/snapshot-parts.ts).
        const message = Buffer.isBuffer(payload) ? JSON.parse(payload.toString()) : payload;
        sent.push({ topic, message: syncMessageSchema.parse(message) });
      },
      metrics: createCloudMetrics(),
      logger: silentLogger,
      ...opts,
    });

  beforeEach(async () => {
    store = new SqliteCloudStore({ path: ':memory:' });
    await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
    sent = [];
    responder = make();
  });
  afterEach(async () => {
    await store.close();
  });

  const people = (n: number, prefix = 'p') =>
    Array.from({ length: n }, (_, i) => resident(`${prefix}-${String(i).padStart(5, '0')}`, 'c-1'));

  it('answers a gate behind the log with chained deltas up to the current rev', async () => {
    await store.upsertResidents(people(3));
    await store.setMode('c-1', 'controlled', 'drill', 10);
    expect(await responder.answer('g-1', 'c-1', 2)).toBe('delta');
    expect(sent).toHaveLength(1);
    expect(sent[0]?.topic).toBe('anxin/v1/gates/g-1/sync');
    expect(sent[0]?.message).toMatchObject({ fromRev: 2, toRev: 4 });
    const delta = sent[0]!.message as { changes: { op: string }[] };
    expect(delta.changes.map((c) => c.op)).toEqual(['person.upsert', 'mode']);
  });

  it('chunks a long delta at the message limit', async () => {
    responder = make({ maxChangesPerMessage: 2 });
    await store.upsertResidents(people(5));
    await responder.answer('g-1', 'c-1', 1);
    expect(sent.map((s) => s.message)).toMatchObject([
      { fromRev: 1, toRev: 3 },
      { fromRev: 3, toRev: 5 },
    ]);
  });

  it('confirms an up-to-date gate with an empty delta', async () => {
    await store.upsertResidents(people(2));
    await responder.answer('g-1', 'c-1', 2);
    expect(sent.map((s) => s.message)).toEqual([{ fromRev: 2, toRev: 2, changes: [] }]);
  });

  it('sends a snapshot in 1-based parts for fromRev 0', async () => {
    await store.upsertResidents(people(2500));
    expect(await responder.answer('g-1', 'c-1', 0)).toBe('snapshot');
    const chunks = sent.map((s) => s.message).filter(isSnapshotChunk);
    expect(chunks).toHaveLength(3);
    expect(chunks.map((c) => [c.part, c.parts, c.snapshotRev, c.records.length])).toEqual([
      [1, 3, 2500, 1000],
      [2, 3, 2500, 1000],
      [3, 3, 2500, 502],
    ]);
    expect(chunks[0]?.records.slice(0, 2).map((r) => r.op)).toEqual(['quota.policy', 'mode']);
  });

  it('sends a snapshot when the gap reaches below the compacted log, or the gate is ahead', async () => {
    await store.upsertResidents(people(10));
    await store.compactChangeLog(3);
    await responder.answer('g-1', 'c-1', 5);
    expect(isSnapshotChunk(sent[0]!.message)).toBe(true);
    sent = [];
    await responder.answer('g-1', 'c-1', 7);
    expect(sent[0]?.message).toMatchObject({ fromRev: 7, toRev: 10 });
    sent = [];
    await responder.answer('g-1', 'c-1', 99);
    expect(isSnapshotChunk(sent[0]!.message)).toBe(true);
  });

  it('snapshots an empty compound as one part with its mode and quota', async () => {
    await responder.answer('g-1', 'c-1', 0);
    expect(sent.map((s) => s.message)).toMatchObject([{ snapshotRev: 0, part: 1, parts: 1 }]);
  });

  it('streams a snapshot: the first part is out before the store has read the rest', async () => {
    const seenByPage: number[] = [];
    const record = (i: number) => JSON.stringify({ op: 'person.delete', personId: `p-${i}` });
    const streaming: Pick<SqliteCloudStore, 'readChanges' | 'readSnapshot'> = {
      readChanges: (compoundId, fromRev, limit) => store.readChanges(compoundId, fromRev, limit),
      readSnapshot: async (_compoundId, sink) => {
        await sink.begin(7, 3000);
        for (let page = 0; page < 3; page++) {
          await sink.page(Array.from({ length: 1000 }, (_, i) => record(page * 1000 + i)));
          await new Promise((resolve) => setImmediate(resolve));
          seenByPage.push(sent.length);
        }
      },
    };
    responder = new SyncResponder({
      store: streaming,
      publish: async (topic, payload) => {
        sent.push({ topic, message: syncMessageSchema.parse(JSON.parse((payload as Buffer).toString())) });
      },
      metrics: createCloudMetrics(),
      logger: silentLogger,
    });
    expect(await responder.answer('g-1', 'c-1', 0)).toBe('snapshot');
    expect(seenByPage[0]).toBe(1); // part 1 published while pages 2 and 3 were still to be read
    const chunks = sent.map((s) => s.message).filter(isSnapshotChunk);
    expect(chunks.map((c) => [c.part, c.parts, c.snapshotRev, c.records.length])).toEqual([
      [1, 3, 7, 1000],
      [2, 3, 7, 1000],
      [3, 3, 7, 1000],
    ]);
    expect(chunks[2]?.records.at(-1)).toEqual({ op: 'person.delete', personId: 'p-2999' });
  });

  it('a gate asking again while its snapshot is under way resumes it from its first unacknowledged part', async () => {
    responder = new SyncResponder({
      store,
      publish: async (topic, payload) => {
        sent.push({ topic, message: syncMessageSchema.parse(JSON.parse((payload as Buffer).toString())) });
      },
      metrics: createCloudMetrics(),
      logger: silentLogger,
      flow: { maxInFlightBytes: 1 }, // one part in flight at a time
    });
    await store.upsertResidents(people(2500));
    await responder.answer('g-1', 'c-1', 0);
    expect(responder.acknowledge('g-1', 2500, 1)).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    await responder.answer('g-1', 'c-1', 0); // reconnected: part 2 may be lost, it goes again
    const parts = () =>
      sent
        .map((s) => s.message)
        .filter(isSnapshotChunk)
        .map((c) => c.part);
    expect(parts()).toEqual([1, 2, 2]);
    responder.acknowledge('g-1', 2500, 2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(parts()).toEqual([1, 2, 2, 3]);
    responder.stop();
  });

  it('a snapshot whose read fails ends its session and rejects; the next request starts afresh', async () => {
    let fail = true;
    const flaky: Pick<SqliteCloudStore, 'readChanges' | 'readSnapshot'> = {
      readChanges: (compoundId, fromRev, limit) => store.readChanges(compoundId, fromRev, limit),
      readSnapshot: async (compoundId, sink) => {
        if (!fail) return store.readSnapshot(compoundId, sink);
        await sink.begin(0, 5000);
        await sink.page(Array.from({ length: 1000 }, () => JSON.stringify({ op: 'person.delete', personId: 'p-1' })));
        throw new Error('disk gone');
      },
    };
    responder = new SyncResponder({
      store: flaky,
      publish: async (topic, payload) => {
        sent.push({ topic, message: syncMessageSchema.parse(JSON.parse((payload as Buffer).toString())) });
      },
      metrics: createCloudMetrics(),
      logger: silentLogger,
    });
    await expect(responder.answer('g-1', 'c-1', 0)).rejects.toThrow('disk gone');
    expect(responder.acknowledge('g-1', 0, 1)).toBe(false); // no session left
    fail = false;
    sent = [];
    expect(await responder.answer('g-1', 'c-1', 0)).toBe('snapshot');
    expect(sent.map((s) => s.message)).toMatchObject([{ snapshotRev: 0, part: 1, parts: 1 }]);
  });

  /**
   * The extensions' records (supply claims, exit uses…) are read before a streamed snapshot, whose
   * part count includes them. A change committed between that read and the snapshot's read has a
   * rev the snapshot covers, so no delta would ever bring it: the snapshot must carry it.
   */
  describe('extension records never older than the snapshot', () => {
    /** An extension whose record says which read it came from; `meanwhile` runs right after it is read. */
    const extension = (meanwhile: (call: number) => Promise<void>) => {
      let calls = 0;
      return async (compoundId: string) => {
        calls += 1;
        const rev = (await store.getCompound(compoundId))?.rev ?? 0;
        const records = [{ op: 'mode' as const, mode: 'normal' as const, reason: `extras read ${calls}`, ts: calls }];
        await meanwhile(calls);
        return { rev, records };
      };
    };
    const withExtras = (extraSnapshotRecords: ReturnType<typeof extension>) =>
      new SyncResponder({
        store,
        extraSnapshotRecords,
        publish: async (topic, payload) => {
          sent.push({ topic, message: syncMessageSchema.parse(JSON.parse((payload as Buffer).toString())) });
        },
        metrics: createCloudMetrics(),
        logger: silentLogger,
      });
    const lastRecord = () => {
      const chunks = sent.map((s) => s.message).filter(isSnapshotChunk);
      return { chunks, last: chunks.at(-1)?.records.at(-1) as { reason?: string } | undefined };
    };

    it("a change committed between the extensions' read and the snapshot's: read again, the newer records sent", async () => {
      await store.upsertResidents(people(10));
      responder = withExtras(
        extension(async (call) => {
          if (call === 1) await store.setMode('c-1', 'controlled', 'a claim commits meanwhile', 20);
        }),
      );
      expect(await responder.answer('g-1', 'c-1', 0)).toBe('snapshot');
      const { chunks, last } = lastRecord();
      expect(chunks.map((c) => c.snapshotRev)).toEqual([11]);
      expect(last?.reason).toBe('extras read 2');
    });

    it("a compound changing on every read: its records read whole, then the extensions' after them", async () => {
      await store.upsertResidents(people(2500));
      let ts = 20;
      responder = withExtras(
        extension(async () => {
          ts += 1;
          await store.setMode('c-1', 'controlled', 'busy', ts);
        }),
      );
      expect(await responder.answer('g-1', 'c-1', 0)).toBe('snapshot');
      const { chunks, last } = lastRecord();
      // Three streamed tries moved the rev three times (2500 → 2503); the whole read is at 2503,
      // and the extensions were read after it (their fourth read), so nothing older is sent.
      expect(chunks.map((c) => [c.part, c.parts, c.snapshotRev])).toEqual([
        [1, 3, 2503],
        [2, 3, 2503],
        [3, 3, 2503],
      ]);
      expect(last?.reason).toBe('extras read 4');
      expect(chunks.flatMap((c) => c.records)).toHaveLength(2 + 2500 + 1);
    });
  });

  it('splits live change batches into chained deltas of at most 1000', () => {
    const changes = Array.from({ length: 2001 }, (_, i) => ({ op: 'person.delete' as const, personId: `p-${i}` }));
    const deltas = chunkDeltas({ compoundId: 'c-1', fromRev: 10, toRev: 2011, changes });
    expect(deltas.map((d) => [d.fromRev, d.toRev, d.changes.length])).toEqual([
      [10, 1010, 1000],
      [1010, 2010, 1000],
      [2010, 2011, 1],
    ]);
  });
});
