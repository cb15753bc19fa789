/**
 * The demo's compound (cli/demo/population.ts) at the largest size `anxin demo --residents` allows:
 * unique, valid ID numbers (a duplicate made the demo refuse to start from about 20,000
 * residents), and the mix the quick start promises.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { generatePopulation, type Population } from '../../../cli/demo/population.ts';
import { validateIdNumber } from '../../../shared/id-number.ts';

const MAX_RESIDENTS = 200_000;
const DEMO_SEED = 20260401;
const TODAY = new Date('2026-04-01T00:00:00Z');

describe('generatePopulation', () => {
  let big: Population;

  // How long this takes is the demo's start-up figure, not a test's business: a timed assertion
  // fails on a loaded machine (it did, at 7 s against 5 s).
  beforeAll(() => {
    big = generatePopulation(MAX_RESIDENTS, DEMO_SEED);
  });

  it(`gives ${MAX_RESIDENTS} persons unique ID numbers and person ids`, () => {
    expect(big.persons).toHaveLength(MAX_RESIDENTS);
    expect(new Set(big.persons.map((p) => p.idNumber)).size).toBe(MAX_RESIDENTS);
    expect(new Set(big.persons.map((p) => p.personId)).size).toBe(MAX_RESIDENTS);
  });

  it('gives unique ID numbers at every size the demo allows, for other seeds too', () => {
    for (const [count, seed] of [
      [10, DEMO_SEED],
      [20_000, DEMO_SEED],
      [50_000, DEMO_SEED],
      [50_000, 1],
      [50_000, 99],
    ] as const) {
      const { persons } = generatePopulation(count, seed);
      expect(persons).toHaveLength(count);
      expect(new Set(persons.map((p) => p.idNumber)).size).toBe(count);
    }
  });

  it('is reproducible from its seed (a second demo start regenerates the same compound)', () => {
    // 50,000 residents: past the first ID number drawn twice (about the 13,000th person).
    const first = JSON.stringify(generatePopulation(50_000, DEMO_SEED));
    expect(JSON.stringify(generatePopulation(50_000, DEMO_SEED)) === first).toBe(true);
    expect(JSON.stringify(generatePopulation(50_000, DEMO_SEED + 1)) === first).toBe(false);
  });

  it('issues valid GB 11643 ID numbers that carry the birth year', () => {
    const wrong: string[] = [];
    for (const person of big.persons) {
      const check = validateIdNumber(person.idNumber, TODAY);
      if (!check.ok) wrong.push(`${person.personId}: ${person.idNumber} is invalid (${check.reason})`);
      else if (check.birthDate.slice(0, 4) !== String(person.birthYear)) {
        wrong.push(`${person.personId}: ${person.idNumber} is not born in ${person.birthYear}`);
      }
    }
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it('has elderly residents, some of them without a phone (they swipe their ID card); everyone else has one', () => {
    const elderly = big.persons.filter((p) => p.elderly);
    const withoutPhone = big.persons.filter((p) => !p.hasPhone);
    expect(elderly.length / big.persons.length).toBeGreaterThan(0.03);
    expect(elderly.length / big.persons.length).toBeLessThan(0.12);
    expect(withoutPhone.length).toBeGreaterThan(elderly.length * 0.4);
    expect(withoutPhone.length).toBeLessThan(elderly.length * 0.8);
    expect(withoutPhone.every((p) => p.elderly)).toBe(true);
    expect(Math.min(...elderly.map((p) => 2026 - p.birthYear))).toBeGreaterThanOrEqual(65);
  });

  it('has health colours mostly green with some yellow and red', () => {
    const share = (colour: string) => big.persons.filter((p) => p.health === colour).length / big.persons.length;
    expect(share('green')).toBeGreaterThan(0.85);
    expect(share('yellow')).toBeGreaterThan(0.03);
    expect(share('yellow')).toBeLessThan(0.1);
    expect(share('red')).toBeGreaterThan(0.01);
    expect(share('red')).toBeLessThan(0.05);
  });

  it('puts residents in households of 1–5 and adds about 2 % staff without a household', () => {
    const staff = big.persons.filter((p) => p.kind === 'staff');
    expect(staff.length).toBe(Math.round(MAX_RESIDENTS * 0.02));
    expect(staff.every((p) => p.householdId === null)).toBe(true);
    const sizes = new Map<string, number>();
    for (const p of big.persons) if (p.householdId) sizes.set(p.householdId, (sizes.get(p.householdId) ?? 0) + 1);
    expect(sizes.size).toBe(big.households.length);
    expect(Math.max(...sizes.values())).toBeLessThanOrEqual(5);
  });
});
