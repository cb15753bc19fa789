/**
 * The rollup's elderly flags kept across ingest batches (cloud/analytics/elderly-flags.ts): a
 * passage is counted under the flag its person has when it is stored, even when the flag changed
 * since the person's last passage — through this connection, through another one, or in a write
 * that rolled back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ElderlyFlags } from '../../../cloud/analytics/elderly-flags.ts';
import { RollupWriter } from '../../../cloud/analytics/rollup-writer.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import type { StoredEvent } from '../../../cloud/store/store.ts';
import { entryEvent, resident } from '../fixtures.ts';

let dir: string;
let store: SqliteCloudStore;
let seq = 0;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-elderly-'));
  store = new SqliteCloudStore({ path: join(dir, 'cloud.db') });
  await store.createCompound({ id: 'c-1', name: 'c', timeZone: 'Asia/Shanghai' }, 1);
  await store.createGate({ id: 'g-1', compoundId: 'c-1', name: 'g', antiPassback: false }, 1);
  await store.upsertResidents([resident('p-1', 'c-1'), resident('p-2', 'c-1', { elderly: true })]);
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const passage = (personId: string): StoredEvent => ({
  ...entryEvent('g-1', ++seq, { personId }),
  compoundId: 'c-1',
  receivedAt: 1,
});

/** Passages counted per elderly flag, over every hour. */
function counted(): { elderly: number; others: number } {
  const rows = store.db.prepare('SELECT elderly, SUM(count) AS n FROM stats_hourly GROUP BY elderly').all() as {
    elderly: number;
    n: number;
  }[];
  return {
    elderly: rows.find((r) => r.elderly === 1)?.n ?? 0,
    others: rows.find((r) => r.elderly === 0)?.n ?? 0,
  };
}

describe('the rollup writer counts each passage under the flag of its time', () => {
  it('follows a flag changed by this connection between two batches', async () => {
    const writer = new RollupWriter({ db: store.db });
    writer.start();
    await store.insertEvents([passage('p-1'), passage('p-2')], writer);
    expect(counted()).toEqual({ elderly: 1, others: 1 });
    await store.upsertResidents([resident('p-1', 'c-1', { elderly: true }), resident('p-2', 'c-1')]);
    await store.insertEvents([passage('p-1'), passage('p-2')], writer);
    expect(counted()).toEqual({ elderly: 2, others: 2 });
    await store.deleteResident('p-1');
    await store.insertEvents([passage('p-1')], writer);
    expect(counted()).toEqual({ elderly: 2, others: 3 });
  });

  it('follows a flag changed by another connection to the same file', async () => {
    const writer = new RollupWriter({ db: store.db });
    writer.start();
    await store.insertEvents([passage('p-1')], writer);
    const other = new BetterSqlite3(join(dir, 'cloud.db'));
    other.prepare("UPDATE residents SET elderly = 1 WHERE person_id = 'p-1'").run();
    other.close();
    await store.insertEvents([passage('p-1')], writer);
    expect(counted()).toEqual({ elderly: 1, others: 1 });
  });
});

describe('ElderlyFlags', () => {
  it('remembers a flag until the row may have changed, and forgets nothing a rolled-back write undid', () => {
    const flags = new ElderlyFlags(store.db);
    flags.refresh();
    expect([flags.isElderly('p-1'), flags.isElderly('p-2'), flags.isElderly('nobody')]).toEqual([false, true, false]);
    // A write that rolls back changes nothing: the remembered flag is still right.
    expect(() =>
      store.db.transaction(() => {
        store.db.prepare("UPDATE residents SET elderly = 1 WHERE person_id = 'p-1'").run();
        throw new Error('rolled back');
      })(),
    ).toThrow('rolled back');
    flags.refresh();
    expect(flags.isElderly('p-1')).toBe(false);
    // A health update names no flag: nothing is forgotten; a flag change is.
    store.db.prepare("UPDATE residents SET health = 'red' WHERE person_id = 'p-2'").run();
    store.db.prepare("UPDATE residents SET elderly = 1 WHERE person_id = 'p-1'").run();
    flags.refresh();
    expect([flags.isElderly('p-1'), flags.isElderly('p-2')]).toEqual([true, true]);
  });

  it('reads the whole set again after more changes than it reads one by one (a bulk import)', async () => {
    const flags = new ElderlyFlags(store.db);
    flags.refresh();
    expect(flags.isElderly('p-2')).toBe(true);
    const many = Array.from({ length: 2_500 }, (_, i) => resident(`bulk-${i}`, 'c-1', { elderly: i % 2 === 0 }));
    await store.upsertResidents([...many, resident('p-2', 'c-1')]);
    flags.refresh();
    expect([flags.isElderly('bulk-0'), flags.isElderly('bulk-1'), flags.isElderly('p-2')]).toEqual([
      true,
      false,
      false,
    ]);
    // The notes were taken: a later single change is read alone, and right.
    await store.deleteResident('bulk-0');
    flags.refresh();
    expect([flags.isElderly('bulk-0'), flags.isElderly('bulk-2')]).toEqual([false, true]);
  });

  it('keeps one note table per instance: two on one connection both see a change', () => {
    const first = new ElderlyFlags(store.db);
    const second = new ElderlyFlags(store.db);
    for (const flags of [first, second]) {
      flags.refresh();
      expect(flags.isElderly('p-2')).toBe(true);
    }
    store.db.prepare("UPDATE residents SET elderly = 0 WHERE person_id = 'p-2'").run();
    for (const flags of [first, second]) {
      flags.refresh();
      expect(flags.isElderly('p-2')).toBe(false);
    }
  });
});
