/**
 * Tracing and statistics over a known scenario (scenario.ts; docs/tracing.md, "Tested scenario") on
 * every store backend: the reads and the rollup writer opened per engine (open-analytics.ts) as the
 * cloud opens them, the passages stored through the writer as ingest stores them. SQLite-only
 * matters (its migrations, its query plans) are in analytics-sqlite.test.ts.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnalyticsStore } from '../../../cloud/analytics/analytics-store.ts';
import { openAnalyticsStore, openRollupWriter, type RollupHook } from '../../../cloud/analytics/open-analytics.ts';
import { statsGates, statsHourly, statsSummary } from '../../../cloud/analytics/statistics.ts';
import { traceContacts, traceGate, tracePerson } from '../../../cloud/analytics/tracing.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { storeBackends, throwingHook } from '../store/backends.ts';
import { MIN, NOW, newYorkEvents, SH_DAY_FROM, SH_DAY_TO, seedScenario, shanghaiEvents, T } from './scenario.ts';

const H = 60 * MIN;

describe.each(storeBackends())('tracing and statistics on the $name store', (backend) => {
  let store: CloudStore;
  let analytics: AnalyticsStore;
  let writer: RollupHook;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await backend.open();
    writer = openRollupWriter(store.engine);
    analytics = openAnalyticsStore(store.engine);
    await seedScenario(store, writer);
  });
  afterEach(async () => {
    await store.close();
  });

  const traceDeps = () => ({ analytics, registry: store });
  const statsDeps = () => ({ analytics, registry: store, now: () => NOW });
  const contactsOpts = { from: SH_DAY_FROM, to: SH_DAY_TO, windowMin: 15, depth: 1 as const, includeDenied: false };

  describe('tracePerson', () => {
    it('lists every passage of the person with gate, result and the health colour of the time', async () => {
      const timeline = await tracePerson(traceDeps(), 'idx', SH_DAY_FROM, SH_DAY_TO);
      expect(timeline.person).toEqual({ personId: 'idx', compoundId: 'sunny', householdId: 'h1', maskedName: '张*明' });
      expect(timeline.timeZone).toBe('Asia/Shanghai');
      expect(
        timeline.passages.map((p) => [
          p.ts,
          p.gateName,
          p.direction,
          p.method,
          p.result,
          p.reason,
          p.health,
          p.crossing,
        ]),
      ).toEqual([
        [T, '东门', 'in', 'qr', 'granted', 'ok', 'green', true],
        [T + 60 * MIN, '西门', 'out', 'qr', 'granted', 'ok', 'green', true],
        [T + 120 * MIN, '东门', 'in', 'qr', 'denied', 'health-red', 'red', false],
      ]);
    });

    it('an unknown person without passages is not found', async () => {
      await expect(tracePerson(traceDeps(), 'nobody', SH_DAY_FROM, SH_DAY_TO)).rejects.toMatchObject({
        code: 'not-found',
      });
    });
  });

  describe('traceContacts', () => {
    it('ranks first-degree contacts, honours the window edges, excludes denied/not-passed, flags the household', async () => {
      const report = await traceContacts(traceDeps(), 'idx', contactsOpts);
      expect(report.indexPassages).toBe(2);
      expect(
        report.contacts.map((c) => [
          c.rank,
          c.personId,
          c.household,
          c.sharedPassages.length,
          c.closestGapMs,
          c.maskedName,
        ]),
      ).toEqual([
        [1, 'a', false, 2, 1 * MIN, '王*'],
        [2, 'b', false, 1, 2 * MIN, '欧阳**'],
        [3, 'spouse', true, 1, 3 * MIN, '李*红'],
        [4, 'f', false, 1, 5 * MIN, 'J*********'],
        [5, 'e', false, 1, 10 * MIN, '孙*奶'],
        [6, 'child', true, 0, null, '张*明'],
      ]);
      // a's east passage is exactly 15 min after idx: in. b's east passage 15 min + 1 ms before: out.
      expect(report.contacts[0]!.sharedPassages.map((s) => [s.gateId, s.gapMs])).toEqual([
        ['sunny-east', 15 * MIN],
        ['sunny-west', 1 * MIN],
      ]);
      expect(report.contacts[1]!.sharedPassages.map((s) => s.gateId)).toEqual(['sunny-west']);
      expect(report.secondDegree).toBeUndefined();
    });

    it('includeDenied widens both the index passages and the contacts', async () => {
      const report = await traceContacts(traceDeps(), 'idx', { ...contactsOpts, includeDenied: true });
      expect(report.indexPassages).toBe(3);
      expect(report.contacts.map((c) => [c.personId, c.sharedPassages.length, c.closestGapMs])).toEqual([
        ['a', 2, 1 * MIN],
        ['c', 2, 3 * MIN],
        ['d', 1, 1 * MIN],
        ['b', 1, 2 * MIN],
        ['spouse', 1, 3 * MIN],
        ['f', 1, 5 * MIN],
        ['e', 1, 10 * MIN],
        ['child', 0, null],
      ]);
    });

    it('depth 2 expands the first-degree contacts up to the cap', async () => {
      const report = await traceContacts(traceDeps(), 'idx', { ...contactsOpts, depth: 2 });
      expect(report.secondDegree?.expanded).toBe(6);
      expect(report.secondDegree?.truncated).toBe(false);
      expect(
        report.secondDegree?.contacts.map((c) => [c.rank, c.personId, c.via, c.sharedPassageCount, c.closestGapMs]),
      ).toEqual([[1, 'g', ['e'], 1, 10 * MIN]]);
      const capped = await traceContacts(traceDeps(), 'idx', { ...contactsOpts, depth: 2, expansionCap: 4 });
      expect(capped.secondDegree).toMatchObject({ expanded: 4, truncated: true, contacts: [] });
    });
  });

  describe('traceGate', () => {
    it('lists everyone who crossed, with anonymous crossings counted apart', async () => {
      const exposure = await traceGate(traceDeps(), 'sunny-east', T - 30 * MIN, T + 30 * MIN);
      expect(exposure.gate).toEqual({ gateId: 'sunny-east', name: '东门', compoundId: 'sunny' });
      expect(exposure.crossings).toBe(6);
      expect(exposure.anonymousCrossings).toBe(1);
      expect(exposure.persons.map((p) => [p.personId, p.crossings, p.firstTs])).toEqual([
        ['b', 1, T - 15 * MIN - 1],
        ['spouse', 1, T - 3 * MIN],
        ['idx', 1, T],
        ['f', 1, T + 5 * MIN],
        ['a', 1, T + 15 * MIN],
      ]);
    });
  });

  describe('statistics from the rollups', () => {
    it('summary of the Shanghai day', async () => {
      const s = await statsSummary(statsDeps(), 'sunny', SH_DAY_FROM, SH_DAY_TO);
      expect(s).toMatchObject({
        compoundId: 'sunny',
        timeZone: 'Asia/Shanghai',
        from: SH_DAY_FROM,
        to: SH_DAY_TO,
        fromLabel: '2026-03-02T00:00+08:00',
        toLabel: '2026-03-03T00:00+08:00',
        passages: { total: 15, in: 11, out: 4 },
        crossings: { in: 8, out: 4 },
        uniquePersonsPerDay: [{ day: '2026-03-02', persons: 8 }],
        peakHour: { start: T, label: '2026-03-02T08:00+08:00', crossings: 5 },
        occupancy: { netChange: 4, estimate: 4 },
        elderlyIdCard: { elderlyIdcardCrossings: 1, idcardCrossings: 1, allCrossings: 12, shareOfIdcard: 1 },
      });
      expect(s.elderlyIdCard.shareOfAll).toBeCloseTo(1 / 12);
      expect(s.granted).toEqual({
        total: 13,
        byReason: { 'free-passage': 2, ok: 11 },
        byMethod: { qr: 10, idcard: 1, card: 0, manual: 0, free: 2 },
      });
      expect(s.denied).toEqual({
        total: 2,
        byReason: { 'health-red': 1, 'health-yellow': 1 },
        byMethod: { qr: 2, idcard: 0, card: 0, manual: 0, free: 0 },
      });
    });

    it('the occupancy estimate carries what came before the window (same day and earlier days)', async () => {
      const afternoon = await statsSummary(statsDeps(), 'sunny', T + 4 * H, SH_DAY_TO);
      expect(afternoon.occupancy).toEqual({ netChange: 0, estimate: 4 });
      const nextDay = await statsSummary(statsDeps(), 'sunny', SH_DAY_TO, SH_DAY_TO + 24 * H);
      expect(nextDay.occupancy).toEqual({ netChange: 0, estimate: 4 });
      expect(nextDay.uniquePersonsPerDay).toEqual([]);
    });

    it('a window is widened to whole local hours', async () => {
      const s = await statsSummary(statsDeps(), 'sunny', T + 10 * MIN, T + 70 * MIN);
      expect([s.fromLabel, s.toLabel]).toEqual(['2026-03-02T08:00+08:00', '2026-03-02T10:00+08:00']);
      expect(s.crossings).toEqual({ in: 5, out: 4 });
    });

    it('hourly series in Asia/Shanghai', async () => {
      const { hours } = await statsHourly(statsDeps(), 'sunny', SH_DAY_FROM, SH_DAY_TO);
      expect(hours).toHaveLength(24);
      const busy = hours.filter((h) => h.granted + h.denied > 0);
      expect(busy.map((h) => [h.label, h.crossingsIn, h.crossingsOut, h.granted, h.denied])).toEqual([
        ['2026-03-02T07:00+08:00', 2, 0, 2, 0],
        ['2026-03-02T08:00+08:00', 4, 1, 6, 1],
        ['2026-03-02T09:00+08:00', 1, 3, 4, 0],
        ['2026-03-02T10:00+08:00', 1, 0, 1, 1],
      ]);
    });

    it('hourly series in America/New_York across the fall-back: two 01:00 buckets', async () => {
      const from = Date.parse('2026-11-01T00:00:00-04:00');
      const to = Date.parse('2026-11-01T03:00:00-05:00');
      const { hours, timeZone } = await statsHourly(statsDeps(), 'liberty', from, to);
      expect(timeZone).toBe('America/New_York');
      expect(hours.map((h) => [h.label, h.start, h.crossingsIn, h.crossingsOut])).toEqual([
        ['2026-11-01T00:00-04:00', Date.parse('2026-11-01T04:00:00Z'), 0, 0],
        ['2026-11-01T01:00-04:00', Date.parse('2026-11-01T05:00:00Z'), 1, 0],
        ['2026-11-01T01:00-05:00', Date.parse('2026-11-01T06:00:00Z'), 1, 1],
        ['2026-11-01T02:00-05:00', Date.parse('2026-11-01T07:00:00Z'), 0, 0],
      ]);
      const s = await statsSummary(statsDeps(), 'liberty', from, to);
      expect(s.peakHour).toEqual({
        start: Date.parse('2026-11-01T06:00:00Z'),
        label: '2026-11-01T01:00-05:00',
        crossings: 2,
      });
      expect(s.uniquePersonsPerDay).toEqual([{ day: '2026-11-01', persons: 2 }]);
    });

    it('per-gate table with uptime from the status history', async () => {
      const { gates } = await statsGates(statsDeps(), 'sunny', SH_DAY_FROM, SH_DAY_TO);
      expect(gates.map((g) => [g.gateId, g.name, g.crossings, g.granted.total, g.denied.total, g.online])).toEqual([
        ['sunny-east', '东门', { in: 7, out: 0 }, 8, 2, true],
        ['sunny-west', '西门', { in: 1, out: 4 }, 5, 0, null],
      ]);
      expect(gates[0]!.uptime).toEqual({ onlineMs: 11 * H, offlineMs: 1 * H, unknownMs: 12 * H, ratio: 11 / 12 });
      expect(gates[1]!.uptime).toEqual({ onlineMs: 0, offlineMs: 0, unknownMs: 24 * H, ratio: null });
    });

    it('an unknown compound is not found', async () => {
      await expect(statsSummary(statsDeps(), 'nowhere', SH_DAY_FROM, SH_DAY_TO)).rejects.toMatchObject({
        code: 'not-found',
      });
    });

    it('a replayed batch adds nothing: the hook only sees newly inserted events', async () => {
      const before = await statsSummary(statsDeps(), 'sunny', SH_DAY_FROM, SH_DAY_TO);
      await store.insertEvents(shanghaiEvents(), writer);
      await store.insertEvents(newYorkEvents(), writer);
      expect(await statsSummary(statsDeps(), 'sunny', SH_DAY_FROM, SH_DAY_TO)).toEqual(before);
    });

    it('rollups rebuilt from the stored events equal the ones kept at ingest', async () => {
      const sunny = await statsSummary(statsDeps(), 'sunny', SH_DAY_FROM, SH_DAY_TO);
      const liberty = await statsGates(statsDeps(), 'liberty', Date.parse('2026-11-01T00:00:00-04:00'), NOW + 300 * H);
      expect(await writer.rebuild()).toBe(18);
      expect(await statsSummary(statsDeps(), 'sunny', SH_DAY_FROM, SH_DAY_TO)).toEqual(sunny);
      expect(await statsGates(statsDeps(), 'liberty', Date.parse('2026-11-01T00:00:00-04:00'), NOW + 300 * H)).toEqual(
        liberty,
      );
    });

    it('a database that holds events but no filled rollups yet is filled when analytics start', async () => {
      const expected = await statsSummary(statsDeps(), 'sunny', SH_DAY_FROM, SH_DAY_TO);
      // A fresh store (on PostgreSQL: the same database emptied, its rollups marked unfilled).
      const old = await backend.open();
      try {
        await seedScenario(old);
        const deps = { analytics: openAnalyticsStore(old.engine), registry: old, now: () => NOW };
        expect(await statsSummary(deps, 'sunny', SH_DAY_FROM, SH_DAY_TO)).toEqual(expected);
      } finally {
        await old.close();
      }
    });

    it('a failing hook rolls the events back with it', async () => {
      const late = { ...shanghaiEvents()[0]!, seq: 1000 };
      await expect(store.insertEvents([late], throwingHook(backend.name, 'boom'))).rejects.toThrow('boom');
      expect((await store.queryEvents({ gateId: 'sunny-east', limit: 100 })).events.some((e) => e.seq === 1000)).toBe(
        false,
      );
    });
  });
});
