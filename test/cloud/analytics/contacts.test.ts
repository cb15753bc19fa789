import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergeSecondDegree, rankContacts, scanRangesOf } from '../../../cloud/analytics/contacts.ts';
import { isCrossing, isTraceable, type Passage } from '../../../cloud/analytics/passage.ts';

const MIN = 60_000;
let seq = 0;
function passage(personId: string | null, gateId: string, ts: number, over: Partial<Passage> = {}): Passage {
  seq += 1;
  return {
    gateId,
    seq,
    ts,
    personId,
    direction: 'in',
    method: 'qr',
    result: 'granted',
    reason: 'ok',
    passed: true,
    health: 'green',
    ...over,
  };
}

describe('isCrossing / isTraceable', () => {
  it('granted and passed, or granted where no confirmation exists (free, manual, a gate without turnstile)', () => {
    expect(isCrossing({ result: 'granted', passed: true, method: 'qr' })).toBe(true);
    expect(isCrossing({ result: 'granted', passed: false, method: 'qr' })).toBe(false);
    // A gate without a turnstile journals its grants with passed: null; the person walked through.
    expect(isCrossing({ result: 'granted', passed: null, method: 'qr' })).toBe(true);
    expect(isCrossing({ result: 'granted', passed: null, method: 'idcard' })).toBe(true);
    expect(isCrossing({ result: 'granted', passed: null, method: 'free' })).toBe(true);
    expect(isCrossing({ result: 'granted', passed: null, method: 'manual' })).toBe(true);
    expect(isCrossing({ result: 'denied', passed: null, method: 'idcard' })).toBe(false);
    expect(isCrossing({ result: 'denied', passed: true, method: 'free' })).toBe(false);
  });

  it('tracing needs a person; includeDenied widens to every attempt', () => {
    expect(isTraceable(passage(null, 'g', 0), true)).toBe(false);
    expect(isTraceable(passage('a', 'g', 0, { result: 'denied', passed: null }), false)).toBe(false);
    expect(isTraceable(passage('a', 'g', 0, { result: 'denied', passed: null }), true)).toBe(true);
  });
});

describe('scanRangesOf', () => {
  it('one range per index passage, overlapping ones merged per gate, sorted by gate then time', () => {
    const ranges = scanRangesOf(
      [
        { gateId: 'g2', ts: 100 * MIN },
        { gateId: 'g1', ts: 10 * MIN },
        { gateId: 'g1', ts: 30 * MIN },
        { gateId: 'g1', ts: 41 * MIN },
        { gateId: 'g1', ts: 100 * MIN },
      ],
      15 * MIN,
    );
    expect(ranges).toEqual([
      { gateId: 'g1', from: -5 * MIN, to: 56 * MIN },
      { gateId: 'g1', from: 85 * MIN, to: 115 * MIN },
      { gateId: 'g2', from: 85 * MIN, to: 115 * MIN },
    ]);
  });

  it('touching windows merge (both edges are in)', () => {
    expect(
      scanRangesOf(
        [
          { gateId: 'g', ts: 0 },
          { gateId: 'g', ts: 2 * MIN },
        ],
        MIN,
      ),
    ).toEqual([{ gateId: 'g', from: -MIN, to: 3 * MIN }]);
  });
});

describe('rankContacts', () => {
  const w = 15 * MIN;
  const t0 = 1_000 * MIN;

  it('window edges: exactly ±w is in, one ms beyond is out', () => {
    const index = [passage('idx', 'g1', t0)];
    const neighbours = [
      passage('early', 'g1', t0 - w),
      passage('late', 'g1', t0 + w),
      passage('too-early', 'g1', t0 - w - 1),
      passage('too-late', 'g1', t0 + w + 1),
    ];
    const contacts = rankContacts(index, neighbours, { indexPersonId: 'idx', windowMs: w });
    expect(contacts.map((c) => c.personId).sort()).toEqual(['early', 'late']);
    expect(contacts.every((c) => c.closestGapMs === w)).toBe(true);
  });

  it('only the same gate counts; denied, timed-out and anonymous passages are excluded by default', () => {
    const index = [passage('idx', 'g1', t0)];
    const neighbours = [
      passage('other-gate', 'g2', t0),
      passage('denied', 'g1', t0, { result: 'denied', reason: 'health-red', passed: null }),
      passage('timed-out', 'g1', t0, { passed: false }),
      passage(null, 'g1', t0, { method: 'free', passed: null }),
      passage('free', 'g1', t0 + MIN, { method: 'free', passed: null }),
      passage('idx', 'g1', t0 + MIN),
    ];
    const contacts = rankContacts(index, neighbours, { indexPersonId: 'idx', windowMs: w });
    expect(contacts.map((c) => c.personId)).toEqual(['free']);
    const widened = rankContacts(index, neighbours, { indexPersonId: 'idx', windowMs: w, includeDenied: true });
    expect(widened.map((c) => c.personId).sort()).toEqual(['denied', 'free', 'timed-out']);
  });

  it("the index person's own denied attempts are no index passages by default", () => {
    const index = [passage('idx', 'g1', t0, { result: 'denied', reason: 'health-red', passed: null })];
    expect(rankContacts(index, [passage('a', 'g1', t0)], { indexPersonId: 'idx', windowMs: w })).toEqual([]);
  });

  it('ranks by shared passages desc, then closeness asc, then person id; pairs with the closest index passage', () => {
    const index = [passage('idx', 'g1', t0, { direction: 'out' }), passage('idx', 'g1', t0 + 20 * MIN)];
    const neighbours = [
      passage('two-far', 'g1', t0 + 10 * MIN),
      passage('two-far', 'g1', t0 + 25 * MIN),
      passage('one-close', 'g1', t0 + MIN),
      passage('b-one-mid', 'g1', t0 - 5 * MIN),
      passage('a-one-mid', 'g1', t0 + 5 * MIN),
    ];
    const contacts = rankContacts(index, neighbours, { indexPersonId: 'idx', windowMs: w });
    expect(contacts.map((c) => [c.rank, c.personId, c.sharedPassages.length, c.closestGapMs])).toEqual([
      [1, 'two-far', 2, 5 * MIN],
      [2, 'one-close', 1, MIN],
      [3, 'a-one-mid', 1, 5 * MIN],
      [4, 'b-one-mid', 1, 5 * MIN],
    ]);
    const twoFar = contacts[0]!.sharedPassages;
    // t0+10 is equally far from both index passages: the earlier one wins.
    expect(twoFar.map((s) => [s.ts, s.indexTs, s.indexDirection, s.gapMs])).toEqual([
      [t0 + 10 * MIN, t0, 'out', 10 * MIN],
      [t0 + 25 * MIN, t0 + 20 * MIN, 'in', 5 * MIN],
    ]);
  });

  it('a passage seen twice (overlapping scans) counts once', () => {
    const index = [passage('idx', 'g1', t0)];
    const n = passage('a', 'g1', t0 + MIN);
    const contacts = rankContacts(index, [n, { ...n }], { indexPersonId: 'idx', windowMs: w });
    expect(contacts[0]!.sharedPassages).toHaveLength(1);
  });

  it('household members are flagged, listed even without a shared passage, and ranked after those with one', () => {
    const index = [passage('idx', 'g1', t0)];
    const contacts = rankContacts(index, [passage('spouse', 'g1', t0 + 2 * MIN), passage('neighbour', 'g1', t0)], {
      indexPersonId: 'idx',
      windowMs: w,
      household: ['idx', 'spouse', 'child'],
    });
    expect(contacts.map((c) => [c.personId, c.household, c.sharedPassages.length, c.closestGapMs])).toEqual([
      ['neighbour', false, 1, 0],
      ['spouse', true, 1, 2 * MIN],
      ['child', true, 0, null],
    ]);
  });

  it('property: agrees with the brute-force definition', () => {
    const arb = fc.record({
      index: fc.array(fc.record({ gate: fc.constantFrom('g1', 'g2'), t: fc.integer({ min: 0, max: 200 }) }), {
        maxLength: 6,
      }),
      others: fc.array(
        fc.record({
          person: fc.constantFrom('a', 'b', 'c'),
          gate: fc.constantFrom('g1', 'g2'),
          t: fc.integer({ min: 0, max: 200 }),
        }),
        { maxLength: 20 },
      ),
      w: fc.integer({ min: 0, max: 30 }),
    });
    fc.assert(
      fc.property(arb, ({ index, others, w: win }) => {
        const idx = index.map((i) => passage('idx', i.gate, i.t));
        const nb = others.map((o) => passage(o.person, o.gate, o.t));
        const got = rankContacts(idx, nb, { indexPersonId: 'idx', windowMs: win });
        const expected = new Map<string, { count: number; gap: number }>();
        for (const n of nb) {
          const gaps = idx.filter((i) => i.gateId === n.gateId).map((i) => Math.abs(i.ts - n.ts));
          const gap = Math.min(...gaps);
          if (gaps.length === 0 || gap > win) continue;
          const e = expected.get(n.personId!) ?? { count: 0, gap: Number.POSITIVE_INFINITY };
          expected.set(n.personId!, { count: e.count + 1, gap: Math.min(e.gap, gap) });
        }
        expect(new Map(got.map((c) => [c.personId, { count: c.sharedPassages.length, gap: c.closestGapMs }]))).toEqual(
          expected,
        );
        for (let i = 1; i < got.length; i++) {
          const a = got[i - 1]!;
          const b = got[i]!;
          expect(
            a.sharedPassages.length > b.sharedPassages.length ||
              (a.sharedPassages.length === b.sharedPassages.length && a.closestGapMs! <= b.closestGapMs!),
          ).toBe(true);
        }
        expect(got.map((c) => c.rank)).toEqual(got.map((_, i) => i + 1));
      }),
    );
  });
});

describe('mergeSecondDegree', () => {
  const contact = (personId: string, rank: number, shared: number, gap: number | null) => ({
    personId,
    rank,
    household: false,
    closestGapMs: gap,
    sharedPassages: Array.from({ length: shared }, (_, i) => ({
      gateId: 'g',
      ts: i,
      seq: i,
      direction: 'in' as const,
      method: 'qr' as const,
      indexTs: i,
      indexDirection: 'in' as const,
      gapMs: gap ?? 0,
    })),
  });

  it('excludes the index person and first-degree contacts, sums over vias, keeps the smallest gap', () => {
    const first = [contact('a', 1, 2, 1), contact('b', 2, 1, 2)];
    const of = new Map([
      ['a', [contact('idx', 1, 2, 1), contact('x', 2, 1, 300), contact('b', 3, 1, 1)]],
      ['b', [contact('x', 1, 2, 100), contact('y', 2, 1, 50), contact('z', 3, 0, null)]],
    ]);
    const second = mergeSecondDegree('idx', first, of);
    expect(second.map((c) => [c.rank, c.personId, c.via, c.sharedPassageCount, c.closestGapMs])).toEqual([
      [1, 'x', ['a', 'b'], 3, 100],
      [2, 'y', ['b'], 1, 50],
    ]);
  });
});
