/**
 * Migration 2 dropped the index on `events(ts)` (it cost every insert). What used it now runs on
 * the per-gate and per-compound indexes: retention gate by gate, the all-compound events list as a
 * merge of per-compound pages. These tests hold both to the old results, check that a version-1
 * database upgrades in place, and pin the ack walk (batch seqs first, cached marks, gaps).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RetentionJob } from '../../../cloud/store/retention-job.ts';
import { MIGRATIONS, migrate } from '../../../cloud/store/sqlite-migrations.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import type { StoredEvent } from '../../../cloud/store/store.ts';
import { silentLogger } from '../../../shared/log.ts';
import { entryEvent } from '../fixtures.ts';

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

const indexNames = (db: BetterSqlite3.Database) =>
  (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'").all() as {
      name: string;
    }[]
  )
    .map((r) => r.name)
    .sort();

async function openStore(): Promise<SqliteCloudStore> {
  const store = new SqliteCloudStore({ path: ':memory:' });
  for (const c of ['c-a', 'c-b', 'c-c']) await store.createCompound({ id: c, name: c, timeZone: 'Asia/Shanghai' }, 1);
  for (const g of GATES) await store.createGate({ ...g, name: g.id, antiPassback: false }, 1);
  return store;
}

describe('events without an index on ts alone', () => {
  let store: SqliteCloudStore;
  beforeEach(async () => {
    store = await openStore();
  });
  afterEach(async () => {
    await store.close();
  });

  it('has no events_by_ts, and the index the old queries need', () => {
    expect(indexNames(store.db)).toEqual([
      'events_by_compound_ts',
      'events_by_gate_ts',
      'events_by_person_ts',
      'sqlite_autoindex_events_1',
    ]);
  });

  it('lists every compound newest first, page by page, exactly as a sort of all rows would', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ gate: fc.integer({ min: 0, max: 3 }), ts: fc.integer({ min: 0, max: 40 }) }), {
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 7 }),
        fc.boolean(),
        async (rows, limit, onlyDenied) => {
          const s = await openStore();
          try {
            const seqs = [0, 0, 0, 0];
            const events = rows.map(({ gate, ts }, i) => {
              seqs[gate]! += 1;
              return event(
                GATES[gate]!,
                seqs[gate]!,
                ts,
                i % 3 === 0 ? { result: 'denied', reason: 'health-red' } : {},
              );
            });
            await s.insertEvents(events);
            // Insert order = id order, so (ts desc, id desc) is ts desc then insertion order reversed.
            const expected = events
              .map((e, id) => ({ e, id }))
              .filter(({ e }) => !onlyDenied || e.result === 'denied')
              .sort((a, b) => b.e.ts - a.e.ts || b.id - a.id)
              .map(({ e }) => `${e.gateId}/${e.seq}`);
            const seen: string[] = [];
            let cursor: string | undefined;
            for (let pages = 0; pages < 100; pages++) {
              const page = await s.queryEvents({
                limit,
                ...(onlyDenied ? { result: 'denied' as const } : {}),
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
    const throwing = {
      onStored: () => {
        throw new Error('boom');
      },
    };
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

describe('migration 2 on a version-1 database', () => {
  it('upgrades in place: data kept, events_by_ts dropped, recorded once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'anxin-store-v1-'));
    try {
      const path = join(dir, 'cloud.db');
      const v1 = new BetterSqlite3(path);
      v1.pragma('journal_mode = WAL');
      expect(migrate(v1, MIGRATIONS.slice(0, 1))).toBe(1);
      v1.prepare(
        "INSERT INTO compounds (id, name, time_zone, created_at) VALUES ('c-a', 'A', 'Asia/Shanghai', 1)",
      ).run();
      v1.prepare(`INSERT INTO events (gate_id, seq, compound_id, ts, direction, method, result, reason, person_id,
        health, mode, passed, decision_ms, received_at)
        VALUES ('g-a1', 1, 'c-a', 1000, 'in', 'qr', 'granted', 'ok', 'p-1', 'green', 'normal', 1, 3, 1010)`).run();
      v1.prepare("INSERT INTO gate_acks (gate_id, up_to) VALUES ('g-a1', 1)").run();
      expect(indexNames(v1)).toContain('events_by_ts');
      v1.close();

      const store = new SqliteCloudStore({ path });
      try {
        expect(indexNames(store.db)).not.toContain('events_by_ts');
        const versions = store.db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
        expect(versions).toEqual(MIGRATIONS.map((m) => m.version));
        expect((await store.queryEvents({ limit: 10 })).events.map((e) => [e.gateId, e.seq, e.personId])).toEqual([
          ['g-a1', 1, 'p-1'],
        ]);
        const next = await store.insertEvents([event(GATES[0]!, 2, 2000)]);
        expect(next.acks.get('g-a1')).toBe(2);
        expect(await store.purgeBefore(1500, 100)).toBe(1);
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
