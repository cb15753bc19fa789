/**
 * The rollup writer's day person sets (cloud/analytics/day-person-sets.ts): a person is counted
 * once a day, a later passage of the day writes nothing for the person, and the sets never claim
 * what the table lacks — not after a rolled-back batch, not after a restart, not after another
 * connection counted someone, not after a day was forgotten for the memory bound. And analytics
 * migration 6 turns the per-person rows of earlier versions into the log, counts unchanged.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ANALYTICS_MIGRATIONS, migrateAnalytics } from '../../../cloud/analytics/analytics-migrations.ts';
import { COUNTED_PERSONS_MAX, DayPersonSets, isCountedOnDay } from '../../../cloud/analytics/day-person-sets.ts';
import { RollupWriter } from '../../../cloud/analytics/rollup-writer.ts';
import { migrate } from '../../../cloud/store/sqlite-migrations.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import type { IngestHook, StoredEvent } from '../../../cloud/store/store.ts';
import { MIN, seedScenario, shanghaiEvents } from './scenario.ts';

let dir: string;
let path: string;
let store: SqliteCloudStore;
let writer: RollupWriter;
let nextSeq = 1000;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'anxin-person-sets-'));
  path = join(dir, 'cloud.db');
  store = new SqliteCloudStore({ path });
  writer = new RollupWriter({ db: store.db });
  writer.start();
  await seedScenario(store, writer);
});

afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** A granted crossing of `personId` at the scenario's first gate, `minutes` after its first passage. */
function passage(personId: string, minutes: number): StoredEvent {
  const first = shanghaiEvents()[0]!;
  return { ...first, seq: nextSeq++, personId, ts: first.ts + minutes * MIN, receivedAt: first.ts + minutes * MIN };
}

/** The scenario's local day in Shanghai (its passages are at 08:00 and after). */
const DAY = '2026-03-02';
const personsOfDay = (db: BetterSqlite3.Database = store.db) =>
  (
    db.prepare("SELECT persons FROM stats_daily WHERE compound_id = 'sunny' AND day = ?").get(DAY) as {
      persons: number;
    }
  ).persons;
const logRows = () =>
  (store.db.prepare('SELECT COUNT(*) AS n FROM stats_daily_person_batches').get() as { n: number }).n;
/** How often the log names the person on the day (once at most when right). */
const timesLogged = (personId: string) =>
  (
    store.db
      .prepare(`SELECT COUNT(*) AS n FROM stats_daily_person_batches, json_each(person_ids)
        WHERE compound_id = 'sunny' AND day = ? AND json_each.value = ?`)
      .get(DAY, personId) as { n: number }
  ).n;

describe('the day person sets of the rollup writer', () => {
  it('counts a person once a day; a later passage of the day writes no row', async () => {
    const before = personsOfDay();
    const rows = logRows();
    await store.insertEvents([passage('newbie', 1)], writer);
    expect(logRows()).toBe(rows + 1);
    await store.insertEvents([passage('newbie', 2)], writer);
    await store.insertEvents([passage('newbie', 3), passage('newbie', 4)], writer);
    expect(logRows()).toBe(rows + 1);
    expect(timesLogged('newbie')).toBe(1);
    expect(isCountedOnDay(store.db, 'sunny', DAY, 'newbie')).toBe(true);
    expect(personsOfDay()).toBe(before + 1);
  });

  it('writes one row per compound-day and batch, whatever the number of new persons', async () => {
    const rows = logRows();
    const before = personsOfDay();
    await store.insertEvents(
      Array.from({ length: 50 }, (_, i) => passage(`crowd-${i}`, i % 30)),
      writer,
    );
    expect(logRows()).toBe(rows + 1);
    expect(personsOfDay()).toBe(before + 50);
  });

  it('a rolled-back batch leaves the person uncounted in memory too: the resend counts them', async () => {
    const before = personsOfDay();
    const failing: IngestHook = {
      engine: 'sqlite',
      onStored(events, compoundOf) {
        writer.onStored(events, compoundOf);
        throw new Error('disk full');
      },
      committed: () => writer.committed(),
    };
    const resent = passage('unlucky', 1);
    await expect(store.insertEvents([resent], failing)).rejects.toThrow('disk full');
    expect(timesLogged('unlucky')).toBe(0);
    await store.insertEvents([resent], writer);
    expect(timesLogged('unlucky')).toBe(1);
    expect(personsOfDay()).toBe(before + 1);
  });

  it('after a restart (a new connection, empty sets) the log decides: no person is counted twice', async () => {
    await store.insertEvents([passage('regular', 1)], writer);
    const after = personsOfDay();
    await store.close();
    store = new SqliteCloudStore({ path });
    const restarted = new RollupWriter({ db: store.db });
    restarted.start();
    await store.insertEvents([passage('regular', 5), passage('late-riser', 6)], restarted);
    expect(personsOfDay()).toBe(after + 1);
    expect(timesLogged('regular')).toBe(1);
    expect(timesLogged('late-riser')).toBe(1);
  });

  it("another connection's commit makes the writer read the day again: nobody counted twice", async () => {
    await store.insertEvents([passage('first', 1)], writer);
    // A second writer on its own connection to the same file (another process) counts someone.
    const other = new SqliteCloudStore({ path });
    try {
      const otherWriter = new RollupWriter({ db: other.db });
      otherWriter.start();
      await other.insertEvents([passage('shared', 2)], otherWriter);
    } finally {
      await other.close();
    }
    const after = personsOfDay();
    await store.insertEvents([passage('shared', 3), passage('first', 4)], writer);
    expect(personsOfDay()).toBe(after);
    expect(timesLogged('shared')).toBe(1);
  });

  it('a batch rolled back under one writer is counted by the resend through another on the connection', async () => {
    const second = new RollupWriter({ db: store.db });
    second.start();
    const before = personsOfDay();
    const failing: IngestHook = {
      engine: 'sqlite',
      onStored(events, compoundOf) {
        writer.onStored(events, compoundOf);
        throw new Error('disk full');
      },
      committed: () => writer.committed(),
    };
    const resent = passage('unlucky-twice', 1);
    await expect(store.insertEvents([resent], failing)).rejects.toThrow('disk full');
    await store.insertEvents([resent], second);
    expect(timesLogged('unlucky-twice')).toBe(1);
    expect(personsOfDay()).toBe(before + 1);
  });

  it('two writers on one connection share the sets', async () => {
    const second = new RollupWriter({ db: store.db });
    second.start();
    await store.insertEvents([passage('twice', 1)], writer);
    const after = personsOfDay();
    await store.insertEvents([passage('twice', 2)], second);
    expect(personsOfDay()).toBe(after);
  });

  it('a rebuild starts from empty sets and leaves the counts as they were', async () => {
    await store.insertEvents([passage('newbie', 1)], writer);
    const counted = personsOfDay();
    writer.rebuild();
    expect(personsOfDay()).toBe(counted);
    expect(timesLogged('newbie')).toBe(1);
    await store.insertEvents([passage('newbie', 9)], writer);
    expect(personsOfDay()).toBe(counted);
  });
});

describe('DayPersonSets', () => {
  const t = (db: BetterSqlite3.Database, fn: () => void) => db.transaction(fn)();

  it('a day forgotten for the memory bound is read back from the log, not counted again', () => {
    const db = new BetterSqlite3(':memory:');
    try {
      migrate(db);
      migrateAnalytics(db);
      const sets = new DayPersonSets(db);
      const many = Array.from({ length: COUNTED_PERSONS_MAX }, (_, i) => `p-${i}`);
      t(db, () => {
        sets.begin();
        expect(sets.addNew('c', '2026-03-01', ['old-1', 'old-2'])).toBe(2);
      });
      sets.committed();
      // A later day fills the memory past its bound: the oldest day is forgotten.
      t(db, () => {
        sets.begin();
        expect(sets.addNew('c', '2026-03-02', many)).toBe(many.length);
      });
      sets.committed();
      // A late passage of the forgotten day: its set is read back, old-1 is not new.
      t(db, () => {
        sets.begin();
        expect(sets.addNew('c', '2026-03-01', ['old-1', 'old-3'])).toBe(1);
      });
      sets.committed();
      expect(isCountedOnDay(db, 'c', '2026-03-01', 'old-3')).toBe(true);
    } finally {
      db.close();
    }
  });

  it('a set read by a transaction that rolled back is read again: what it saw of its own writes is gone', () => {
    const db = new BetterSqlite3(':memory:');
    try {
      migrate(db);
      migrateAnalytics(db);
      const sets = new DayPersonSets(db);
      t(db, () => {
        sets.begin();
        expect(sets.addNew('c', '2026-03-01', ['kept'])).toBe(1);
      });
      sets.committed();
      sets.forgetAll();
      // As a rebuild does: the log emptied, then the day read back (empty) and counted anew — then a failure.
      expect(() =>
        t(db, () => {
          sets.begin();
          db.prepare('DELETE FROM stats_daily_person_batches').run();
          expect(sets.addNew('c', '2026-03-01', ['kept', 'new'])).toBe(2);
          throw new Error('rolled back');
        }),
      ).toThrow('rolled back');
      t(db, () => {
        sets.begin();
        expect(sets.addNew('c', '2026-03-01', ['kept', 'new'])).toBe(1);
      });
      sets.committed();
      expect(isCountedOnDay(db, 'c', '2026-03-01', 'new')).toBe(true);
    } finally {
      db.close();
    }
  });

  it('a day read back from many rows is compacted into one, and still exact', () => {
    const db = new BetterSqlite3(':memory:');
    try {
      migrate(db);
      migrateAnalytics(db);
      const writerSets = new DayPersonSets(db);
      for (let i = 0; i < 40; i++) {
        t(db, () => {
          writerSets.begin();
          writerSets.addNew('c', '2026-03-01', [`p-${i}`]);
        });
        writerSets.committed();
      }
      const rows = () =>
        (
          db.prepare("SELECT COUNT(*) AS n FROM stats_daily_person_batches WHERE day = '2026-03-01'").get() as {
            n: number;
          }
        ).n;
      expect(rows()).toBe(40);
      writerSets.forgetAll();
      t(db, () => {
        writerSets.begin();
        expect(writerSets.addNew('c', '2026-03-01', ['p-3', 'p-39', 'p-40'])).toBe(1);
      });
      writerSets.committed();
      expect(rows()).toBe(2);
      for (const p of ['p-0', 'p-39', 'p-40']) expect(isCountedOnDay(db, 'c', '2026-03-01', p)).toBe(true);
    } finally {
      db.close();
    }
  });
});

describe('analytics migration 6 on a version-5 database', () => {
  it('moves each day’s persons into one log row; the counts and who is counted stay', async () => {
    const db = new BetterSqlite3(join(dir, 'v5.db'));
    try {
      migrate(db);
      expect(migrateAnalytics(db, ANALYTICS_MIGRATIONS.slice(0, 5)).after).toBe(5);
      const add = db.prepare('INSERT INTO stats_daily_persons (compound_id, day, person_id) VALUES (?, ?, ?)');
      for (const p of ['a', 'b', 'c']) add.run('sunny', DAY, p);
      add.run('sunny', '2026-03-03', 'a');
      add.run('maple', DAY, 'z');
      db.prepare("INSERT INTO stats_daily VALUES ('sunny', ?, 3, 3, 0)").run(DAY);

      expect(migrateAnalytics(db)).toEqual({ before: 5, after: 6 });
      const tables = db.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'stats_daily_person%'",
      );
      expect(tables.all()).toEqual([{ name: 'stats_daily_person_batches' }]);
      expect((db.prepare('SELECT COUNT(*) AS n FROM stats_daily_person_batches').get() as { n: number }).n).toBe(3);
      for (const p of ['a', 'b', 'c']) expect(isCountedOnDay(db, 'sunny', DAY, p)).toBe(true);
      expect(isCountedOnDay(db, 'sunny', DAY, 'z')).toBe(false);
      expect(isCountedOnDay(db, 'maple', DAY, 'z')).toBe(true);

      // The writer reads the migrated day back: a known person is not new, a new one is.
      const sets = new DayPersonSets(db);
      db.transaction(() => {
        sets.begin();
        expect(sets.addNew('sunny', DAY, ['b', 'd'])).toBe(1);
      })();
      sets.committed();
    } finally {
      db.close();
    }
  });
});
