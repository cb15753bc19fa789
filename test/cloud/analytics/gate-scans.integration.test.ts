/**
 * `gateScans`, the one read of all of a contact trace's windows (one statement on PostgreSQL,
 * cloud/store/postgres/pg-trace-reads.ts): on each engine it returns exactly the concatenation of
 * `gateScan` over the ranges, in their order — overlapping and repeated ranges, ranges in any
 * order, edges included, unknown gates, no ranges — and the two engines return the same rows, in
 * the same order, for ranges that cross the boundary between two month partitions of `events`;
 * PostgreSQL's plan reads only the months the ranges touch (custom and generic plans; at size the
 * scans are index-only, shown by `bench/contacts.ts --explain`).
 * Contacts traced over that boundary are the same on both engines. Correctness only: the cost of
 * the statement is measured in bench/contacts.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalyticsStore } from '../../../cloud/analytics/analytics-store.ts';
import { type ScanRange, scanRangesOf } from '../../../cloud/analytics/contacts.ts';
import { openAnalyticsStore, openRollupWriter } from '../../../cloud/analytics/open-analytics.ts';
import { isTraceable } from '../../../cloud/analytics/passage.ts';
import { traceContacts } from '../../../cloud/analytics/tracing.ts';
import { GATE_SCANS_SQL, gateScansParams } from '../../../cloud/store/postgres/pg-trace-reads.ts';
import type { CloudStore, StoredEvent } from '../../../cloud/store/store.ts';
import { resident } from '../fixtures.ts';
import { storeBackends } from '../store/backends.ts';

const MIN = 60_000;
/** 2027-01-01 00:00 UTC: the boundary between the month partitions events_p2026_12 and events_p2027_01. */
const BOUNDARY = Date.UTC(2027, 0, 1);
const GATES = ['g-1', 'g-2', 'g-3'];
const PEOPLE = Array.from({ length: 8 }, (_, i) => `p-${i}`);

/** mulberry32, so a failure replays exactly. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Passages within ±40 min of the boundary, on whole minutes (many share a ts), plus the edges themselves. */
function passages(): StoredEvent[] {
  const rand = random(17);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const seqs = new Map<string, number>();
  const times = [BOUNDARY - 1, BOUNDARY, BOUNDARY + 1];
  for (let i = 0; i < 240; i++) times.push(BOUNDARY + (Math.floor(rand() * 81) - 40) * MIN);
  return times.map((ts, i) => {
    const gateId = i < 3 ? 'g-1' : pick(GATES);
    const seq = (seqs.get(gateId) ?? 0) + 1;
    seqs.set(gateId, seq);
    const granted = rand() < 0.85;
    const method = pick(['qr', 'idcard', 'manual'] as const);
    const personId = rand() < 0.08 ? undefined : pick(PEOPLE);
    return {
      gateId,
      seq,
      ts,
      direction: pick(['in', 'out'] as const),
      method,
      result: granted ? 'granted' : 'denied',
      reason: granted ? 'ok' : 'health-red',
      ...(personId ? { personId } : {}),
      health: 'green',
      mode: 'normal',
      passed: granted ? (method === 'manual' ? null : rand() >= 0.1) : null,
      decisionMs: 0.2,
      compoundId: 'c-1',
      receivedAt: BOUNDARY + 3_600_000 + i,
    } satisfies StoredEvent;
  });
}

const r = (gateId: string, from: number, to: number): ScanRange => ({ gateId, from, to });

/** Range lists with every shape a caller could send (scanRangesOf sends sorted, disjoint ones). */
const RANGE_LISTS: ScanRange[][] = [
  [],
  [r('g-1', BOUNDARY - 10 * MIN, BOUNDARY + 10 * MIN)],
  [r('g-1', BOUNDARY - 20 * MIN, BOUNDARY + 5 * MIN), r('g-1', BOUNDARY - 5 * MIN, BOUNDARY + 20 * MIN)],
  [r('g-2', BOUNDARY - 15 * MIN, BOUNDARY), r('g-2', BOUNDARY - 15 * MIN, BOUNDARY)],
  [r('g-3', BOUNDARY + MIN, BOUNDARY + 30 * MIN), r('g-1', BOUNDARY - 30 * MIN, BOUNDARY - MIN)],
  [r('g-2', BOUNDARY + 5 * MIN, BOUNDARY + 6 * MIN), r('g-2', BOUNDARY - 6 * MIN, BOUNDARY - 5 * MIN)],
  [r('g-1', BOUNDARY, BOUNDARY), r('g-1', BOUNDARY - 1, BOUNDARY - 1), r('g-1', BOUNDARY + 1, BOUNDARY + 1)],
  [r('g-9', BOUNDARY - 60 * MIN, BOUNDARY + 60 * MIN), r('g-1', BOUNDARY + 50 * MIN, BOUNDARY + 55 * MIN)],
  [r('g-3', Date.UTC(2020, 0, 1), Date.UTC(2020, 0, 2)), r('g-3', BOUNDARY - 45 * MIN, BOUNDARY + 45 * MIN)],
  GATES.map((g) => r(g, BOUNDARY - 45 * MIN, BOUNDARY + 45 * MIN)),
];

describe('gateScans: every window of a trace in one read', { timeout: 120_000 }, () => {
  const backends = storeBackends();
  const engines: { name: string; store: CloudStore; analytics: AnalyticsStore }[] = [];

  beforeAll(async () => {
    const events = passages();
    for (const backend of backends) {
      const store = await backend.open();
      await store.createCompound({ id: 'c-1', name: 'c-1', timeZone: 'Asia/Shanghai' }, 1);
      for (const id of GATES) await store.createGate({ id, compoundId: 'c-1', name: id, antiPassback: false }, 1);
      await store.upsertResidents(PEOPLE.map((p, i) => resident(p, 'c-1', { householdId: `h-${i % 3}` })));
      for (let i = 0; i < events.length; i += 50) {
        await store.insertEvents(events.slice(i, i + 50), openRollupWriter(store.engine));
      }
      engines.push({ name: backend.name, store, analytics: openAnalyticsStore(store.engine) });
    }
  }, 120_000);
  afterAll(async () => {
    for (const backend of backends) await backend.dispose();
  });

  it('returns on each engine what gateScan returns range by range, in the ranges’ order', async () => {
    for (const { name, analytics } of engines) {
      for (const ranges of RANGE_LISTS) {
        const expected = [];
        for (const x of ranges) expected.push(...(await analytics.gateScan(x.gateId, x.from, x.to)));
        expect({ name, ranges, rows: await analytics.gateScans(ranges) }).toEqual({ name, ranges, rows: expected });
      }
    }
    // Overlapping ranges return their common passages twice; the boundary range holds both months.
    const [sqlite] = engines;
    const overlap = await sqlite!.analytics.gateScans(RANGE_LISTS[2]!);
    expect(new Set(overlap.map((p) => p.seq)).size).toBeLessThan(overlap.length);
    const across = await sqlite!.analytics.gateScans(RANGE_LISTS[1]!);
    expect(across.some((p) => p.ts < BOUNDARY) && across.some((p) => p.ts >= BOUNDARY)).toBe(true);
  });

  it('reads the same rows in the same order on SQLite and PostgreSQL', async () => {
    expect(engines.map((e) => e.name)).toEqual(['sqlite', 'postgres']);
    const [sqlite, postgres] = engines;
    for (const ranges of RANGE_LISTS) {
      expect(await postgres!.analytics.gateScans(ranges)).toEqual(await sqlite!.analytics.gateScans(ranges));
    }
  });

  it('reads on PostgreSQL only the month partitions the ranges touch', async () => {
    const engine = engines.find((e) => e.name === 'postgres')!.store.engine;
    if (engine.kind !== 'postgres') throw new Error('expected the PostgreSQL store');
    const scanned = async (ranges: ScanRange[], generic: boolean) => {
      const client = await engine.pool.connect();
      try {
        // A prepared statement may run on a generic plan (no parameter values at planning time):
        // the months are then pruned when it starts, and must be all the same.
        await client.query(`SET plan_cache_mode = ${generic ? 'force_generic_plan' : 'force_custom_plan'}`);
        const { rows } = await client.query({
          text: `EXPLAIN (ANALYZE, FORMAT JSON) ${GATE_SCANS_SQL}`,
          values: gateScansParams(ranges),
        });
        await client.query('RESET plan_cache_mode');
        const plan = JSON.stringify(rows[0]['QUERY PLAN']);
        return { relations: [...new Set([...plan.matchAll(/"Relation Name":"(\w+)"/g)].map((m) => m[1]))].sort() };
      } finally {
        client.release();
      }
    };
    const january = [r('g-1', BOUNDARY + 5 * MIN, BOUNDARY + 20 * MIN), r('g-2', BOUNDARY + MIN, BOUNDARY + 9 * MIN)];
    const december = [r('g-3', BOUNDARY - 30 * MIN, BOUNDARY - 2 * MIN)];
    for (const generic of [false, true]) {
      const jan = await scanned(january, generic);
      expect(jan.relations).toEqual(['events_p2027_01']);
      expect((await scanned(december, generic)).relations).toEqual(['events_p2026_12']);
      expect((await scanned(RANGE_LISTS[1]!, generic)).relations).toEqual(['events_p2026_12', 'events_p2027_01']);
    }
  });

  it('traces the same contacts on both engines with windows across the month boundary', async () => {
    const [sqlite, postgres] = engines;
    let crossing = 0;
    for (const personId of PEOPLE) {
      for (const [windowMin, includeDenied] of [
        [3, false],
        [10, true],
        [25, false],
      ] as const) {
        const from = BOUNDARY - 2 * 3_600_000;
        const to = BOUNDARY + 2 * 3_600_000;
        const index = (await sqlite!.analytics.personPassages(personId, from, to)).filter((p) =>
          isTraceable(p, includeDenied),
        );
        const ranges = scanRangesOf(index, windowMin * MIN);
        crossing += ranges.filter((x) => x.from < BOUNDARY && x.to >= BOUNDARY).length;
        const options = { from, to, windowMin, depth: 2 as const, includeDenied };
        const expected = await traceContacts(
          { analytics: sqlite!.analytics, registry: sqlite!.store },
          personId,
          options,
        );
        expect(expected.contacts.some((c) => c.sharedPassages.length > 0)).toBe(true);
        const actual = await traceContacts(
          { analytics: postgres!.analytics, registry: postgres!.store },
          personId,
          options,
        );
        expect(actual).toEqual(expected);
      }
    }
    expect(crossing).toBeGreaterThan(0);
  });
});
