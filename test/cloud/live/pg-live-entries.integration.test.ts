/**
 * `/live` entries notified inside the ingest transaction on a real PostgreSQL
 * (cloud/live/pg-live-entries.ts): stored ⇔ notified. A batch stored through the store alone — no
 * code after the COMMIT runs, as when an instance dies between its COMMIT and anything it would do
 * next — has reached the other instances' listening connections; a batch that rolls back reached
 * nobody; a replayed batch is not notified twice. Then two instances: one cloud core ingesting,
 * another instance's hub with its fan-out: each entry reaches the other instance's listeners once
 * and the ingesting instance's own listeners once (its own notifications skipped, not delivered
 * twice). Waits on events, never on time.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveHub, type LiveMessage } from '../../../cloud/live/live-hub.ts';
import { pgLiveEntriesHook } from '../../../cloud/live/pg-live-entries.ts';
import { createLiveWire, LIVE_CHANNEL, unpackNotification } from '../../../cloud/live/live-wire.ts';
import { PgLiveFanout } from '../../../cloud/live/pg-live-fanout.ts';
import { composeIngestHooks, type PgIngestHook } from '../../../cloud/store/ingest-hook.ts';
import { PostgresCloudStore } from '../../../cloud/store/postgres/postgres-store.ts';
import type { StoredEvent } from '../../../cloud/store/store.ts';
import { silentLogger } from '../../../shared/log.ts';
import { createTestDatabase, type TestDatabase } from '../../../testkit/postgres.ts';
import { createHarness } from '../http/app-harness.ts';
import { entryEvent, resident } from '../fixtures.ts';

let db: TestDatabase;
let store: PostgresCloudStore;
let listener: pg.Client;
/** Every entry heard on the channel, by origin. */
const heard: { origin: string; entry: LiveMessage }[] = [];
const waiters: (() => void)[] = [];
/** The deployment's seal key of these tests; `i-a` is the ingesting instance. */
const KEY = Buffer.alloc(32, 9);
const ingesting = createLiveWire(KEY, 'i-a');

const stored = (gateId: string, seq: number, personId = 'p-1'): StoredEvent => ({
  ...entryEvent(gateId, seq, { personId }),
  compoundId: 'c-1',
  receivedAt: Date.now(),
});

/** Resolves once `n` entries in all were heard. */
function heardAtLeast(n: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (heard.length >= n) resolve();
      else waiters.push(check);
    };
    check();
  });
}

beforeAll(async () => {
  db = await createTestDatabase('live_entries');
  store = await PostgresCloudStore.open({ url: db.url, max: 4 });
  await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
  await store.createGate({ id: 'g-1', compoundId: 'c-1', name: 'North', antiPassback: false }, 1);
  await store.upsertResidents([resident('p-1', 'c-1'), resident('v-1', 'c-1', { kind: 'visitor', maskedName: '李*' })]);
  listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  listener.on('notification', (n) => {
    const origin = (JSON.parse((n.payload ?? '').slice(64) || '{}') as { o: string }).o;
    const unpacked = unpackNotification(n.payload ?? '', createLiveWire(KEY, 'nobody'));
    for (const entry of unpacked.kind === 'messages' ? unpacked.messages : []) heard.push({ origin, entry });
    for (const wake of waiters.splice(0)) wake();
  });
  await listener.query(`LISTEN ${LIVE_CHANNEL}`);
});
afterAll(async () => {
  await listener?.end();
  await store?.close();
  await db?.drop();
});

describe('entries notified by the ingest transaction', () => {
  it('reach the other instances with nothing run after the COMMIT, masked names and visitors marked', async () => {
    const hook = pgLiveEntriesHook({ wire: ingesting, logger: silentLogger });
    const batch = [stored('g-1', 1), stored('g-1', 2, 'v-1'), stored('g-1', 3)];
    await store.insertEvents(batch, hook);
    await heardAtLeast(3);
    expect(heard.map((h) => [h.origin, h.entry.type, (h.entry.data as { seq: number }).seq])).toEqual([
      ['i-a', 'entry', 1],
      ['i-a', 'entry', 2],
      ['i-a', 'entry', 3],
    ]);
    expect(heard[0]!.entry.data).toMatchObject({
      gateId: 'g-1',
      compoundId: 'c-1',
      personId: 'p-1',
      maskedName: '张*明',
    });
    expect(heard[0]!.entry.data).not.toHaveProperty('visitor');
    expect(heard[1]!.entry.data).toMatchObject({ personId: 'v-1', maskedName: '李*', visitor: true });
    expect(hook.counters).toMatchObject({ notified: 3, notifications: 1, oversized: 0 });
  });

  it('tell nobody of a batch that rolled back, and nothing again of a replayed batch', async () => {
    heard.length = 0;
    const hook = pgLiveEntriesHook({ wire: ingesting, logger: silentLogger });
    const failing: PgIngestHook = {
      engine: 'postgres',
      onStored: async () => {
        throw new Error('the statistics failed');
      },
    };
    await expect(store.insertEvents([stored('g-1', 4)], composeIngestHooks([hook, failing]))).rejects.toThrow(
      'the statistics failed',
    );
    expect(await store.ackedUpTo('g-1')).toBe(3);
    // The replay of seqs 1..3 is stored nothing and notifies nothing; of a batch replaying 3 beside
    // the new 5 (entries prepared for both before the locks), only 5 is notified.
    await store.insertEvents([stored('g-1', 1), stored('g-1', 2, 'v-1'), stored('g-1', 3)], hook);
    await store.insertEvents([stored('g-1', 3), stored('g-1', 5)], hook);
    await heardAtLeast(1);
    // Notifications arrive in commit order: had the rolled-back seq 4 or the replay been sent, they would come first.
    expect(heard.map((h) => (h.entry.data as { seq: number }).seq)).toEqual([5]);
  });
});

describe('a batch of many entries', () => {
  it('reaches the other instances whole and in order over several notifications of one statement', async () => {
    heard.length = 0;
    const hook = pgLiveEntriesHook({ wire: ingesting, logger: silentLogger });
    const seqs = Array.from({ length: 150 }, (_, i) => 100 + i);
    await store.insertEvents(
      seqs.map((seq) => stored('g-1', seq, seq % 3 === 0 ? 'v-1' : 'p-1')),
      hook,
    );
    await heardAtLeast(seqs.length);
    expect(heard.map((h) => (h.entry.data as { seq: number }).seq)).toEqual(seqs);
    expect(hook.counters.notifications).toBeGreaterThan(3);
    expect(hook.counters).toMatchObject({ notified: seqs.length, oversized: 0 });
  });
});

describe('two instances: a cloud core ingesting, another instance listening', () => {
  it('shows each entry once on both instances', async () => {
    const two = await createTestDatabase('live_entries_two');
    const harness = await createHarness({ store: await PostgresCloudStore.open({ url: two.url, max: 4 }) });
    await harness.core.store.upsertResidents([resident('p-1', 'c-1')]);
    const other = new LiveHub();
    const otherPool = new pg.Pool({ connectionString: two.url, max: 2 });
    const wire = createLiveWire(harness.core.liveWire.key);
    const fanoutOther = new PgLiveFanout({ live: other, pool: otherPool, url: two.url, logger: silentLogger, wire });
    const fanoutSelf = new PgLiveFanout({
      live: harness.core.live,
      pool: otherPool,
      url: two.url,
      logger: silentLogger,
      wire: harness.core.liveWire,
    });
    try {
      await fanoutOther.start();
      await fanoutSelf.start();
      const onOther: number[] = [];
      const onSelf: number[] = [];
      let wake = () => {};
      other.subscribe((m) => {
        if (m.type === 'entry' && m.data.gateId === 'g-1') onOther.push(m.data.seq);
        wake();
      });
      harness.core.live.subscribe((m) => {
        if (m.type === 'entry' && m.data.gateId === 'g-1') onSelf.push(m.data.seq);
        wake();
      });
      const events = [6, 7, 8].map((seq) => entryEvent('g-1', seq));
      await harness.core.ingest.accept('g-1', JSON.stringify({ events }));
      await harness.core.ingest.flush();
      await new Promise<void>((resolve) => {
        wake = () => onOther.length >= 3 && onSelf.length >= 3 && resolve();
        wake();
      });
      // A marker sent after them from the other side: once it is back, anything duplicated would have arrived.
      other.publish({ type: 'alarm-ack', data: { alarmId: 1, gateId: 'g-1', compoundId: 'c-1', by: 'x', at: 1 } });
      await new Promise<void>((resolve) => {
        harness.core.live.subscribe((m) => m.type === 'alarm-ack' && resolve());
      });
      expect(onOther).toEqual([6, 7, 8]);
      expect(onSelf).toEqual([6, 7, 8]);
    } finally {
      await fanoutSelf.stop();
      await fanoutOther.stop();
      await otherPool.end();
      await harness.core.store.close();
      await two.drop();
    }
  });
});
