/**
 * The gates' ack marks on PostgreSQL, moved by one statement after an ingest batch's COMMIT
 * (cloud/store/postgres/pg-acks.ts): over the batch's own runs of seqs, on over what other batches
 * (another instance's) committed beyond them, over refused seqs, stopping at the first seq that is
 * not answered — also when the walk reads a page at a time (a page of 2 or 3 here, so every walk
 * takes several statements and every page boundary falls inside or right after a run). Marks only
 * move forward.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advanceAcks, runsOf } from '../../../cloud/store/postgres/pg-acks.ts';
import { PostgresCloudStore } from '../../../cloud/store/postgres/postgres-store.ts';
import type { StoredEvent } from '../../../cloud/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../../testkit/postgres.ts';
import { entryEvent, resident } from '../fixtures.ts';

let db: TestDatabase;
let store: PostgresCloudStore;
let admin: pg.Client;
const GATES = ['a-1', 'a-2', 'a-3', 'a-4', 'a-5', 'a-6'];

const event = (gateId: string, seq: number): StoredEvent => ({
  ...entryEvent(gateId, seq, { personId: 'p-1' }),
  compoundId: 'c-1',
  receivedAt: Date.now(),
});
const events = (gateId: string, seqs: readonly number[]) => seqs.map((seq) => event(gateId, seq));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Rows written as another instance would, and the gate's mark set back to `mark` (as if not moved yet). */
async function storedElsewhere(gateId: string, seqs: readonly number[], mark: number): Promise<void> {
  await store.insertEvents(events(gateId, seqs));
  await admin.query('UPDATE gate_acks SET up_to = $2 WHERE gate_id = $1', [gateId, mark]);
}

beforeAll(async () => {
  db = await createTestDatabase('acks');
  store = await PostgresCloudStore.open({ url: db.url, max: 2 });
  await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
  for (const id of GATES) await store.createGate({ id, compoundId: 'c-1', name: id, antiPassback: false }, 1);
  await store.upsertResidents([resident('p-1', 'c-1')]);
  admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
});
afterAll(async () => {
  await admin?.end();
  await store?.close();
  await db?.drop();
});

describe('runsOf', () => {
  it('folds each gate’s seqs, in any order and with repeats, into maximal runs', () => {
    const runs = runsOf(
      new Map([
        ['g', [7, 3, 4, 4, 5, 9, 8, 12]],
        ['h', [1]],
      ]),
    );
    expect(runs).toEqual([
      ['g', 'g', 'g', 'h'],
      [3, 7, 12, 1],
      [5, 9, 12, 1],
    ]);
  });
});

describe('advanceAcks', () => {
  it('moves over the batch’s run and walks on over seqs committed beyond it, page by page', async () => {
    // Seqs 4–11 were committed by another instance, whose mark has not moved (0).
    await storedElsewhere('a-1', range(4, 11), 0);
    await store.insertEvents(events('a-1', range(1, 3)));
    for (const page of [2, 3, 1000]) {
      await admin.query("UPDATE gate_acks SET up_to = 0 WHERE gate_id = 'a-1'");
      const { marks } = await advanceAcks(store.pool, new Map([['a-1', [2, 1, 3]]]), page);
      expect(marks.get('a-1'), `page ${page}`).toBe(11);
      expect(await store.ackedUpTo('a-1')).toBe(11);
    }
  });

  it('stops at the first seq not answered, whatever the page', async () => {
    await storedElsewhere('a-2', [...range(3, 6), ...range(8, 12)], 0);
    await store.insertEvents(events('a-2', [1, 2]));
    for (const page of [2, 3, 4, 5, 1000]) {
      await admin.query("UPDATE gate_acks SET up_to = 0 WHERE gate_id = 'a-2'");
      expect((await advanceAcks(store.pool, new Map([['a-2', [1, 2]]]), page)).marks.get('a-2'), `page ${page}`).toBe(
        6,
      );
    }
    // Seq 7 arrives: the mark walks over the rest.
    await store.insertEvents(events('a-2', [7]));
    await admin.query("UPDATE gate_acks SET up_to = 6 WHERE gate_id = 'a-2'");
    expect((await advanceAcks(store.pool, new Map([['a-2', [7]]]), 2)).marks.get('a-2')).toBe(12);
  });

  it('steps over refused seqs, and a seq both refused and stored counts once', async () => {
    const refused = (seq: number) => ({ gateId: 'a-3', seq, reason: 'foreign-person', refusedAt: Date.now() });
    await store.insertEvents(events('a-3', [2, 4, 5]), undefined, [refused(3), refused(4), refused(6)]);
    await storedElsewhere('a-3', [7, 8], 0);
    for (const page of [1, 2, 1000]) {
      await admin.query("UPDATE gate_acks SET up_to = 0 WHERE gate_id = 'a-3'");
      // Seq 1 is missing: nothing moves.
      expect((await advanceAcks(store.pool, new Map([['a-3', [2, 3, 4, 5, 6]]]), page)).marks.get('a-3')).toBe(0);
    }
    await store.insertEvents(events('a-3', [1]));
    await admin.query("UPDATE gate_acks SET up_to = 0 WHERE gate_id = 'a-3'");
    expect((await advanceAcks(store.pool, new Map([['a-3', [1]]]), 2)).marks.get('a-3')).toBe(8);
  });

  it('never moves a mark back, and answers the stored mark for a batch of old seqs', async () => {
    await store.insertEvents(events('a-4', range(1, 5)));
    await admin.query("UPDATE gate_acks SET up_to = 40 WHERE gate_id = 'a-4'");
    expect((await advanceAcks(store.pool, new Map([['a-4', [1, 2, 3]]]))).marks.get('a-4')).toBe(40);
    expect(await store.ackedUpTo('a-4')).toBe(40);
  });

  it('stamps the marks with when the database read them: a later read sees more and is stamped later', async () => {
    // Seq 2 of a-7 committed by another instance between two reads: the first read (published
    // last, say) must not look newer than the second, or the gate would take it for a cloud
    // restored from a backup and resend (edge-agent/uplink.ts).
    await store.insertEvents(events('a-7', [1]));
    await admin.query('BEGIN'); // the admin connection stands for the other instance
    await admin.query(`INSERT INTO refused_seqs (gate_id, seq, reason, refused_at) VALUES ('a-7', 2, 'ts-too-old', 1)`);
    const first = await advanceAcks(store.pool, new Map([['a-7', [1]]]));
    await admin.query('COMMIT');
    const second = await advanceAcks(store.pool, new Map([['a-7', [1]]]));
    expect(first.marks.get('a-7')).toBe(1);
    expect(second.marks.get('a-7')).toBe(2);
    expect(first.readAt).toBeTypeOf('number');
    expect(second.readAt!).toBeGreaterThanOrEqual(first.readAt!);
    // On the database's clock, which is this machine's here.
    expect(Math.abs(second.readAt! - Date.now())).toBeLessThan(60_000);
  });

  it('moves the marks of many gates in one call, each on its own seqs', async () => {
    await store.insertEvents([...events('a-5', range(1, 4)), ...events('a-6', [2, 3])]);
    const { marks } = await advanceAcks(
      store.pool,
      new Map([
        ['a-5', range(1, 4)],
        ['a-6', [2, 3]],
      ]),
      2,
    );
    expect(marks).toEqual(
      new Map([
        ['a-5', 4],
        ['a-6', 0],
      ]),
    );
    // A gate never acked before has no row: its mark is 0, and none is written.
    expect((await admin.query("SELECT 1 FROM gate_acks WHERE gate_id = 'a-6'")).rowCount).toBe(0);
  });
});
