/**
 * Heavy work does not block the cloud (docs/security.md, "Heavy work"). No timings here (those are
 * in bench/responsiveness.ts): each test proves an order of events — /healthz answered over a real
 * socket while a CSV import is still being written; a name search that lets other work run between
 * its slices and still gives exactly the answer of one scan.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteCloudStore } from '../../cloud/store/sqlite-store.ts';
import type { Resident } from '../../cloud/store/store.ts';
import { NAME_SCAN_SLICE, SqliteResidentDirectory } from '../../cloud/web/sqlite-resident-directory.ts';
import { generateIdNumber } from '../../shared/id-number.ts';
import { createKeysFile } from '../../shared/keys.ts';
import { resident } from '../cloud/fixtures.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';

describe('heavy work and the event loop', () => {
  let cloud: TestCloud | undefined;
  let store: SqliteCloudStore | undefined;
  afterEach(async () => {
    await cloud?.stop();
    await store?.close();
    cloud = undefined;
    store = undefined;
  });

  it('answers /healthz while a 5,000-row CSV import is still being written', { timeout: 120_000 }, async () => {
    cloud = await startTestCloud({ keysFile: createKeysFile() });
    const admin = await cloud.login('admin');
    await cloud.cloud.core.registry.createCompound(
      { id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' },
      { username: 'admin', role: 'admin' },
    );
    // The first written slice of the import announces itself; the import is then in progress.
    const store = cloud.cloud.core.store;
    const upsert = store.upsertResidents.bind(store);
    let slicesWritten = 0;
    let firstSlice!: () => void;
    const firstSliceWritten = new Promise<void>((resolve) => {
      firstSlice = resolve;
    });
    store.upsertResidents = async (residents: readonly Resident[]) => {
      const batches = await upsert(residents);
      slicesWritten += 1;
      firstSlice();
      return batches;
    };
    let seed = 11;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const rows = Array.from({ length: 5000 }, (_, i) => `张${i}明,${generateIdNumber(random)},h-${i % 900},c-1`);
    const csv = ['name,idNumber,householdId,compoundId', ...new Set(rows)].join('\n');
    let importAnswered = false;
    const importing = fetch(`${cloud.baseUrl}/api/v1/residents/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'text/csv' },
      body: csv,
    }).then(async (res) => {
      importAnswered = true;
      return { status: res.status, body: (await res.json()) as { created?: number } };
    });

    await firstSliceWritten;
    const health = await fetch(`${cloud.baseUrl}/healthz`);
    expect(health.status).toBe(200);
    // Answered between two slices: the import had written some, not all, and had not answered.
    expect(importAnswered).toBe(false);
    const writtenWhenHealthAnswered = slicesWritten;
    const imported = await importing;
    expect(imported.status).toBe(200);
    expect(imported.body.created).toBe(5000);
    expect(writtenWhenHealthAnswered).toBeLessThan(slicesWritten);
  });

  it('searches names in slices, letting other work run between them, with the answer of one scan', async () => {
    store = new SqliteCloudStore({ path: ':memory:' });
    await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
    await store.createCompound({ id: 'c-2', name: 'Two', timeZone: 'Asia/Shanghai' }, 1);
    const names = ['张三明', '李四', '王芳', 'Zhang Wei', '欧阳娜娜'];
    const people = Array.from({ length: 2 * NAME_SCAN_SLICE + 500 }, (_, i) =>
      resident(`p-${String(i).padStart(5, '0')}`, i % 7 === 0 ? 'c-2' : 'c-1', {
        name: `${names[i % names.length]}${i}`,
      }),
    );
    await store.upsertResidents(people);
    const directory = new SqliteResidentDirectory(store.db);
    const oneScan = (needle: string, limit: number) =>
      people
        .filter(
          (p) =>
            p.compoundId === 'c-1' && (p.personId === needle || p.name.toLowerCase().includes(needle.toLowerCase())),
        )
        .map((p) => p.personId)
        .sort()
        .slice(0, limit);
    // The no-match search first: the loop has not run a slice for a while, so its budget of the
    // turn is spent at the first yield (shared/yield.ts) and queued work runs before it goes on.
    for (const [needle, limit] of [
      ['无此人', 50],
      ['芳', 50],
      ['zhang', 3000],
      ['p-04000', 50],
      ['9', 50],
    ] as const) {
      const order: string[] = [];
      setImmediate(() => order.push('other work'));
      const found = await directory.byName('c-1', needle, limit);
      order.push('search answered');
      expect(
        found.map((r) => r.personId),
        needle,
      ).toEqual(oneScan(needle, limit));
      // A search through every slice let the other work run before it answered.
      if (needle === '无此人') expect(order).toEqual(['other work', 'search answered']);
    }
  });
});
