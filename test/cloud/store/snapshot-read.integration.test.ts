/**
 * The streamed snapshot read (`readSnapshot`, docs/cloud.md "Sync protocol") on every backend:
 * SQLite writes the residents' records in SQL (cloud/store/sqlite/snapshot-reads.ts), PostgreSQL
 * maps rows in JavaScript (cloud/store/postgres/pg-snapshot-read.ts); both must give exactly the
 * records the store's own mapping gives (`personRecordOf`), in the documented order, in pages, as
 * many as announced, and consistent at the rev they announce while writes go on between pages.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../../cloud/cloud-errors.ts';
import { SNAPSHOT_PAGE_ROWS } from '../../../cloud/store/snapshot-records.ts';
import { type CloudStore, personRecordOf, type SnapshotSink } from '../../../cloud/store/store.ts';
import type { Change } from '../../../shared/schemas/mqtt.ts';
import { resident } from '../fixtures.ts';
import { storeBackends } from './backends.ts';

const DAY = 86_400_000;

/** Everything a read delivered, with its pages' sizes; `onPage` runs after each page is taken. */
async function readAll(store: CloudStore, compoundId: string, onPage?: (n: number) => Promise<void>) {
  const got = { rev: -1, announced: -1, pages: [] as number[], texts: [] as string[] };
  const sink: SnapshotSink = {
    begin: (rev, records) => {
      got.rev = rev;
      got.announced = records;
    },
    page: async (texts) => {
      got.pages.push(texts.length);
      got.texts.push(...texts);
      await onPage?.(got.pages.length);
    },
  };
  await store.readSnapshot(compoundId, sink);
  return { ...got, records: got.texts.map((t) => JSON.parse(t) as Change) };
}

/** Residents whose fields reach into what JSON must escape, the nulls, the booleans and the limits. */
const awkward = [
  resident('p-a', 'c-1', { maskedName: 'q"uo\\te\n\u0001tab\t', householdId: null, kind: 'visitor' }),
  resident('p-b', 'c-1', {
    maskedName: '张*明 😀',
    idHash: 'f'.repeat(64),
    cards: Array.from({ length: 16 }, (_, i) => `card-${i}`),
    elderly: true,
    active: false,
    validFrom: 1_700_000_000_000,
    validTo: 1_900_000_000_000,
    health: 'red',
    healthTs: 42,
  }),
  resident('p-c', 'c-1', { cards: ['0'], health: 'green', healthTs: 7 }),
];

describe.each(storeBackends())('readSnapshot on the $name store', (backend) => {
  let store: CloudStore;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await backend.open();
    await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
    await store.createCompound({ id: 'c-2', name: 'Two', timeZone: 'Asia/Shanghai' }, 1);
    await store.createGate({ id: 'g-1', compoundId: 'c-1', name: 'North', antiPassback: false }, 1);
    await store.createGate({ id: 'g-2', compoundId: 'c-1', name: 'South', antiPassback: true }, 1);
  });
  afterEach(async () => {
    await store.close();
  });

  it('gives every resident the record the store maps, whatever its fields hold, in the documented order', async () => {
    await store.upsertResidents([...awkward, resident('p-z', 'c-2')]);
    await store.setGateSettings('g-2', { antiPassback: true, yellowPolicy: 'grant' });
    const now = Date.now();
    const pass = { kind: 'visitor', notBefore: 0, useLimit: null, text: 'AX1:x', issuedBy: 'm', issuedAt: 1 } as const;
    await store.createPass({
      ...pass,
      passId: 'pass-old',
      personId: 'p-a',
      compoundId: 'c-1',
      expiresAt: now - DAY,
      revokedAt: null,
    });
    await store.createPass({
      ...pass,
      passId: 'pass-live',
      personId: 'p-a',
      compoundId: 'c-1',
      expiresAt: now + DAY,
      revokedAt: null,
    });
    await store.revokePass('pass-old', 5);
    await store.revokePass('pass-live', 6);

    const read = await readAll(store, 'c-1');
    const compound = await store.getCompound('c-1');
    expect(read.rev).toBe(compound!.rev);
    expect(read.announced).toBe(read.records.length);
    expect(read.records.map((r) => r.op)).toEqual([
      'quota.policy',
      'mode',
      'gate.settings', // g-2 only: g-1's settings were never set
      'person.upsert',
      'person.upsert',
      'person.upsert',
      'health',
      'health',
      'pass.revoke', // the unexpired one only
    ]);
    const people = await Promise.all(awkward.map(async (r) => personRecordOf((await store.getResident(r.personId))!)));
    expect(read.records.filter((r) => r.op === 'person.upsert')).toEqual(
      people.map((person) => ({ op: 'person.upsert', person })),
    );
    expect(read.records.filter((r) => r.op === 'health')).toEqual([
      { op: 'health', personId: 'p-b', colour: 'red', ts: 42 },
      { op: 'health', personId: 'p-c', colour: 'green', ts: 7 },
    ]);
    expect(read.records.at(-1)).toEqual({ op: 'pass.revoke', passId: 'pass-live', ts: 6 });
    expect(read.records[2]).toMatchObject({ op: 'gate.settings', gateId: 'g-2' });
  });

  it('pages the residents by person id, and stays consistent at its rev while writes go on between pages', async () => {
    const many = Array.from({ length: 2 * SNAPSHOT_PAGE_ROWS + 150 }, (_, i) =>
      resident(`p-${String(i).padStart(5, '0')}`, 'c-1', i % 3 === 0 ? { health: 'yellow', healthTs: i } : {}),
    );
    await store.upsertResidents(many);
    const before = await store.getCompound('c-1');
    const read = await readAll(store, 'c-1', async (page) => {
      if (page !== 2) return;
      // Between pages: a new resident, a removed one, a colour change — all after the read's rev.
      await store.upsertResidents([resident('p-99999', 'c-1'), resident('p-00000', 'c-1', { maskedName: '改*名' })]);
      await store.deleteResident('p-02000');
      await store.setHealth([{ personId: 'p-00003', colour: 'red', ts: 10_000 }]);
    });
    expect(read.rev).toBe(before!.rev);
    const persons = read.records.filter((r) => r.op === 'person.upsert');
    expect(persons.map((r) => r.person.personId)).toEqual(many.map((r) => r.personId));
    expect(persons[0]).toMatchObject({ person: { maskedName: '张*明' } });
    const health = read.records.filter((r) => r.op === 'health');
    expect(health).toHaveLength(Math.ceil(many.length / 3));
    expect(health[1]).toEqual({ op: 'health', personId: 'p-00003', colour: 'yellow', ts: 3 });
    expect(read.announced).toBe(read.records.length);
    expect(Math.max(...read.pages)).toBeLessThanOrEqual(SNAPSHOT_PAGE_ROWS);
    // The next read sees the writes.
    const after = await readAll(store, 'c-1');
    expect(after.rev).toBeGreaterThan(read.rev);
    expect(after.records.some((r) => r.op === 'person.upsert' && r.person.personId === 'p-99999')).toBe(true);
    expect(after.records.some((r) => r.op === 'person.upsert' && r.person.personId === 'p-02000')).toBe(false);
  });

  it('reads an empty compound as its quota and mode; refuses an unknown one before it begins', async () => {
    const read = await readAll(store, 'c-2');
    expect(read.records.map((r) => r.op)).toEqual(['quota.policy', 'mode']);
    expect(read.announced).toBe(2);
    let begun = false;
    const sink: SnapshotSink = {
      begin: () => {
        begun = true;
      },
      page: () => undefined,
    };
    await expect(store.readSnapshot('c-404', sink)).rejects.toBeInstanceOf(NotFoundError);
    expect(begun).toBe(false);
    // The failed read left nothing open: the next one works.
    expect((await readAll(store, 'c-2')).announced).toBe(2);
  });

  it('a read asked for after the store closed fails, leaving nothing open', async () => {
    const closed = await backend.open();
    await closed.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
    await closed.close();
    await expect(closed.readSnapshot('c-1', { begin: () => undefined, page: () => undefined })).rejects.toThrow();
  });

  it('two reads at once each get their own compound, whole', async () => {
    await store.upsertResidents([
      ...Array.from({ length: 1200 }, (_, i) => resident(`a-${i}`, 'c-1')),
      ...Array.from({ length: 900 }, (_, i) => resident(`b-${i}`, 'c-2')),
    ]);
    const [one, two] = await Promise.all([readAll(store, 'c-1'), readAll(store, 'c-2')]);
    expect(one.records.filter((r) => r.op === 'person.upsert')).toHaveLength(1200);
    expect(two.records.filter((r) => r.op === 'person.upsert')).toHaveLength(900);
    expect(two.records.every((r) => r.op !== 'person.upsert' || r.person.compoundId === 'c-2')).toBe(true);
  });
});
