/**
 * Ingest's admission rules (cloud/ingest/event-admission.ts): the time bounds at their edges, the
 * person's compound, and the alarm — one per gate per window, the next one summing up what was
 * refused meanwhile.
 */
import { describe, expect, it } from 'vitest';
import { type AdmissionVerdict, EventAdmission } from '../../../cloud/ingest/event-admission.ts';
import { createCloudMetrics } from '../../../cloud/metrics/cloud-metrics.ts';
import type { StoredAlarm, StoredEvent } from '../../../cloud/store/store.ts';
import { silentLogger } from '../../../shared/log.ts';
import { entryEvent } from '../fixtures.ts';

const NOW = 1_800_000_000_000;
const KEEP = 28 * 24 * 3_600_000;
const TOLERANCE = 5 * 60_000;
const HOUR = 3_600_000;

function setup(
  persons: Record<string, string> = { 'p-1': 'c-1', 'p-b': 'c-2' },
  options: { holdCompounds?: boolean } = {},
) {
  let now = NOW;
  const alarms: StoredAlarm[] = [];
  const lookups: string[][] = [];
  /** `personIdsOfCompound` reads: [compoundId, limit]. */
  const compoundReads: [string, number][] = [];
  const metrics = createCloudMetrics();
  const admission = new EventAdmission({
    compoundsOfPersons: async (ids) => {
      lookups.push([...ids]);
      return new Map(ids.flatMap((id) => (persons[id] ? [[id, persons[id]] as const] : [])));
    },
    ...(options.holdCompounds
      ? {
          personIdsOfCompound: async (compoundId: string, limit: number) => {
            compoundReads.push([compoundId, limit]);
            const ids = Object.keys(persons).filter((id) => persons[id] === compoundId);
            return ids.length > limit ? undefined : ids;
          },
        }
      : {}),
    keepMs: KEEP,
    futureToleranceMs: TOLERANCE,
    alarmEveryMs: HOUR,
    raiseAlarm: (alarm) => {
      alarms.push(alarm);
    },
    metrics,
    logger: silentLogger,
    now: () => now,
  });
  const event = (seq: number, extra: Partial<StoredEvent> = {}): StoredEvent => ({
    ...entryEvent('g-1', seq, { ts: now }),
    compoundId: 'c-1',
    receivedAt: now,
    ...extra,
  });
  const judge = (...events: StoredEvent[]) => admission.judge('g-1', 'c-1', events);
  const advance = (ms: number) => {
    now += ms;
  };
  return { judge, event, alarms, lookups, compoundReads, metrics, advance, persons };
}

describe('EventAdmission', () => {
  it('admits times up to the tolerance ahead and back to the keep window, and refuses one ms beyond', async () => {
    const { judge, event } = setup();
    const verdict = await judge(
      event(1, { ts: NOW + TOLERANCE }),
      event(2, { ts: NOW + TOLERANCE + 1 }),
      event(3, { ts: NOW - KEEP }),
      event(4, { ts: NOW - KEEP - 1 }),
    );
    expect(verdict.admitted.map((e) => e.seq)).toEqual([1, 3]);
    expect(verdict.refused).toEqual([
      { gateId: 'g-1', seq: 2, reason: 'ts-in-future', refusedAt: NOW },
      { gateId: 'g-1', seq: 4, reason: 'ts-too-old', refusedAt: NOW },
    ]);
  });

  it('applies the time bounds to the residents of a held compound too (its message is taken at once only when all are in bounds)', async () => {
    const { judge, event } = setup({ 'p-1': 'c-1' }, { holdCompounds: true });
    // The first message reads the compound's residents; from then on the set is held.
    expect((await judge(event(1))).admitted).toHaveLength(1);
    const atOnce = judge(event(2), event(3, { ts: NOW + TOLERANCE }), event(4, { ts: NOW - KEEP }));
    expect(atOnce).not.toBeInstanceOf(Promise);
    expect((atOnce as Awaited<typeof atOnce>).admitted.map((e) => e.seq)).toEqual([2, 3, 4]);
    const verdict = await judge(event(5, { ts: NOW + TOLERANCE + 1 }), event(6), event(7, { ts: NOW - KEEP - 1 }));
    expect(verdict.admitted.map((e) => e.seq)).toEqual([6]);
    expect(verdict.refused.map((r) => [r.seq, r.reason])).toEqual([
      [5, 'ts-in-future'],
      [7, 'ts-too-old'],
    ]);
  });

  it("admits the gate's own residents and events naming no one; refuses another compound's and unknown people", async () => {
    const { judge, event, metrics } = setup();
    const verdict = await judge(
      event(1),
      event(2, { personId: 'p-b' }),
      event(3, { personId: 'ghost' }),
      event(4, { personId: undefined, method: 'manual' }),
    );
    expect(verdict.admitted.map((e) => e.seq)).toEqual([1, 4]);
    expect(verdict.refused.map((r) => [r.seq, r.reason])).toEqual([
      [2, 'foreign-person'],
      [3, 'unknown-person'],
    ]);
    expect(metrics.ingestRejects.get({ reason: 'foreign-person' })).toBe(1);
    expect(metrics.ingestRejects.get({ reason: 'unknown-person' })).toBe(1);
  });

  it('asks the store once per person and remembers known residents for a while', async () => {
    const { judge, event, lookups, advance } = setup();
    await judge(event(1), event(2), event(3, { personId: 'ghost' }));
    await judge(event(4), event(5, { personId: 'ghost' }));
    expect(lookups).toEqual([['p-1', 'ghost'], ['ghost']]);
    advance(61_000);
    await judge(event(6));
    expect(lookups.at(-1)).toEqual(['p-1']);
  });

  it('raises one alarm per gate per window; the next one counts what was refused meanwhile', async () => {
    const { judge, event, alarms, advance } = setup();
    await judge(event(1, { personId: 'p-b' }), event(2));
    await new Promise((resolve) => setImmediate(resolve));
    expect(alarms).toHaveLength(1);
    expect(alarms[0]).toMatchObject({ kind: 'events-refused', gateId: 'g-1', compoundId: 'c-1', ts: NOW });
    expect(alarms[0]!.detail).toContain('refused 1 event from this gate (foreign-person 1)');

    advance(HOUR / 2);
    await judge(event(3, { personId: 'ghost' }), event(4, { personId: 'ghost' }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(alarms).toHaveLength(1);

    advance(HOUR / 2);
    await judge(event(5, { ts: NOW + 10 * 365 * 24 * HOUR }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(alarms).toHaveLength(2);
    expect(alarms[1]!.detail).toContain('refused 3 events from this gate (unknown-person 2, ts-in-future 1)');
  });

  it("holds the gate's compound's residents whole: one read per compound a minute, the others asked per person", async () => {
    const { judge, event, lookups, compoundReads, advance, persons } = setup(
      { 'p-1': 'c-1', 'p-2': 'c-1', 'p-b': 'c-2' },
      { holdCompounds: true },
    );
    const first = await judge(event(1), event(2, { personId: 'p-2' }), event(3, { personId: 'p-b' }));
    expect(first.admitted.map((e) => e.seq)).toEqual([1, 2]);
    expect(first.refused.map((r) => [r.seq, r.reason])).toEqual([[3, 'foreign-person']]);
    expect(compoundReads).toEqual([['c-1', 20_000]]);
    // Only the person outside the set was looked up.
    expect(lookups).toEqual([['p-b']]);

    // Known residents: decided at once, no promise, no read.
    const cached = judge(event(4), event(5, { personId: 'p-2' }));
    expect(cached).not.toBeInstanceOf(Promise);
    expect((cached as Awaited<typeof cached>).admitted.map((e) => e.seq)).toEqual([4, 5]);

    // Registered after the set was read: found by the per-person read, admitted at once.
    persons['p-new'] = 'c-1';
    expect((await judge(event(6, { personId: 'p-new' }))).admitted.map((e) => e.seq)).toEqual([6]);
    expect(lookups.at(-1)).toEqual(['p-new']);
    expect(compoundReads).toHaveLength(1);

    // Moved away: seen once the set is read again after a minute. The message that starts the
    // reload is judged with the set it has (the reload holds no message); the next, after it, is not.
    persons['p-2'] = 'c-2';
    advance(61_000);
    const during = judge(event(7, { personId: 'p-2' }));
    expect(during).not.toBeInstanceOf(Promise);
    expect((during as Awaited<typeof during>).admitted.map((e) => e.seq)).toEqual([7]);
    expect(compoundReads).toHaveLength(2);
    await new Promise((resolve) => setImmediate(resolve));
    const moved = await judge(event(8, { personId: 'p-2' }));
    expect(moved.refused.map((r) => [r.seq, r.reason])).toEqual([[8, 'foreign-person']]);
    expect(compoundReads).toHaveLength(2);
  });

  it("a slow reload of a compound's residents holds no message: judged at once with the old set, one read at a time", async () => {
    let reads = 0;
    let release: ((ids: string[]) => void) | undefined;
    let now = NOW;
    const admission = new EventAdmission({
      compoundsOfPersons: async () => new Map(),
      personIdsOfCompound: (_compoundId) => {
        reads += 1;
        if (reads === 1) return Promise.resolve(['p-1', 'p-gone']);
        return new Promise((resolve) => {
          release = resolve;
        });
      },
      keepMs: KEEP,
      raiseAlarm: () => {},
      metrics: createCloudMetrics(),
      logger: silentLogger,
      now: () => now,
    });
    const event = (seq: number, personId: string): StoredEvent => ({
      ...entryEvent('g-1', seq, { ts: now }),
      compoundId: 'c-1',
      receivedAt: now,
      personId,
    });
    await admission.judge('g-1', 'c-1', [event(1, 'p-1')]);
    now += 61_000;
    for (let seq = 2; seq < 12; seq++) {
      const verdict = admission.judge('g-1', 'c-1', [event(seq, 'p-gone')]);
      expect(verdict).not.toBeInstanceOf(Promise);
      expect((verdict as AdmissionVerdict).admitted).toHaveLength(1);
    }
    expect(reads).toBe(2);
    release!(['p-1']);
    await new Promise((resolve) => setImmediate(resolve));
    const after = await admission.judge('g-1', 'c-1', [event(12, 'p-gone')]);
    expect(after.refused.map((r) => r.reason)).toEqual(['unknown-person']);
  });

  it('holds no set for a compound with too many residents, and asks per person instead', async () => {
    const many = Object.fromEntries(Array.from({ length: 20_001 }, (_, i) => [`p-${i}`, 'c-1']));
    const { judge, event, lookups, compoundReads } = setup(many, { holdCompounds: true });
    expect((await judge(event(1, { personId: 'p-7' }))).admitted).toHaveLength(1);
    expect(compoundReads).toEqual([['c-1', 20_000]]);
    expect(lookups).toEqual([['p-7']]);
  });
});
