/**
 * The lockdown exit quota service (cloud/lockdown/exit-quota-service.ts) on every store backend,
 * its store opened per engine (open-exit-quota-store.ts): a use is recorded inside the ingest
 * transaction (through the exit quota service's hook, as the cloud composes it) or not at all, relayed once as
 * an `exit.use` change however often the gate resends it, and two uses of a quota of one made at
 * two gates are one over-use with its alarm; a snapshot carries the recent uses; what a crash left
 * unrelayed goes out at the next start. On PostgreSQL, two cloud instances relaying the same uses
 * at once log each use once. The routes over the same service: test/cloud/http/gate-settings-routes.test.ts.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LiveHub } from '../../../cloud/live/live-hub.ts';
import { ExitQuotaService } from '../../../cloud/lockdown/exit-quota-service.ts';
import { composeIngestHooks } from '../../../cloud/store/ingest-hook.ts';
import type { ChangeBatch, CloudStore, StoredEvent } from '../../../cloud/store/store.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { Change } from '../../../shared/schemas/mqtt.ts';
import { type StoreBackend, storeBackends, throwingHook } from '../store/backends.ts';

const HOUR = 3_600_000;
const T = Date.UTC(2026, 11, 5, 2);

const exit = (gateId: string, seq: number, ts: number, extra: Partial<StoredEvent> = {}): StoredEvent => ({
  gateId,
  seq,
  ts,
  direction: 'out',
  method: 'qr',
  result: 'granted',
  reason: 'ok',
  personId: `p-${gateId}-${seq}`,
  health: 'green',
  mode: 'lockdown',
  passed: true,
  decisionMs: 0.2,
  quotaHousehold: 'house-9',
  compoundId: 'c-1',
  receivedAt: ts + 5,
  ...extra,
});

interface Instance {
  store: CloudStore;
  exitQuota: ExitQuotaService;
  published: ChangeBatch[];
}

function instance(store: CloudStore, now = T, alarms: Pick<CloudStore, 'recordAlarm'> = store): Instance {
  const published: ChangeBatch[] = [];
  const exitQuota = new ExitQuotaService({
    store: { engine: store.engine, recordAlarm: (alarm) => alarms.recordAlarm(alarm) },
    publishChanges: async (batches) => {
      published.push(...batches);
    },
    live: new LiveHub(),
    logger: silentLogger,
    now: () => now,
  });
  return { store, exitQuota, published };
}

/** Stores a batch as ingest does: the exit quota service's hook in the transaction, `afterStored` after the commit. */
async function ingest(i: Instance, events: StoredEvent[]): Promise<void> {
  const { inserted } = await i.store.insertEvents(events, i.exitQuota.hook);
  i.exitQuota.afterStored(inserted);
  await i.exitQuota.idle();
}

/** Every `exit.use` change in the compound's log, in log order. */
async function loggedUses(store: CloudStore): Promise<Change[]> {
  // Rev 1 is the quota policy set below; a gate at rev 0 is sent a snapshot instead.
  const read = await store.readChanges('c-1', 1, 1000);
  if (read.kind !== 'delta') throw new Error('expected a delta');
  return read.changes.map((c) => c.change).filter((c) => c.op === 'exit.use');
}

async function openStore(backend: StoreBackend): Promise<CloudStore> {
  const store = await backend.open();
  await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
  await store.setQuotaPolicy('c-1', 1, 24);
  for (const id of ['g-1', 'g-3']) await store.createGate({ id, compoundId: 'c-1', name: id, antiPassback: false }, 1);
  return store;
}

describe.each(storeBackends())('the exit quota exitQuota on the $name store', (backend) => {
  let a: Instance;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    a = instance(await openStore(backend));
  });
  afterEach(async () => {
    await a.store.close();
  });

  it('records a use with its passage, relays it once, and finds a second use at another gate as one over-use', async () => {
    // A timed-out grant (passed: false) used nothing; a use sent twice is recorded and relayed once.
    await ingest(a, [exit('g-1', 1, T - 2 * HOUR, { passed: false }), exit('g-1', 2, T - HOUR)]);
    await ingest(a, [exit('g-1', 2, T - HOUR)]);
    const first = { op: 'exit.use', householdId: 'house-9', gateId: 'g-1', seq: 2, ts: T - HOUR };
    expect(await loggedUses(a.store)).toEqual([first]);
    expect(a.published.flatMap((b) => b.changes)).toEqual([first]);
    expect(a.exitQuota.counters).toMatchObject({ recorded: 1, relayed: 1, overuses: 0 });
    expect(await a.exitQuota.overuses('c-1', 0)).toEqual([]);

    // The west gate, cut off, let the household out too: reconciled as one over-use, with its alarm.
    await ingest(a, [exit('g-3', 1, T - 30 * 60_000)]);
    expect(await loggedUses(a.store)).toHaveLength(2);
    expect(await a.exitQuota.overuses('c-1', 0)).toEqual([
      {
        householdId: 'house-9',
        gateId: 'g-3',
        seq: 1,
        ts: T - 30 * 60_000,
        uses: 2,
        quota: 1,
        periodHours: 24,
        gates: ['g-1', 'g-3'],
        detectedAt: T,
      },
    ]);
    const alarms = await a.store.recentAlarms('g-3', 10);
    expect(alarms.filter((x) => x.kind === 'exit-quota-exceeded')).toHaveLength(1);
    // A snapshot carries both uses, so a gate that takes one counts them.
    const compound = (await a.store.getCompound('c-1'))!;
    expect((await a.exitQuota.snapshotRecords(compound)).map((r) => r.op)).toEqual(['exit.use', 'exit.use']);
    // Within the period of the compound it is handed (read once with the snapshot's rev by the
    // caller), not of a policy it looks up again: an hour after the later use, none of them.
    const later = instance(a.store, T + 30 * 60_000 + 1);
    expect(await later.exitQuota.snapshotRecords({ ...compound, quotaPeriodHours: 1 })).toEqual([]);
    expect(await later.exitQuota.snapshotRecords(compound)).toHaveLength(2);
  });

  it('is idle only once the over-use alarm is stored, however late its write gets a connection', async () => {
    // The alarm's write starts a turn late and takes its own round trip (on PostgreSQL another
    // pooled connection, as under load): `idle()` must still mean it is stored, so that whoever
    // reads after it (the manager's alarm list, the test above) finds it.
    let written = 0;
    const late = instance(a.store, T, {
      recordAlarm: async (alarm) => {
        await new Promise((resolve) => setImmediate(resolve));
        await a.store.recordAlarm(alarm);
        written += 1;
      },
    });
    await ingest(late, [exit('g-1', 1, T - HOUR)]);
    await ingest(late, [exit('g-3', 1, T - HOUR / 2)]);
    expect(late.exitQuota.counters.overuses).toBe(1);
    expect(written).toBe(1);
    const alarms = await a.store.recentAlarms('g-3', 10);
    expect(alarms.filter((x) => x.kind === 'exit-quota-exceeded')).toHaveLength(1);
  });

  it('records nothing when the batch rolls back; the resend records and relays the use', async () => {
    const failing = composeIngestHooks([a.exitQuota.hook, throwingHook(backend.name, 'disk full')])!;
    await expect(a.store.insertEvents([exit('g-1', 1, T - HOUR)], failing)).rejects.toThrow('disk full');
    await a.exitQuota.relayPending();
    expect(a.exitQuota.counters.recorded).toBe(0);
    expect(await loggedUses(a.store)).toEqual([]);
    await ingest(a, [exit('g-1', 1, T - HOUR)]);
    expect(a.exitQuota.counters).toMatchObject({ recorded: 1, relayed: 1 });
    expect(await loggedUses(a.store)).toHaveLength(1);
  });

  it('relays at the next start what a crash left unrelayed', async () => {
    // Stored with its passage, but the process died before the relay.
    await a.store.insertEvents([exit('g-1', 1, T - HOUR), exit('g-3', 1, T - HOUR / 2)], a.exitQuota.hook);
    expect(await loggedUses(a.store)).toEqual([]);
    const restarted = instance(await backend.reopen());
    try {
      await restarted.exitQuota.relayPending();
      expect((await loggedUses(restarted.store)).map((c) => (c as { gateId: string }).gateId).sort()).toEqual([
        'g-1',
        'g-3',
      ]);
      expect(await restarted.exitQuota.overuses('c-1', 0)).toHaveLength(1);
    } finally {
      await restarted.store.close();
    }
  });

  if (backend.name === 'postgres') {
    it('two instances relaying the same uses at once log each use once', async () => {
      const uses = Array.from({ length: 60 }, (_, i) =>
        exit(i % 2 === 0 ? 'g-1' : 'g-3', Math.floor(i / 2) + 1, T - HOUR + i * 1000, {
          quotaHousehold: `house-${i % 7}`,
        }),
      );
      await a.store.insertEvents(uses, a.exitQuota.hook);
      const b = instance(await backend.reopen());
      try {
        await Promise.all([a.exitQuota.relayPending(), b.exitQuota.relayPending()]);
        const logged = (await loggedUses(a.store)) as { gateId: string; seq: number }[];
        expect(logged.map((c) => `${c.gateId}/${c.seq}`).sort()).toEqual(
          uses.map((u) => `${u.gateId}/${u.seq}`).sort(),
        );
        expect(a.exitQuota.counters.relayed + b.exitQuota.counters.relayed).toBeGreaterThanOrEqual(uses.length);
        // Each over-use recorded once, whichever instance found it.
        const overuses = await a.exitQuota.overuses('c-1', 0, 1000);
        expect(new Set(overuses.map((o) => `${o.gateId}/${o.seq}`)).size).toBe(overuses.length);
        expect(overuses.length).toBeGreaterThan(0);
      } finally {
        await b.store.close();
      }
    });
  }
});
