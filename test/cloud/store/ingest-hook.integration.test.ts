/**
 * The ingest hook's contract on every backend (cloud/store/ingest-hook.ts): the store hands the
 * hook its own transaction — SQLite its connection, synchronously; PostgreSQL the transaction's
 * client, awaited — so a hook's writes commit and roll back with the batch; it sees only the new
 * events; `committed()` comes after the COMMIT and never after a rollback; a hook built for the
 * other engine is refused before anything is written.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { IngestHook } from '../../../cloud/store/ingest-hook.ts';
import type { CloudStore, StoredEvent } from '../../../cloud/store/store.ts';
import { entryEvent } from '../fixtures.ts';
import { type BackendName, storeBackends } from './backends.ts';

const stored = (seq: number): StoredEvent => ({ ...entryEvent('g-1', seq), compoundId: 'c-1', receivedAt: 5 });

interface Probe {
  /** The seqs each `onStored` saw. */
  seen: number[][];
  /** What the events table held, read outside the transaction, when `committed()` ran. */
  committedSaw: Promise<number[]>[];
  /** Make the next `onStored` throw after its write. */
  failNext: boolean;
}

/** Rows of `hook_probe`, a table of the test's own, read outside any transaction. */
async function probeRows(store: CloudStore): Promise<number[]> {
  const engine = store.engine;
  const rows =
    engine.kind === 'sqlite'
      ? (engine.db.prepare('SELECT seq FROM hook_probe ORDER BY seq').all() as { seq: number }[])
      : (await engine.pool.query<{ seq: number }>('SELECT seq FROM hook_probe ORDER BY seq')).rows;
  return rows.map((r) => Number(r.seq));
}

async function storedSeqs(store: CloudStore): Promise<number[]> {
  return (await store.queryEvents({ limit: 100 })).events.map((e) => e.seq).sort((a, b) => a - b);
}

/**
 * A hook that writes each new event's seq into `hook_probe` on the transaction it is handed, and
 * reads the batch's own events back on it (uncommitted: visible only inside that transaction).
 */
function probeHook(store: CloudStore, probe: Probe): IngestHook {
  const engine = store.engine;
  const after = (events: readonly StoredEvent[], inTx: number[]) => {
    expect(inTx).toEqual(events.map((e) => e.seq));
    probe.seen.push(events.map((e) => e.seq));
    if (probe.failNext) {
      probe.failNext = false;
      throw new Error('hook failed');
    }
  };
  const committed = () => {
    // Outside the transaction: the batch must already be visible to everyone.
    probe.committedSaw.push(storedSeqs(store));
  };
  if (engine.kind === 'sqlite') {
    return {
      engine: 'sqlite',
      onStored(events, _compoundOf, db) {
        expect(db).toBe(engine.db);
        const own = db.prepare('SELECT seq FROM events WHERE gate_id = ? AND seq = ?');
        const insert = db.prepare('INSERT INTO hook_probe (seq) VALUES (?)');
        const inTx: number[] = [];
        for (const e of events) {
          if (own.get(e.gateId, e.seq)) inTx.push(e.seq);
          insert.run(e.seq);
        }
        after(events, inTx);
      },
      committed,
    };
  }
  return {
    engine: 'postgres',
    async onStored(events, _compoundOf, client) {
      const seqs = events.map((e) => e.seq);
      await client.query('INSERT INTO hook_probe (seq) SELECT * FROM unnest($1::int8[])', [seqs]);
      const { rows } = await client.query<{ seq: number }>(
        'SELECT seq FROM events WHERE gate_id = $1 AND seq = ANY($2::int8[]) ORDER BY seq',
        ['g-1', seqs],
      );
      // The pool (another connection) must not see the batch yet: the hook runs before the COMMIT.
      const outside = await engine.pool.query('SELECT 1 FROM events WHERE gate_id = $1 AND seq = ANY($2::int8[])', [
        'g-1',
        seqs,
      ]);
      expect(outside.rowCount).toBe(0);
      after(
        events,
        rows.map((r) => Number(r.seq)),
      );
    },
    committed,
  };
}

function otherEngineHook(name: BackendName): IngestHook {
  return name === 'sqlite'
    ? { engine: 'postgres', onStored: async () => undefined }
    : { engine: 'sqlite', onStored: () => undefined };
}

describe.each(storeBackends())('the ingest hook on the $name store', (backend) => {
  let store: CloudStore;
  let probe: Probe;
  let hook: IngestHook;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await backend.open();
    await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
    await store.createGate({ id: 'g-1', compoundId: 'c-1', name: 'North', antiPassback: false }, 1);
    const engine = store.engine;
    if (engine.kind === 'sqlite') engine.db.exec('CREATE TABLE IF NOT EXISTS hook_probe (seq INTEGER PRIMARY KEY)');
    else await engine.pool.query('CREATE TABLE IF NOT EXISTS hook_probe (seq bigint PRIMARY KEY)');
    probe = { seen: [], committedSaw: [], failNext: false };
    hook = probeHook(store, probe);
  });
  afterEach(async () => {
    await store.close();
  });

  it('hands the hook the transaction: its writes commit with the batch, and it sees only new events', async () => {
    await store.insertEvents([stored(1), stored(2)], hook);
    await store.insertEvents([stored(2), stored(3), stored(3)], hook);
    await store.insertEvents([stored(1), stored(2)], hook);
    expect(probe.seen).toEqual([[1, 2], [3]]);
    expect(await probeRows(store)).toEqual([1, 2, 3]);
  });

  it('a hook that throws rolls back the batch and its own writes; nothing is acked; the resend counts', async () => {
    await store.insertEvents([stored(1)], hook);
    probe.failNext = true;
    await expect(store.insertEvents([stored(2), stored(3)], hook)).rejects.toThrow('hook failed');
    expect(await storedSeqs(store)).toEqual([1]);
    expect(await probeRows(store)).toEqual([1]);
    expect(await store.ackedUpTo('g-1')).toBe(1);
    const resent = await store.insertEvents([stored(2), stored(3)], hook);
    expect(resent.acks.get('g-1')).toBe(3);
    expect(await probeRows(store)).toEqual([1, 2, 3]);
  });

  it('calls committed() only after the COMMIT, never after a rollback', async () => {
    await store.insertEvents([stored(1)], hook);
    probe.failNext = true;
    await store.insertEvents([stored(2)], hook).catch(() => undefined);
    await store.insertEvents([stored(3)], hook);
    const saw = await Promise.all(probe.committedSaw);
    expect(saw).toHaveLength(2);
    expect(saw[0]).toContain(1);
    expect(saw[1]).toEqual([1, 3]);
  });

  it('refuses a hook built for the other engine before writing anything', async () => {
    await expect(store.insertEvents([stored(1)], otherEngineHook(backend.name))).rejects.toThrow(/ingest hook: built/);
    expect(await storedSeqs(store)).toEqual([]);
    expect(await store.ackedUpTo('g-1')).toBe(0);
  });

  if (backend.name === 'sqlite') {
    it('refuses an asynchronous hook on SQLite: its writes would land after the COMMIT', async () => {
      const late = { engine: 'sqlite', onStored: async () => undefined } as unknown as IngestHook;
      await expect(store.insertEvents([stored(1)], late)).rejects.toThrow(/must be synchronous/);
      expect(await storedSeqs(store)).toEqual([]);
    });
  }
});
