/**
 * Differential: the same generated passages — replayed, out of order, with ties in time — loaded
 * into the SQLite store and the PostgreSQL store give the same answers: every person's timeline,
 * contacts (first and second degree, with and without denied passages; windows that overlap and
 * cross the month partitions' boundary), every gate's exposure, the
 * events lists page by page, the ack marks, and the statistics (summary, hourly series, per-gate
 * table, the counters behind them) over windows of whole days, parts of days and across the month.
 * The answers come from the product's own code (cloud/analytics/tracing.ts, statistics.ts) over
 * each engine's reads and rollups, opened per engine as the cloud opens them (open-analytics.ts);
 * the passages are stored through each engine's rollup writer, as ingest stores them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAnalyticsStore, openRollupWriter } from '../../../cloud/analytics/open-analytics.ts';
import { statsGates, statsHourly, statsSummary } from '../../../cloud/analytics/statistics.ts';
import { scanRangesOf } from '../../../cloud/analytics/contacts.ts';
import { isTraceable } from '../../../cloud/analytics/passage.ts';
import { traceContacts, traceGate, tracePerson, type TraceDeps } from '../../../cloud/analytics/tracing.ts';
import type { CloudStore, EventQuery, IngestHook, StoredEvent } from '../../../cloud/store/store.ts';
import { resident } from '../fixtures.ts';
import { storeBackends } from './backends.ts';

/** mulberry32: a small seeded generator, so a failure replays exactly. */
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

const SEED = Number(process.env.ANXIN_PROPERTY_SEED ?? 20261205);
const T0 = Date.UTC(2026, 10, 30, 16); // spans the end of November (two month partitions)
const SPAN = 2 * 24 * 3_600_000;
const COMPOUNDS = { 'c-1': ['g-1', 'g-2', 'g-3', 'g-4'], 'c-2': ['g-5', 'g-6'] } as const;
const PEOPLE = {
  'c-1': Array.from({ length: 30 }, (_, i) => `p-1-${String(i).padStart(2, '0')}`),
  'c-2': Array.from({ length: 15 }, (_, i) => `p-2-${String(i).padStart(2, '0')}`),
};

function generate(rand: () => number): { events: StoredEvent[]; batches: StoredEvent[][] } {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const seqs = new Map<string, number>();
  const events: StoredEvent[] = [];
  for (let i = 0; i < 1500; i++) {
    const compoundId = pick(['c-1', 'c-1', 'c-2'] as const);
    const gateId = pick(COMPOUNDS[compoundId]);
    const seq = (seqs.get(gateId) ?? 0) + 1;
    seqs.set(gateId, seq);
    const granted = rand() < 0.85;
    const method = pick(['qr', 'qr', 'idcard', 'manual'] as const);
    const personId = rand() < 0.05 ? undefined : pick(PEOPLE[compoundId]);
    events.push({
      gateId,
      seq,
      // Rounded to 10 s: plenty of passages share a ts, where ordering bugs hide.
      ts: T0 + Math.floor((rand() * SPAN) / 10_000) * 10_000,
      direction: pick(['in', 'out'] as const),
      method,
      result: granted ? 'granted' : 'denied',
      reason: granted ? 'ok' : pick(['health-red', 'pass-expired', 'unknown-person'] as const),
      ...(personId ? { personId } : {}),
      health: pick(['green', 'yellow', 'red'] as const),
      mode: 'normal',
      passed: granted ? (method === 'manual' ? null : rand() < 0.05 ? false : true) : null,
      decisionMs: Math.round(rand() * 50) / 10,
      compoundId,
      receivedAt: T0 + SPAN + i,
    });
  }
  // Batches of 1–200 in a shuffled order, some replayed: gaps that fill later, duplicates.
  const batches: StoredEvent[][] = [];
  for (let i = 0; i < events.length; ) {
    const n = 1 + Math.floor(rand() * 200);
    batches.push(events.slice(i, i + n));
    i += n;
  }
  for (let i = batches.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [batches[i], batches[j]] = [batches[j]!, batches[i]!];
  }
  for (let i = 0; i < 5; i++) batches.splice(Math.floor(rand() * batches.length), 0, pick(batches));
  return { events, batches };
}

async function load(store: CloudStore, batches: readonly StoredEvent[][], hook: IngestHook): Promise<void> {
  for (const [compoundId, gates] of Object.entries(COMPOUNDS)) {
    await store.createCompound({ id: compoundId, name: compoundId, timeZone: 'Asia/Shanghai' }, 1);
    for (const id of gates) await store.createGate({ id, compoundId, name: `Gate ${id}`, antiPassback: false }, 1);
    // Households of three; household ids repeat across compounds (tracing keeps them apart).
    const people = PEOPLE[compoundId as keyof typeof PEOPLE];
    await store.upsertResidents(
      people.map((p, i) => resident(p, compoundId, { householdId: `h-${Math.floor(i / 3)}`, maskedName: `*${p}` })),
    );
  }
  // One elderly resident per compound: the elderly ID-card share is compared too.
  await store.upsertResidents([
    resident('p-1-00', 'c-1', { elderly: true, householdId: 'h-0', maskedName: '*p-1-00' }),
  ]);
  for (const batch of batches) await store.insertEvents(batch, hook);
}

async function allPages(store: CloudStore, query: Omit<EventQuery, 'cursor'>): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.queryEvents({ ...query, ...(cursor ? { cursor } : {}) });
    seen.push(...page.events.map((e) => `${e.gateId}/${e.seq}/${e.ts}`));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return seen;
}

// Every trace runs on both backends over the whole generated load: seconds each on a busy machine.
describe('SQLite and PostgreSQL stores answer alike', { timeout: 120_000 }, () => {
  const [sqliteBackend, postgresBackend] = storeBackends();
  let sqlite: { store: CloudStore; deps: TraceDeps };
  let postgres: { store: CloudStore; deps: TraceDeps };
  const everyone = [...PEOPLE['c-1'], ...PEOPLE['c-2']];
  const gates = [...COMPOUNDS['c-1'], ...COMPOUNDS['c-2']];

  beforeAll(async () => {
    const { batches } = generate(random(SEED));
    const a = await sqliteBackend!.open();
    const b = await postgresBackend!.open();
    await Promise.all([load(a, batches, openRollupWriter(a.engine)), load(b, batches, openRollupWriter(b.engine))]);
    sqlite = { store: a, deps: { analytics: openAnalyticsStore(a.engine), registry: a } };
    postgres = { store: b, deps: { analytics: openAnalyticsStore(b.engine), registry: b } };
  }, 120_000);
  afterAll(async () => {
    await sqliteBackend!.dispose();
    await postgresBackend!.dispose();
  });

  it('stores the same passages once each, with the same ack marks', async () => {
    const { events } = generate(random(SEED));
    const a = await allPages(sqlite.store, { limit: 500 });
    expect(a).toHaveLength(events.length);
    expect(await allPages(postgres.store, { limit: 500 })).toEqual(a);
    for (const g of gates) expect(await postgres.store.ackedUpTo(g)).toBe(await sqlite.store.ackedUpTo(g));
  });

  it('lists events alike, filtered and paged', async () => {
    const queries: Omit<EventQuery, 'cursor'>[] = [
      { limit: 37 },
      { limit: 13, result: 'denied' },
      { limit: 50, compoundId: 'c-2', from: T0 + 3_600_000, to: T0 + 30 * 3_600_000 },
      { limit: 7, gateId: 'g-3' },
      { limit: 9, personId: 'p-1-04' },
    ];
    for (const q of queries) expect(await allPages(postgres.store, q)).toEqual(await allPages(sqlite.store, q));
  });

  it('gives every person the same timeline', async () => {
    for (const p of everyone) {
      const expected = await tracePerson(sqlite.deps, p, T0, T0 + SPAN);
      expect(expected.passages.length).toBeGreaterThan(0);
      expect(await tracePerson(postgres.deps, p, T0, T0 + SPAN)).toEqual(expected);
    }
  });

  it('finds the same contacts, first and second degree, with and without denied passages', async () => {
    for (const p of everyone.filter((_, i) => i % 5 === 0)) {
      for (const includeDenied of [false, true]) {
        const options = { from: T0, to: T0 + SPAN, windowMin: 10, depth: 2 as const, includeDenied };
        const expected = await traceContacts(sqlite.deps, p, options);
        expect(expected.contacts.length).toBeGreaterThan(0);
        expect(await traceContacts(postgres.deps, p, options)).toEqual(expected);
      }
    }
  });

  it('finds the same contacts when the windows overlap and cross the month partitions’ boundary', async () => {
    // Wide windows merge into long ranges (scanRangesOf), several of which span 1 December 00:00
    // UTC, where events_p2026_11 ends: the one-statement read of PostgreSQL (gateScans) reads both.
    const boundary = Date.UTC(2026, 11, 1);
    let crossing = 0;
    for (const p of everyone) {
      const options = { from: boundary - 6 * 3_600_000, to: boundary + 6 * 3_600_000, windowMin: 45 };
      const index = (await sqlite.deps.analytics.personPassages(p, options.from, options.to)).filter((x) =>
        isTraceable(x, true),
      );
      crossing += scanRangesOf(index, 45 * 60_000).filter((r) => r.from < boundary && r.to >= boundary).length;
      const traced = { ...options, depth: 1 as const, includeDenied: true };
      expect(await traceContacts(postgres.deps, p, traced)).toEqual(await traceContacts(sqlite.deps, p, traced));
    }
    expect(crossing).toBeGreaterThan(0);
  });

  it('reports the same exposure for every gate', async () => {
    for (const g of gates) {
      for (const [from, to] of [
        [T0, T0 + SPAN],
        [T0 + 5 * 3_600_000, T0 + 8 * 3_600_000],
      ] as const) {
        expect(await traceGate(postgres.deps, g, from, to)).toEqual(await traceGate(sqlite.deps, g, from, to));
      }
    }
  });

  it('computes the same statistics: summaries, hourly series, gate tables and the counters behind them', async () => {
    const DAY = 24 * 3_600_000;
    const windows = [
      [T0 - DAY, T0 + SPAN + DAY],
      [T0, T0 + SPAN],
      [T0 + 7 * 3_600_000 + 123_456, T0 + 31 * 3_600_000 - 5],
      [T0 + 8 * 3_600_000, T0 + 8 * 3_600_000 + DAY],
    ] as const;
    const now = () => T0 + SPAN;
    for (const compoundId of Object.keys(COMPOUNDS)) {
      for (const [from, to] of windows) {
        const answers = async ({ store, deps }: typeof sqlite) => {
          const stats = { analytics: deps.analytics, registry: store, now };
          return [
            await statsSummary(stats, compoundId, from, to),
            await statsHourly(stats, compoundId, from, to),
            await statsGates(stats, compoundId, from, to),
            await deps.analytics.hourlyRows(compoundId, from, to),
            await deps.analytics.gateRows(compoundId, from, to),
          ];
        };
        const expected = await answers(sqlite);
        expect((expected[0] as { passages: { total: number } }).passages.total).toBeGreaterThan(0);
        expect(await answers(postgres)).toEqual(expected);
      }
    }
  });
});
