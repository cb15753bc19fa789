/**
 * Admission's held compound sets (cloud/ingest/compound-residents.ts): what a read that fails, or a
 * compound too big to hold, costs afterwards — one read per hold, not one per message.
 */
import { describe, expect, it } from 'vitest';
import { CompoundResidents } from '../../../cloud/ingest/compound-residents.ts';
import { silentLogger } from '../../../shared/log.ts';

const MAX_AGE_MS = 60_000;

function residents(read: (compoundId: string, limit: number) => Promise<string[] | undefined>, maxTotal = 100) {
  let reads = 0;
  const held = new CompoundResidents({
    personIdsOfCompound: (compoundId, limit) => {
      reads += 1;
      return read(compoundId, limit);
    },
    maxAgeMs: MAX_AGE_MS,
    maxPerCompound: 3,
    maxTotal,
    logger: silentLogger,
  });
  return { held, reads: () => reads };
}

describe('CompoundResidents', () => {
  it('holds a set for maxAgeMs, then reads it again', async () => {
    const { held, reads } = residents(async () => ['p-1', 'p-2']);
    expect([...((await held.of('c-1', 0)) ?? [])]).toEqual(['p-1', 'p-2']);
    expect(held.of('c-1', MAX_AGE_MS - 1)).toBeInstanceOf(Set);
    expect(reads()).toBe(1);
    await held.of('c-1', MAX_AGE_MS);
    expect(reads()).toBe(2);
  });

  it('a failed read is held as "one by one" for maxAgeMs: no read per message while the database is in trouble', async () => {
    const { held, reads } = residents(async () => {
      throw new Error('connection refused');
    });
    expect(await held.of('c-1', 0)).toBeUndefined();
    for (let t = 1; t < 100; t++) expect(held.of('c-1', t)).toBeUndefined();
    expect(reads()).toBe(1);
    await held.of('c-1', MAX_AGE_MS);
    expect(reads()).toBe(2);
  });

  it('a compound too big to hold is read again only after ten times maxAgeMs', async () => {
    const { held, reads } = residents(async (_compoundId, limit) => (limit >= 3 ? undefined : []));
    expect(await held.of('c-1', 0)).toBeUndefined();
    expect(held.of('c-1', 10 * MAX_AGE_MS - 1)).toBeUndefined();
    expect(reads()).toBe(1);
    await held.of('c-1', 10 * MAX_AGE_MS);
    expect(reads()).toBe(2);
  });

  it('past maxTotal a further compound is looked up one by one; no current set is evicted and read again', async () => {
    const { held, reads } = residents(async (compoundId) => [`${compoundId}-a`, `${compoundId}-b`], 4);
    await held.of('c-1', 0);
    await held.of('c-2', 0);
    expect(await held.of('c-3', 0)).toBeUndefined();
    for (let t = 1; t < 100; t++) {
      for (const c of ['c-1', 'c-2']) expect(held.of(c, t)).toBeInstanceOf(Set);
      expect(held.of('c-3', t)).toBeUndefined();
    }
    expect(reads()).toBe(3);
  });
});
