import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCrossing } from '../../../cloud/analytics/passage.ts';
import { type RollupEvent, rollupDelta } from '../../../cloud/analytics/rollup.ts';
import { DIRECTIONS, METHODS, REASONS, RESULTS } from '../../../shared/enums.ts';
import { gateTable, type HourlyRow, hourlySeries, summarize } from '../../../cloud/analytics/summary.ts';
import { localHourOf, localHoursBetween } from '../../../cloud/analytics/time-zone.ts';
import { uptimeOf } from '../../../cloud/analytics/uptime.ts';

const at = (iso: string) => Date.parse(iso);
const H = 3_600_000;

function event(ts: string, over: Partial<RollupEvent> = {}): RollupEvent {
  return {
    gateId: 'g1',
    ts: at(ts),
    direction: 'in',
    method: 'qr',
    result: 'granted',
    reason: 'ok',
    passed: true,
    personId: 'p1',
    ...over,
  };
}

const context = {
  compoundOf: (gateId: string) => (gateId === 'ny-gate' ? 'ny' : 'sh'),
  timeZoneOf: (compoundId: string) => (compoundId === 'ny' ? 'America/New_York' : 'Asia/Shanghai'),
  isElderly: (personId: string) => personId === 'grandma',
};

describe('rollupDelta', () => {
  it('folds events into one counter per key, in the compound time zone', () => {
    const delta = rollupDelta(
      [
        event('2026-03-01T08:05:00+08:00'),
        event('2026-03-01T08:55:00+08:00', { personId: 'p2' }),
        event('2026-03-01T08:56:00+08:00', { result: 'denied', reason: 'health-red', passed: null }),
        event('2026-03-01T09:00:00+08:00', { direction: 'out', method: 'idcard', personId: 'grandma' }),
        event('2026-03-01T09:01:00+08:00', { passed: false, personId: 'p3' }),
      ],
      context,
    );
    expect(
      delta.hourly.map((r) => [r.label, r.direction, r.method, r.result, r.reason, r.crossed, r.elderly, r.count]),
    ).toEqual([
      ['2026-03-01T08:00+08:00', 'in', 'qr', 'granted', 'ok', true, false, 2],
      ['2026-03-01T08:00+08:00', 'in', 'qr', 'denied', 'health-red', false, false, 1],
      ['2026-03-01T09:00+08:00', 'out', 'idcard', 'granted', 'ok', true, true, 1],
      ['2026-03-01T09:00+08:00', 'in', 'qr', 'granted', 'ok', false, false, 1],
    ]);
    expect(delta.hourly[0]!.bucketStart).toBe(at('2026-03-01T00:00:00Z'));
    expect(delta.flows).toEqual([{ compoundId: 'sh', day: '2026-03-01', crossedIn: 2, crossedOut: 1 }]);
    // Only crossings make a person count for the day.
    expect(delta.persons.map((p) => [p.compoundId, p.day, [...p.personIds]])).toEqual([
      ['sh', '2026-03-01', ['p1', 'p2', 'grandma']],
    ]);
  });

  it('a value outside the enums (an old row read back by a rebuild) still gets a counter of its own', () => {
    const old = { reason: 'retired-reason' as RollupEvent['reason'] };
    const delta = rollupDelta(
      [
        event('2026-03-01T08:05:00+08:00', old),
        event('2026-03-01T08:06:00+08:00'),
        event('2026-03-01T08:07:00+08:00', old),
      ],
      context,
    );
    expect(delta.hourly.map((r) => [r.reason, r.count])).toEqual([
      ['retired-reason', 2],
      ['ok', 1],
    ]);
  });

  it('two 15-minute slots of one hour, and two gates, each fold into one counter per gate and hour', () => {
    const delta = rollupDelta(
      [
        event('2026-03-01T08:05:00+08:00'),
        event('2026-03-01T08:20:00+08:00', { gateId: 'g2' }),
        event('2026-03-01T08:50:00+08:00'),
        event('2026-03-01T08:59:00+08:00', { gateId: 'g2' }),
        event('2026-03-01T09:01:00+08:00'),
      ],
      context,
    );
    expect(delta.hourly.map((r) => [r.gateId, r.label, r.count])).toEqual([
      ['g1', '2026-03-01T08:00+08:00', 2],
      ['g2', '2026-03-01T08:00+08:00', 2],
      ['g1', '2026-03-01T09:00+08:00', 1],
    ]);
    expect(delta.flows).toEqual([{ compoundId: 'sh', day: '2026-03-01', crossedIn: 5, crossedOut: 0 }]);
  });

  it('compound-wide counters sum the gates', () => {
    const delta = rollupDelta(
      [event('2026-03-01T08:05:00+08:00'), event('2026-03-01T08:06:00+08:00', { gateId: 'g2' })],
      context,
    );
    expect(delta.hourly.map((r) => [r.gateId, r.count])).toEqual([
      ['g1', 1],
      ['g2', 1],
    ]);
    expect(delta.compoundHourly).toHaveLength(1);
    expect(delta.compoundHourly[0]).toMatchObject({ compoundId: 'sh', label: '2026-03-01T08:00+08:00', count: 2 });
    expect(delta.compoundHourly[0]).not.toHaveProperty('gateId');
  });

  it('a New York event on the repeated 01:00 hour goes to the right one of the two buckets', () => {
    const delta = rollupDelta(
      [event('2026-11-01T05:30:00Z', { gateId: 'ny-gate' }), event('2026-11-01T06:30:00Z', { gateId: 'ny-gate' })],
      context,
    );
    expect(delta.hourly.map((r) => [r.label, r.bucketStart])).toEqual([
      ['2026-11-01T01:00-04:00', at('2026-11-01T05:00:00Z')],
      ['2026-11-01T01:00-05:00', at('2026-11-01T06:00:00Z')],
    ]);
  });
});

/** The fold by its definition, one string key per counter: what `rollupDelta`'s integer keys must agree with. */
function naiveDelta(events: readonly RollupEvent[]) {
  const hourly = new Map<string, number>();
  const flows = new Map<string, [number, number]>();
  const persons = new Map<string, Set<string>>();
  for (const e of events) {
    const compoundId = context.compoundOf(e.gateId);
    const hour = localHourOf(e.ts, context.timeZoneOf(compoundId));
    const crossed = isCrossing(e);
    const elderly = e.personId !== undefined && context.isElderly(e.personId);
    const key = [compoundId, hour.start, hour.label, hour.day, e.gateId, e.direction, e.method, e.result, e.reason];
    const k = JSON.stringify([...key, crossed, elderly]);
    hourly.set(k, (hourly.get(k) ?? 0) + 1);
    if (!crossed) continue;
    const day = JSON.stringify([compoundId, hour.day]);
    const flow = flows.get(day) ?? [0, 0];
    flow[e.direction === 'in' ? 0 : 1] += 1;
    flows.set(day, flow);
    if (e.personId !== undefined) persons.set(day, (persons.get(day) ?? new Set()).add(e.personId));
  }
  return { hourly, flows, persons };
}

describe('rollupDelta against the fold by its definition', () => {
  const anyEvent = fc.record({
    gateId: fc.constantFrom('g1', 'g2', 'ny-gate'),
    // Mostly the four hours around New York's fall-back (its repeated hour, many passages sharing a
    // counter), some over the two days around them.
    ts: fc.oneof(
      { arbitrary: fc.integer({ min: at('2026-11-01T04:00:00Z'), max: at('2026-11-01T08:00:00Z') }), weight: 4 },
      { arbitrary: fc.integer({ min: at('2026-10-31T08:00:00Z'), max: at('2026-11-02T08:00:00Z') }), weight: 1 },
    ),
    direction: fc.constantFrom(...DIRECTIONS),
    method: fc.constantFrom(...METHODS),
    result: fc.constantFrom(...RESULTS),
    reason: fc.constantFrom(...REASONS),
    passed: fc.constantFrom(true, false, null),
    personId: fc.option(fc.constantFrom('p1', 'p2', 'grandma'), { nil: undefined }),
  });

  it('gives the same counters, flows and day persons for any batch', () => {
    fc.assert(
      fc.property(fc.array(anyEvent, { maxLength: 300, size: 'max' }), (events) => {
        const delta = rollupDelta(events, context);
        const naive = naiveDelta(events);
        const hourly = new Map<string, number>();
        for (const r of delta.hourly) {
          const key = [
            r.compoundId,
            r.bucketStart,
            r.label,
            r.day,
            r.gateId,
            r.direction,
            r.method,
            r.result,
            r.reason,
          ];
          const k = JSON.stringify([...key, r.crossed, r.elderly]);
          expect(hourly.has(k)).toBe(false);
          hourly.set(k, r.count);
        }
        expect(hourly).toEqual(naive.hourly);
        expect(
          new Map(delta.flows.map((f) => [JSON.stringify([f.compoundId, f.day]), [f.crossedIn, f.crossedOut]])),
        ).toEqual(naive.flows);
        expect(new Map(delta.persons.map((p) => [JSON.stringify([p.compoundId, p.day]), p.personIds]))).toEqual(
          naive.persons,
        );
      }),
    );
  });
});

const row = (over: Partial<HourlyRow>): HourlyRow => ({
  bucketStart: at('2026-03-01T08:00:00+08:00'),
  label: '2026-03-01T08:00+08:00',
  day: '2026-03-01',
  direction: 'in',
  method: 'qr',
  result: 'granted',
  reason: 'ok',
  crossed: true,
  elderly: false,
  count: 1,
  ...over,
});

describe('summarize', () => {
  it('counts attempts, crossings, reasons, methods, peak hour, occupancy and the elderly ID-card share', () => {
    const nine = { bucketStart: at('2026-03-01T09:00:00+08:00'), label: '2026-03-01T09:00+08:00' };
    const s = summarize({
      rows: [
        row({ count: 5 }),
        row({ direction: 'out', count: 2 }),
        row({ method: 'idcard', elderly: true, count: 3, ...nine }),
        row({ method: 'idcard', count: 2, ...nine }),
        row({ method: 'idcard', direction: 'out', count: 3, ...nine }),
        row({ result: 'denied', reason: 'health-red', crossed: false, count: 4 }),
        row({ result: 'denied', reason: 'bad-signature', crossed: false, count: 1, ...nine }),
        row({ crossed: false, count: 2 }),
      ],
      uniquePersonsPerDay: [
        { day: '2026-03-02', persons: 4 },
        { day: '2026-03-01', persons: 9 },
      ],
      netBefore: 10,
    });
    expect(s.passages).toEqual({ total: 22, in: 17, out: 5 });
    expect(s.crossings).toEqual({ in: 10, out: 5 });
    expect(s.granted.total).toBe(17);
    expect(s.granted.byReason).toEqual({ ok: 17 });
    expect(s.granted.byMethod).toEqual({ qr: 9, idcard: 8, card: 0, manual: 0, free: 0 });
    expect(s.denied.total).toBe(5);
    expect(Object.keys(s.denied.byReason)).toEqual(['bad-signature', 'health-red']);
    expect(s.uniquePersonsPerDay.map((d) => d.day)).toEqual(['2026-03-01', '2026-03-02']);
    expect(s.peakHour).toEqual({ start: nine.bucketStart, label: nine.label, crossings: 8 });
    expect(s.occupancy).toEqual({ netChange: 5, estimate: 15 });
    expect(s.elderlyIdCard).toEqual({
      elderlyIdcardCrossings: 3,
      idcardCrossings: 8,
      allCrossings: 15,
      shareOfIdcard: 3 / 8,
      shareOfAll: 3 / 15,
    });
  });

  it('empty input: zeros, no peak hour, null shares', () => {
    const s = summarize({ rows: [], uniquePersonsPerDay: [], netBefore: 3 });
    expect(s.peakHour).toBeNull();
    expect(s.occupancy).toEqual({ netChange: 0, estimate: 3 });
    expect(s.elderlyIdCard.shareOfIdcard).toBeNull();
    expect(s.elderlyIdCard.shareOfAll).toBeNull();
    expect(s.granted.byMethod).toEqual({ qr: 0, idcard: 0, card: 0, manual: 0, free: 0 });
  });

  it('a tie for the peak goes to the earlier hour', () => {
    const s = summarize({
      rows: [row({ bucketStart: 2 * H, label: 'b' }), row({ bucketStart: H, label: 'a' })],
      uniquePersonsPerDay: [],
      netBefore: 0,
    });
    expect(s.peakHour?.label).toBe('a');
  });
});

describe('hourlySeries', () => {
  it('one point per local hour, zeros included', () => {
    const hours = localHoursBetween(at('2026-03-01T08:00:00+08:00'), at('2026-03-01T11:00:00+08:00'), 'Asia/Shanghai');
    const points = hourlySeries(hours, [
      row({ count: 2 }),
      row({ direction: 'out', count: 1 }),
      row({ result: 'denied', reason: 'health-red', crossed: false, count: 1 }),
      row({ bucketStart: at('2026-03-01T10:00:00+08:00'), label: '2026-03-01T10:00+08:00', count: 4 }),
    ]);
    expect(points.map((p) => [p.label, p.crossingsIn, p.crossingsOut, p.granted, p.denied])).toEqual([
      ['2026-03-01T08:00+08:00', 2, 1, 3, 1],
      ['2026-03-01T09:00+08:00', 0, 0, 0, 0],
      ['2026-03-01T10:00+08:00', 4, 0, 4, 0],
    ]);
  });
});

describe('gateTable', () => {
  it('lists every gate given, in order, with its own counters and uptime', () => {
    const table = gateTable(
      [
        { id: 'g2', name: 'North' },
        { id: 'g1', name: 'South' },
      ],
      [
        { gateId: 'g1', direction: 'in', method: 'qr', result: 'granted', reason: 'ok', crossed: true, count: 3 },
        {
          gateId: 'g1',
          direction: 'in',
          method: 'card',
          result: 'denied',
          reason: 'unknown-person',
          crossed: false,
          count: 1,
        },
        { gateId: 'gone', direction: 'in', method: 'qr', result: 'granted', reason: 'ok', crossed: true, count: 9 },
      ],
      () => uptimeOf([], 0, 10, 10),
    );
    expect(table.map((g) => [g.gateId, g.crossings.in, g.granted.total, g.denied.byMethod.card])).toEqual([
      ['g2', 0, 0, 0],
      ['g1', 3, 3, 1],
    ]);
  });
});

describe('uptimeOf', () => {
  it('splits the window by the state changes, with the state before the window carried in', () => {
    const history = [
      { ts: 0, online: true },
      { ts: 150, online: false },
      { ts: 180, online: true },
    ];
    expect(uptimeOf(history, 100, 200, 1_000)).toEqual({ onlineMs: 70, offlineMs: 30, unknownMs: 0, ratio: 0.7 });
  });

  it('before the first status and after now the state is unknown', () => {
    expect(uptimeOf([{ ts: 150, online: true }], 100, 200, 180)).toEqual({
      onlineMs: 30,
      offlineMs: 0,
      unknownMs: 70,
      ratio: 1,
    });
    expect(uptimeOf([], 0, 100, 1_000)).toEqual({ onlineMs: 0, offlineMs: 0, unknownMs: 100, ratio: null });
  });

  it('changes after the window do not count', () => {
    expect(
      uptimeOf(
        [
          { ts: 0, online: false },
          { ts: 500, online: true },
        ],
        100,
        200,
        1_000,
      ),
    ).toEqual({
      onlineMs: 0,
      offlineMs: 100,
      unknownMs: 0,
      ratio: 0,
    });
  });
});
