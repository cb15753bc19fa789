/**
 * Migration 2 dropped the index on `events(ts)` (it cost every insert). What used it now runs on
 * the per-gate and per-compound indexes: retention gate by gate, the all-compound events list as a
 * merge of per-compound pages; test/cloud/store/events.integration.test.ts holds both (and the ack
 * walk) to the old results on every backend. Here: the SQLite indexes, and that a version-1
 * database upgrades in place.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate } from '../../../cloud/store/sqlite-migrations.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import type { StoredEvent } from '../../../cloud/store/store.ts';
import { entryEvent } from '../fixtures.ts';

const GATES = [
  { id: 'g-a1', compoundId: 'c-a' },
  { id: 'g-a2', compoundId: 'c-a' },
  { id: 'g-b1', compoundId: 'c-b' },
  { id: 'g-c1', compoundId: 'c-c' },
];

const event = (
  gate: { id: string; compoundId: string },
  seq: number,
  ts: number,
  extra: Partial<StoredEvent> = {},
) => ({
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
    expect(indexNames(store.db)).toEqual(['events_by_gate_ts', 'events_by_person_ts', 'sqlite_autoindex_events_1']);
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

describe('migration 8 on a version-7 database', () => {
  it('drops the per-compound index; every compound lists the same pages as over that index', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'anxin-store-v7-'));
    try {
      const path = join(dir, 'cloud.db');
      const v7 = new BetterSqlite3(path);
      v7.pragma('journal_mode = WAL');
      expect(migrate(v7, MIGRATIONS.slice(0, 7))).toBe(7);
      const insert = v7.prepare(`INSERT INTO events (gate_id, seq, compound_id, ts, direction, method, result, reason,
        person_id, health, mode, passed, decision_ms, received_at) VALUES (?, ?, ?, ?, 'in', 'qr', ?, 'ok', 'p-1',
        'green', 'normal', 1, 3, ?)`);
      // Four registered gates, one the registry never knew, one gate naming a second compound; ties in ts.
      const sources = [...GATES, { id: 'g-zz', compoundId: 'c-a' }, { id: 'g-a1', compoundId: 'c-b' }];
      const seqs = new Map<string, number>();
      for (let i = 0; i < 300; i++) {
        const gate = sources[(i * 7) % sources.length]!;
        const seq = (seqs.get(gate.id) ?? 0) + 1;
        seqs.set(gate.id, seq);
        insert.run(gate.id, seq, gate.compoundId, 1000 + ((i * 37) % 50), i % 4 === 0 ? 'denied' : 'granted', 2000 + i);
      }
      expect(indexNames(v7)).toContain('events_by_compound_ts');
      const overIndex = (compoundId: string) =>
        (
          v7
            .prepare('SELECT gate_id, seq FROM events WHERE compound_id = ? ORDER BY ts DESC, id DESC')
            .all(compoundId) as { gate_id: string; seq: number }[]
        ).map((r) => `${r.gate_id}/${r.seq}`);
      const before = new Map(['c-a', 'c-b', 'c-c', 'c-none'].map((c) => [c, overIndex(c)]));
      v7.close();

      const store = new SqliteCloudStore({ path });
      try {
        expect(indexNames(store.db)).not.toContain('events_by_compound_ts');
        expect(store.db.prepare('SELECT compound_id, gate_id FROM event_gates ORDER BY 1, 2').all()).toEqual([
          { compound_id: 'c-a', gate_id: 'g-a1' },
          { compound_id: 'c-a', gate_id: 'g-a2' },
          { compound_id: 'c-a', gate_id: 'g-zz' },
          { compound_id: 'c-b', gate_id: 'g-a1' },
          { compound_id: 'c-b', gate_id: 'g-b1' },
          { compound_id: 'c-c', gate_id: 'g-c1' },
        ]);
        for (const [compoundId, expected] of before) {
          const seen: string[] = [];
          let cursor: string | undefined;
          for (let pages = 0; pages < 100; pages++) {
            const page = await store.queryEvents({ compoundId, limit: 17, ...(cursor ? { cursor } : {}) });
            seen.push(...page.events.map((e) => `${e.gateId}/${e.seq}`));
            if (!page.nextCursor) break;
            cursor = page.nextCursor;
          }
          expect(seen).toEqual(expected);
        }
        // Ingest goes on: a new gate's first passage joins its compound's list.
        await store.insertEvents([event({ id: 'g-new', compoundId: 'c-c' }, 1, 5000)]);
        expect((await store.queryEvents({ compoundId: 'c-c', limit: 1 })).events.map((e) => e.gateId)).toEqual([
          'g-new',
        ]);
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
