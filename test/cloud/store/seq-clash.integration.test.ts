/**
 * A gate that sends two passages under one seq (a journal restored from a backup, a cloned card):
 * the copy stored first stays, the other is not stored and its seq is acked like a duplicate — so
 * it must not vanish silently. On both engines, through ingest (cloud/ingest/event-ingest.ts):
 * `anxin_ingest_rejects_total{reason="seq-clash"}` counts it and a warning names the gate, the
 * seq and both ts; the same passage sent again (same ts) stays a plain duplicate. PostgreSQL
 * finds the clash under the batch's locks (cloud/store/postgres/pg-events.ts `clashes`), SQLite
 * on the `(gate_id, seq)` conflict (cloud/store/sqlite/event-tables.ts).
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventIngest } from '../../../cloud/ingest/event-ingest.ts';
import { createCloudMetrics } from '../../../cloud/metrics/cloud-metrics.ts';
import { PostgresCloudStore } from '../../../cloud/store/postgres/postgres-store.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import type { EventStore } from '../../../cloud/store/store.ts';
import { createLogger } from '../../../shared/log.ts';
import { createTestDatabase, type TestDatabase } from '../../../testkit/postgres.ts';
import { EVENTS_T0, entryEvent } from '../fixtures.ts';

type Store = EventStore & {
  createCompound: SqliteCloudStore['createCompound'];
  createGate: SqliteCloudStore['createGate'];
  queryEvents: SqliteCloudStore['queryEvents'];
  close(): Promise<void>;
};

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('seq_clash');
});
afterAll(async () => {
  await db?.drop();
});

const engines: [string, () => Promise<Store>][] = [
  ['SQLite', async () => new SqliteCloudStore({ path: ':memory:' })],
  ['PostgreSQL', () => PostgresCloudStore.open({ url: db.url, max: 2 })],
];

describe.each(engines)('a seq sent twice with different times (%s)', (_engine, open) => {
  it('keeps the first, acks the seq, and logs and counts the one not stored', async () => {
    const store = await open();
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      destination: new Writable({
        write: (chunk: Buffer, _encoding, done) => {
          lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
          done();
        },
      }),
    });
    const metrics = createCloudMetrics();
    const acks: number[] = [];
    await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
    await store.createGate({ id: 'g-1', compoundId: 'c-1', name: 'North', antiPassback: false }, 1);
    const ingest = new EventIngest({
      store,
      compoundOf: async () => 'c-1',
      publishAck: (_gateId, upTo) => {
        acks.push(upTo);
      },
      metrics,
      logger,
      flushIntervalMs: 1,
    });
    try {
      const send = async (ts: number) => {
        await ingest.accept('g-1', JSON.stringify({ events: [entryEvent('g-1', 1, { ts })] }));
        await ingest.flush();
      };
      await send(EVENTS_T0 + 1000);
      await send(EVENTS_T0 + 1000); // the same passage again: a plain duplicate
      expect(metrics.ingestRejects.get({ reason: 'seq-clash' })).toBe(0);
      await send(EVENTS_T0 + 9000); // another passage under the same seq
      expect(metrics.ingestRejects.get({ reason: 'seq-clash' })).toBe(1);
      expect(metrics.ingestEvents.get({ outcome: 'stored' })).toBe(1);
      expect(metrics.ingestEvents.get({ outcome: 'duplicate' })).toBe(1);
      const warned = lines.filter(
        (l) => l.msg === 'passage not stored: its gate sent another passage under the same seq first',
      );
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatchObject({
        gateId: 'g-1',
        seq: 1,
        storedTs: EVENTS_T0 + 1000,
        droppedTs: EVENTS_T0 + 9000,
      });
      const stored = await store.queryEvents({ gateId: 'g-1', limit: 10 });
      expect(stored.events.map((e) => e.ts)).toEqual([EVENTS_T0 + 1000]);
      // Acked all the same: the gate prunes it rather than resending it forever.
      await ingest.stop();
      expect(acks.at(-1)).toBe(1);
    } finally {
      await ingest.stop();
      await store.close();
    }
  });
});
