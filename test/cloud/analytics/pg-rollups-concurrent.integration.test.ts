/**
 * Statistics stay exact with two cloud instances ingesting into one PostgreSQL database at once
 * (docs/cloud.md, "Statistics on PostgreSQL"): two stores, each with its own pool and its own rollup
 * writer (as two instances have), commit batches at the same time that add to the same hours, the
 * same gates' counters and the same people's day — some batches fail in their hook and are sent
 * again, some are resent after they committed. Every counter, every day's distinct persons and
 * every statistic then equal what one SQLite store computes from the same passages in one line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalyticsStore } from '../../../cloud/analytics/analytics-store.ts';
import { openAnalyticsStore, openRollupWriter, type RollupHook } from '../../../cloud/analytics/open-analytics.ts';
import { statsGates, statsHourly, statsSummary } from '../../../cloud/analytics/statistics.ts';
import { composeIngestHooks } from '../../../cloud/store/ingest-hook.ts';
import type { PostgresCloudStore } from '../../../cloud/store/postgres/postgres-store.ts';
import type { CloudStore, StoredEvent } from '../../../cloud/store/store.ts';
import { resident } from '../fixtures.ts';
import { storeBackends, throwingHook } from '../store/backends.ts';

const T0 = Date.UTC(2026, 11, 4, 14); // 22:00 in Shanghai: the batches straddle a local midnight
const H = 3_600_000;
const GATES = ['g-1', 'g-2', 'g-3', 'g-4'];
const PEOPLE = Array.from({ length: 40 }, (_, i) => `p-${String(i).padStart(2, '0')}`);

/** mulberry32: seeded, so a failure replays exactly. */
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

/** Rounds of two batches each (one per instance), both touching the same hours, gates and people. */
function rounds(rand: () => number): StoredEvent[][][] {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const seqs = new Map<string, number>();
  const out: StoredEvent[][][] = [];
  for (let r = 0; r < 30; r++) {
    const pair: StoredEvent[][] = [[], []];
    for (const side of [0, 1]) {
      // Disjoint gates per batch (as shared subscriptions hand a gate's message to one instance),
      // the same hours and people on both sides.
      for (const gateId of side === 0 ? ['g-1', 'g-2'] : ['g-3', 'g-4']) {
        for (let i = 0; i < 20; i++) {
          const seq = (seqs.get(gateId) ?? 0) + 1;
          seqs.set(gateId, seq);
          const granted = rand() < 0.9;
          pair[side]!.push({
            gateId,
            seq,
            ts: T0 + Math.floor(rand() * 4 * H),
            direction: pick(['in', 'out'] as const),
            method: pick(['qr', 'idcard', 'card'] as const),
            result: granted ? 'granted' : 'denied',
            reason: granted ? 'ok' : 'health-red',
            ...(rand() < 0.1 ? {} : { personId: pick(PEOPLE) }),
            health: 'green',
            mode: 'normal',
            passed: granted ? rand() < 0.95 : null,
            decisionMs: 1,
            compoundId: 'c-1',
            receivedAt: T0 + 5 * H,
          });
        }
      }
    }
    out.push(pair);
  }
  return out;
}

async function seed(store: CloudStore): Promise<void> {
  await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
  for (const id of GATES) await store.createGate({ id, compoundId: 'c-1', name: id, antiPassback: false }, 1);
  await store.upsertResidents(PEOPLE.map((p, i) => resident(p, 'c-1', { elderly: i % 5 === 0 })));
}

/** Everything the statistics answer for the compound, over the whole load and a few windows. */
async function answers(analytics: AnalyticsStore, store: CloudStore) {
  const deps = { analytics, registry: store, now: () => T0 + 6 * H };
  const windows = [
    [T0 - H, T0 + 6 * H],
    [T0 + H, T0 + 3 * H],
    [T0 - 24 * H, T0 + 48 * H],
  ] as const;
  const out: unknown[] = [];
  for (const [from, to] of windows) {
    out.push(await statsSummary(deps, 'c-1', from, to));
    out.push(await statsHourly(deps, 'c-1', from, to));
    out.push((await statsGates(deps, 'c-1', from, to)).gates.map(({ uptime: _u, online: _o, ...g }) => g));
    out.push(await analytics.hourlyRows('c-1', from, to));
    out.push(await analytics.gateRows('c-1', from, to));
  }
  out.push(await analytics.personsPerDay('c-1', '2026-12-01', '2026-12-31'));
  return out;
}

describe('statistics rollups on PostgreSQL under two instances ingesting at once', { timeout: 180_000 }, () => {
  const [sqliteBackend, postgresBackend] = storeBackends();
  let a: PostgresCloudStore;
  let b: PostgresCloudStore;
  let reference: CloudStore;
  const load = rounds(random(Number(process.env.ANXIN_PROPERTY_SEED ?? 20261205)));

  beforeAll(async () => {
    a = (await postgresBackend!.open()) as PostgresCloudStore;
    b = (await postgresBackend!.reopen()) as PostgresCloudStore;
    reference = await sqliteBackend!.open();
    await seed(a);
    await seed(reference);
  }, 120_000);
  afterAll(async () => {
    await postgresBackend!.dispose();
    await sqliteBackend!.dispose();
  });

  it('adds every passage once: counters and distinct persons equal a single store’s', async () => {
    const writerA = openRollupWriter(a.engine);
    const writerB = openRollupWriter(b.engine);
    const failing = (writer: RollupHook) => composeIngestHooks([writer, throwingHook('postgres', 'hook failed')])!;
    for (const [r, [left, right]] of load.entries()) {
      // Every fifth round one side fails after its rollups were written: rolled back, then resent.
      const leftHook = r % 5 === 1 ? failing(writerA) : writerA;
      const [first] = await Promise.allSettled([a.insertEvents(left!, leftHook), b.insertEvents(right!, writerB)]);
      if (r % 5 === 1) {
        expect(first.status).toBe('rejected');
        await a.insertEvents(left!, writerA);
      }
      // Every seventh round both sides resend the other's batch at once: nothing is counted twice.
      if (r % 7 === 3) await Promise.all([a.insertEvents(right!, writerA), b.insertEvents(left!, writerB)]);
    }
    const referenceWriter = openRollupWriter(reference.engine);
    for (const pair of load) for (const batch of pair) await reference.insertEvents(batch, referenceWriter);

    const expected = await answers(openAnalyticsStore(reference.engine), reference);
    expect(await answers(openAnalyticsStore(a.engine), a)).toEqual(expected);
    expect(await answers(openAnalyticsStore(b.engine), b)).toEqual(expected);

    // The day's persons: exactly the distinct (day, person) pairs that crossed, each counted once.
    const { rows } = await a.pool.query<{ counted: number; listed: number }>(
      `SELECT (SELECT SUM(persons) FROM stats_daily) AS counted, (SELECT COUNT(*) FROM stats_daily_persons) AS listed`,
    );
    expect(rows[0]!.counted).toBe(rows[0]!.listed);
    expect(rows[0]!.listed).toBeGreaterThan(PEOPLE.length);
  });
});
