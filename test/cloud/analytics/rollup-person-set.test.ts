/**
 * The rollup writer's day person sets in memory (cloud/analytics/rollup-writer.ts): a person's
 * later passages of the day cost no statement, and the sets never claim what the table lacks —
 * not after a rolled-back batch, not after a restart.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RollupWriter } from '../../../cloud/analytics/rollup-writer.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import type { IngestHook, StoredEvent } from '../../../cloud/store/store.ts';
import { MIN, seedScenario, shanghaiEvents } from './scenario.ts';

let store: SqliteCloudStore;
let writer: RollupWriter;
let nextSeq = 1000;

beforeEach(async () => {
  store = new SqliteCloudStore({ path: ':memory:' });
  writer = new RollupWriter({ db: store.db });
  writer.start();
  await seedScenario(store, writer);
});

afterEach(async () => {
  await store.close();
});

/** A granted crossing of `personId` at the scenario's first gate, `minutes` after its first passage. */
function passage(personId: string, minutes: number): StoredEvent {
  const first = shanghaiEvents()[0]!;
  return { ...first, seq: nextSeq++, personId, ts: first.ts + minutes * MIN, receivedAt: first.ts + minutes * MIN };
}

const day = () => {
  const row = store.db
    .prepare("SELECT day FROM stats_daily_persons WHERE person_id = 'idx' ORDER BY day LIMIT 1")
    .get() as { day: string };
  return row.day;
};
const personsOfDay = (d: string) =>
  (
    store.db.prepare("SELECT persons FROM stats_daily WHERE compound_id = 'sunny' AND day = ?").get(d) as {
      persons: number;
    }
  ).persons;
const rowsOf = (personId: string) =>
  (store.db.prepare('SELECT COUNT(*) AS n FROM stats_daily_persons WHERE person_id = ?').get(personId) as { n: number })
    .n;

/** Counts the statements the writer runs against stats_daily_persons. */
function countPersonInserts(): { readonly n: number } {
  const counter = { n: 0 };
  // The writer prepared its statements at start(); wrap the one it holds.
  const statements = (writer as unknown as { statements: Record<string, { run: (...a: unknown[]) => unknown }> })
    .statements;
  const original = statements.addPerson!;
  statements.addPerson = {
    run: (...args: unknown[]) => {
      counter.n += 1;
      return original.run(...args);
    },
  };
  return counter;
}

describe('the day person sets of the rollup writer', () => {
  it('counts a person once a day, and a later passage of the day runs no statement for the person', async () => {
    const d = day();
    const before = personsOfDay(d);
    const inserts = countPersonInserts();
    await store.insertEvents([passage('newbie', 1)], writer);
    expect(inserts.n).toBe(1);
    await store.insertEvents([passage('newbie', 2)], writer);
    await store.insertEvents([passage('newbie', 3), passage('newbie', 4)], writer);
    expect(inserts.n).toBe(1);
    expect(rowsOf('newbie')).toBe(1);
    expect(personsOfDay(d)).toBe(before + 1);
  });

  it('a rolled-back batch leaves the person uncounted in memory too: the resend counts them', async () => {
    const d = day();
    const before = personsOfDay(d);
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
    expect(rowsOf('unlucky')).toBe(0);
    await store.insertEvents([resent], writer);
    expect(rowsOf('unlucky')).toBe(1);
    expect(personsOfDay(d)).toBe(before + 1);
  });

  it('after a restart (empty sets) the table still decides: no person is counted twice', async () => {
    const d = day();
    await store.insertEvents([passage('regular', 1)], writer);
    const after = personsOfDay(d);
    const restarted = new RollupWriter({ db: store.db });
    restarted.start();
    await store.insertEvents([passage('regular', 5)], restarted);
    expect(personsOfDay(d)).toBe(after);
    expect(rowsOf('regular')).toBe(1);
  });

  it('a rebuild starts from empty sets and leaves the counts as they were', async () => {
    const d = day();
    await store.insertEvents([passage('newbie', 1)], writer);
    const counted = personsOfDay(d);
    writer.rebuild();
    expect(personsOfDay(d)).toBe(counted);
    await store.insertEvents([passage('newbie', 9)], writer);
    expect(personsOfDay(d)).toBe(counted);
  });
});
