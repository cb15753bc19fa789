/**
 * A synthetic, seeded population: households of 1–5 (mostly 2–3), a few staff, ID numbers for
 * everyone, Wiegand cards for some elderly residents, and a health mix that is mostly green.
 * The same seed gives the same people in every benchmark.
 */
import type { HealthColour } from '../../shared/enums.ts';
import { generateIdNumber, maskIdNumber } from '../../shared/id-number.ts';
import { maskName } from '../../shared/masking.ts';
import { pseudonymizeIdNumber } from '../../shared/pseudonym.ts';
import type { Change, PersonRecord } from '../../shared/schemas/mqtt.ts';
import type { Resident } from '../../cloud/store/store.ts';
import { type Random, randomInt, seededRandom } from './prng.ts';

export interface SyntheticPerson {
  record: PersonRecord;
  idNumber: string;
  name: string;
  health: HealthColour;
}

export interface Population {
  persons: SyntheticPerson[];
  /** Household id → member indexes into `persons`. */
  households: Map<string, number[]>;
}

const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '黄', '赵', '吴', '周', '徐', '孙', '欧阳'];
const GIVEN = ['伟', '芳', '娜', '秀英', '敏', '静', '丽', '强', '磊', '军', '洋', '勇', '艳', '杰', '娟', '涛', '明'];

function householdSize(random: Random): number {
  const x = random();
  if (x < 0.15) return 1;
  if (x < 0.45) return 2;
  if (x < 0.75) return 3;
  if (x < 0.92) return 4;
  return 5;
}

function healthOf(random: Random): HealthColour {
  const x = random();
  if (x < 0.9) return 'green';
  if (x < 0.96) return 'yellow';
  if (x < 0.98) return 'red';
  return 'unknown';
}

/** `count` persons spread over `compounds` compound ids (`c-0` …), households kept inside one compound. */
export function generatePopulation(options: {
  count: number;
  pepper: Buffer;
  compounds?: readonly string[];
  seed?: number;
}): Population {
  const random = seededRandom(options.seed ?? 20_200_123);
  const compounds = options.compounds ?? ['c-0'];
  const persons: SyntheticPerson[] = [];
  const households = new Map<string, number[]>();
  let household = 0;
  let card = 0;
  // Random numbers collide now and then (a birthday problem over ~10⁸ numbers); the registry's index is unique.
  const seen = new Set<string>();
  while (persons.length < options.count) {
    const compoundId = compounds[household % compounds.length]!;
    const householdId = `h-${household}`;
    const size = Math.min(householdSize(random), options.count - persons.length);
    const members: number[] = [];
    const surname = SURNAMES[randomInt(random, SURNAMES.length)]!;
    for (let m = 0; m < size; m++) {
      const index = persons.length;
      const staff = random() < 0.01;
      let idNumber = generateIdNumber(random);
      while (seen.has(idNumber)) idNumber = generateIdNumber(random);
      seen.add(idNumber);
      const name = surname + GIVEN[randomInt(random, GIVEN.length)]!;
      const elderly = Number(idNumber.slice(6, 10)) < 1960;
      const cards: string[] = [];
      if (elderly && random() < 0.5) {
        card += 1;
        cards.push(`${100 + (card % 100)}:${card}`);
      }
      persons.push({
        idNumber,
        name,
        health: healthOf(random),
        record: {
          personId: `p-${index}`,
          compoundId,
          householdId: staff ? null : householdId,
          kind: staff ? 'staff' : 'resident',
          idHash: pseudonymizeIdNumber(idNumber, options.pepper),
          maskedName: maskName(name),
          cards,
          validFrom: null,
          validTo: null,
          active: true,
          elderly,
        },
      });
      members.push(index);
    }
    households.set(householdId, members);
    household += 1;
  }
  return { persons, households };
}

/** The replica changes that load `persons` (upserts and health colours), for `applyDelta`/snapshots. */
export function replicaChanges(persons: readonly SyntheticPerson[], ts: number): Change[] {
  const changes: Change[] = [];
  for (const p of persons) {
    changes.push({ op: 'person.upsert', person: p.record });
    if (p.health !== 'unknown') changes.push({ op: 'health', personId: p.record.personId, colour: p.health, ts });
  }
  return changes;
}

/** The cloud's view of a synthetic person (no sealed ID number: the benchmarks never reveal one). */
export function residentOf(p: SyntheticPerson, now: number): Resident {
  const r = p.record;
  return {
    personId: r.personId,
    compoundId: r.compoundId,
    householdId: r.householdId,
    kind: r.kind,
    name: p.name,
    maskedName: r.maskedName,
    idSealed: null,
    idHash: r.idHash,
    maskedIdNumber: maskIdNumber(p.idNumber),
    phone: null,
    cards: r.cards,
    elderly: r.elderly === true,
    validFrom: null,
    validTo: null,
    active: true,
    health: p.health,
    healthTs: p.health === 'unknown' ? null : now,
    createdAt: now,
    updatedAt: now,
  };
}
