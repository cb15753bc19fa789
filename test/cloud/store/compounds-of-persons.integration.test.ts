/**
 * `compoundsOfPersons` and `personIdsOfCompound` (cloud/store/store.ts), the narrow reads ingest's
 * admission makes for passages' persons (cloud/ingest/event-admission.ts, compound-residents.ts),
 * on both engines: residents' compounds only, the unknown left out, a repeated id once, a move
 * between compounds seen at once — the same answer as the resident's whole row; a compound's ids,
 * or nothing past the limit.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { resident } from '../fixtures.ts';
import { storeBackends } from './backends.ts';

describe.each(storeBackends())('compoundsOfPersons on the $name store', (backend) => {
  afterAll(() => backend.dispose());

  it("answers each known person's compound, leaves the unknown out, and sees a move at once", async () => {
    const store = await backend.open();
    for (const id of ['c-1', 'c-2']) await store.createCompound({ id, name: id, timeZone: 'Asia/Shanghai' }, 1);
    await store.upsertResidents([resident('p-1', 'c-1'), resident('p-2', 'c-1'), resident('p-3', 'c-2')]);

    const found = await store.compoundsOfPersons(['p-1', 'p-3', 'p-unknown', 'p-1']);
    expect([...found].sort()).toEqual([
      ['p-1', 'c-1'],
      ['p-3', 'c-2'],
    ]);
    for (const [personId, compoundId] of found)
      expect((await store.getResident(personId))?.compoundId).toBe(compoundId);
    expect((await store.compoundsOfPersons([])).size).toBe(0);

    await store.upsertResidents([resident('p-2', 'c-2')]);
    expect([...(await store.compoundsOfPersons(['p-2']))]).toEqual([['p-2', 'c-2']]);
    await store.deleteResident('p-3');
    expect((await store.compoundsOfPersons(['p-3'])).size).toBe(0);
  });

  it("lists a compound's resident ids, and none when it has more than the limit", async () => {
    const store = await backend.open();
    for (const id of ['c-1', 'c-2']) await store.createCompound({ id, name: id, timeZone: 'Asia/Shanghai' }, 1);
    await store.upsertResidents([resident('p-1', 'c-1'), resident('p-2', 'c-1'), resident('p-3', 'c-2')]);
    expect((await store.personIdsOfCompound('c-1', 2))?.sort()).toEqual(['p-1', 'p-2']);
    expect(await store.personIdsOfCompound('c-1', 1)).toBeUndefined();
    expect(await store.personIdsOfCompound('c-2', 10)).toEqual(['p-3']);
    expect(await store.personIdsOfCompound('c-none', 10)).toEqual([]);
  });
});
