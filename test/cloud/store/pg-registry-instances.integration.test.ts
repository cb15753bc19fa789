/**
 * The registry with two cloud instances on one PostgreSQL (cloud/store/postgres/pg-registry.ts;
 * docs/deploy.md, "Scaling out"): two `PostgresCloudStore`s, each with its own pool, write one
 * compound's registry at the same time. A compound's revisions come from one counter row, so the
 * batches either instance returns tile 1..rev without a gap or a revision given twice, each batch's
 * changes are in the log at exactly its revisions (the outbox commits with the mutation), and
 * either instance reads the same log — so a gate's sync request is answered the same by whichever
 * instance the shared subscription hands it to. Writers that take two compounds' counters in
 * opposite orders (residents moving both ways) finish without a deadlock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCloudMetrics } from '../../../cloud/metrics/cloud-metrics.ts';
import { PostgresCloudStore } from '../../../cloud/store/postgres/postgres-store.ts';
import type { ChangeBatch } from '../../../cloud/store/store.ts';
import { SyncResponder } from '../../../cloud/sync/sync-responder.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { Change } from '../../../shared/schemas/mqtt.ts';
import { createTestDatabase, type TestDatabase } from '../../../testkit/postgres.ts';
import { resident } from '../fixtures.ts';

let db: TestDatabase;
let a: PostgresCloudStore;
let b: PostgresCloudStore;

beforeAll(async () => {
  db = await createTestDatabase('registry_instances');
  [a, b] = await Promise.all([
    PostgresCloudStore.open({ url: db.url, max: 4 }),
    PostgresCloudStore.open({ url: db.url, max: 4 }),
  ]);
  for (const id of ['c-1', 'c-2']) await a.createCompound({ id, name: id, timeZone: 'Asia/Shanghai' }, 1);
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await db?.drop();
});

/** Every revision of `compoundId` that the batches claim, sorted. */
const revsOf = (batches: readonly ChangeBatch[], compoundId: string) =>
  batches
    .filter((batch) => batch.compoundId === compoundId)
    .flatMap((batch) => Array.from({ length: batch.toRev - batch.fromRev }, (_, i) => batch.fromRev + i + 1))
    .sort((x, y) => x - y);

async function fullLog(store: PostgresCloudStore, compoundId: string): Promise<{ rev: number; change: Change }[]> {
  const read = await store.readChanges(compoundId, 1, 100_000);
  if (read.kind !== 'delta') throw new Error('expected the log from rev 1');
  return read.changes;
}

describe('one compound written by two instances at once', () => {
  it('hands out gap-free revisions, never one twice, each batch in the log at its revisions', async () => {
    const writes: Promise<ChangeBatch | ChangeBatch[] | undefined>[] = [];
    for (let i = 0; i < 30; i++) {
      const store = i % 2 === 0 ? a : b;
      const people = [resident(`p-${i}-a`, 'c-1'), resident(`p-${i}-b`, 'c-1')];
      writes.push(store.upsertResidents(people));
      writes.push(store.setMode('c-1', i % 3 === 0 ? 'controlled' : 'normal', `drill ${i}`, 1_000 + i));
      writes.push(store.setHealth([{ personId: `p-${Math.max(0, i - 1)}-a`, colour: 'yellow', ts: 2_000 + i }]));
      writes.push(store.logChanges('c-1', [{ op: 'quota.policy', exits: i + 1, periodHours: 24 }]));
    }
    const batches = (await Promise.all(writes)).flat().filter((x): x is ChangeBatch => x !== undefined);
    const rev = (await b.getCompound('c-1'))!.rev;
    // Revisions 1..rev, each claimed by exactly one batch (the first write is rev 1: the log was empty).
    expect(revsOf(batches, 'c-1')).toEqual(Array.from({ length: rev }, (_, i) => i + 1));
    const log = await fullLog(a, 'c-1');
    expect(log.map((entry) => entry.rev)).toEqual(Array.from({ length: rev - 1 }, (_, i) => i + 2));
    const byRev = new Map([...log.map((entry) => [entry.rev, entry.change] as const)]);
    for (const batch of batches.filter((x) => x.fromRev >= 1)) {
      expect(batch.changes).toEqual(batch.changes.map((_, i) => byRev.get(batch.fromRev + i + 1)));
    }
    expect(await fullLog(b, 'c-1')).toEqual(log);
  });

  it('answers a sync request the same from either instance', async () => {
    const answers = await Promise.all(
      [a, b].map(async (store) => {
        const sent: unknown[] = [];
        const responder = new SyncResponder({
          store,
          publish: async (_topic, payload) => void sent.push(payload),
          metrics: createCloudMetrics(),
          logger: silentLogger,
          maxChangesPerMessage: 25,
        });
        expect(await responder.answer('g-1', 'c-1', 5)).toBe('delta');
        responder.stop();
        return sent;
      }),
    );
    expect(answers[0]!.length).toBeGreaterThan(1); // chained deltas
    expect(answers[1]).toEqual(answers[0]);
    const rev = (await a.getCompound('c-1'))!.rev;
    expect(answers[0]!.at(-1)).toMatchObject({ toRev: rev });
  });

  it('moves residents between two compounds in both directions at once without a deadlock', async () => {
    await a.upsertResidents(Array.from({ length: 20 }, (_, i) => resident(`m-${i}`, i % 2 === 0 ? 'c-1' : 'c-2')));
    const before = { c1: (await a.getCompound('c-1'))!.rev, c2: (await a.getCompound('c-2'))!.rev };
    // Even persons move c-1 -> c-2 through A, odd ones c-2 -> c-1 through B: each write takes both
    // compounds' counters, A's starting with c-1 and B's with c-2 unless the store orders them.
    const moves = Array.from({ length: 10 }, (_, k) => [
      a.upsertResidents([resident(`m-${2 * k}`, 'c-2'), resident(`x-${k}`, 'c-1')]),
      b.upsertResidents([resident(`m-${2 * k + 1}`, 'c-1'), resident(`y-${k}`, 'c-2')]),
    ]).flat();
    const batches = (await Promise.all(moves)).flat();
    const after = { c1: (await a.getCompound('c-1'))!.rev, c2: (await a.getCompound('c-2'))!.rev };
    // Each move: a delete in the old compound and an upsert in the new, plus the new resident.
    expect(after.c1 - before.c1).toBe(30);
    expect(after.c2 - before.c2).toBe(30);
    expect(revsOf(batches, 'c-2')).toEqual(Array.from({ length: 30 }, (_, i) => before.c2 + i + 1));
    for (let i = 0; i < 20; i++) {
      expect((await b.getResident(`m-${i}`))?.compoundId).toBe(i % 2 === 0 ? 'c-2' : 'c-1');
    }
  });

  it('updates the same residents in opposite orders from both instances without a deadlock', async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `h-${i}`);
    await a.upsertResidents(ids.map((id) => resident(id, 'c-1')));
    const rounds = Array.from({ length: 10 }, (_, k) => [
      a.setHealth(ids.map((personId) => ({ personId, colour: 'yellow' as const, ts: 10_000 + 2 * k }))),
      b.setHealth([...ids].reverse().map((personId) => ({ personId, colour: 'red' as const, ts: 10_001 + 2 * k }))),
      b.upsertResidents([...ids].reverse().map((id) => resident(id, 'c-1', { name: `round ${k}` }))),
    ]).flat();
    await Promise.all(rounds);
    for (const id of ids) expect((await a.getResident(id))?.health).toBe('red');
  });
});
