/**
 * A seeded synthetic compound for the demo: households of 1–5 people with realistic Chinese
 * names, valid GB 11643 ID numbers (unique: the registry refuses a second resident with the same
 * number), some elderly residents without phones (they pass by ID card), a few staff, and health
 * colours mostly green with some yellow/red. The same count and seed give the same compound.
 */
import type { HealthColour, PersonKind } from '../../shared/enums.ts';
import { generateIdNumber } from '../../shared/id-number.ts';

/** Mulberry32: small, fast, good enough for synthetic data, and reproducible from a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The most common surnames (roughly by frequency), a few compound surnames, and given-name characters.
const SURNAMES =
  '王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤'.split(
    '',
  );
const COMPOUND_SURNAMES = ['欧阳', '司马', '诸葛', '上官'];
const GIVEN =
  '伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰红梅鑫波斌宇浩凯健俊帆帅旭宁龙林欣怡佳琪子涵雨轩浩然梓萱一诺建国建华志强淑珍桂芝凤英玉珍秀珍德明'.split(
    '',
  );
const SHANGHAI_DISTRICTS = [
  '310101',
  '310104',
  '310105',
  '310106',
  '310107',
  '310109',
  '310110',
  '310112',
  '310113',
  '310115',
];

export interface DemoPerson {
  personId: string;
  householdId: string | null;
  kind: PersonKind;
  name: string;
  idNumber: string;
  birthYear: number;
  elderly: boolean;
  hasPhone: boolean;
  health: HealthColour;
}

export interface Population {
  persons: DemoPerson[];
  households: string[];
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function chineseName(rand: () => number, surname?: string): string {
  const family = surname ?? (rand() < 0.01 ? pick(rand, COMPOUND_SURNAMES) : pick(rand, SURNAMES));
  const given = rand() < 0.6 ? pick(rand, GIVEN) + pick(rand, GIVEN) : pick(rand, GIVEN);
  return family + given;
}

function healthColour(rand: () => number): HealthColour {
  const r = rand();
  if (r < 0.9) return 'green';
  if (r < 0.96) return 'yellow';
  if (r < 0.985) return 'red';
  return 'unknown';
}

function birthDate(rand: () => number, year: number): string {
  const month = 1 + Math.floor(rand() * 12);
  const day = 1 + Math.floor(rand() * 28);
  return `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/**
 * Generates exactly `count` persons (households, then 2 % staff), ids `p-000001…`, households
 * `h-0001…`. ID numbers are unique: a number already given out is drawn again (same birth year and
 * sex), so a collision changes nothing for the persons before it and the result stays reproducible.
 */
export function generatePopulation(count: number, seed = 20260401, thisYear = 2026): Population {
  const rand = seededRandom(seed);
  const persons: DemoPerson[] = [];
  const taken = new Set<string>();
  const makePerson = (
    householdId: string | null,
    kind: PersonKind,
    surname: string | undefined,
    birthYear: number,
    elderly: boolean,
  ) => {
    const person = createPerson(rand, taken, persons.length + 1, householdId, kind, surname, birthYear, elderly);
    taken.add(person.idNumber);
    return person;
  };
  const households: string[] = [];
  const staffCount = Math.max(1, Math.round(count * 0.02));
  while (persons.length < count - staffCount) {
    const householdId = `h-${String(households.length + 1).padStart(4, '0')}`;
    households.push(householdId);
    const surname = rand() < 0.98 ? pick(rand, SURNAMES) : pick(rand, COMPOUND_SURNAMES);
    const size = Math.min(1 + Math.floor(rand() * 5), count - staffCount - persons.length);
    for (let i = 0; i < size; i++) {
      // One household in five has a grandparent over 65; a few of them have no phone.
      const elderly = i === 0 && rand() < 0.2;
      const age = elderly
        ? 65 + Math.floor(rand() * 25)
        : i < 2
          ? 25 + Math.floor(rand() * 40)
          : 3 + Math.floor(rand() * 20);
      persons.push(makePerson(householdId, 'resident', surname, thisYear - age, elderly));
    }
  }
  for (let i = 0; i < staffCount; i++) {
    persons.push(makePerson(null, 'staff', undefined, thisYear - 20 - Math.floor(rand() * 40), false));
  }
  return { persons, households };
}

/**
 * Draws that may find a number already taken before giving up; never reached in practice: each birth
 * year and sex has 10 districts × 336 days × 500 sequence numbers, about 1.7 million numbers.
 */
const MAX_ID_DRAWS = 1000;

function uniqueIdNumber(rand: () => number, taken: ReadonlySet<string>, birthYear: number, sex: 'male' | 'female') {
  for (let draw = 0; draw < MAX_ID_DRAWS; draw++) {
    const idNumber = generateIdNumber(rand, {
      birthDate: birthDate(rand, birthYear),
      sex,
      region: pick(rand, SHANGHAI_DISTRICTS),
    });
    if (!taken.has(idNumber)) return idNumber;
  }
  throw new Error(`no unused ID number for a person born in ${birthYear} after ${MAX_ID_DRAWS} draws`);
}

function createPerson(
  rand: () => number,
  taken: ReadonlySet<string>,
  n: number,
  householdId: string | null,
  kind: PersonKind,
  surname: string | undefined,
  birthYear: number,
  elderly: boolean,
): DemoPerson {
  const sex = rand() < 0.5 ? 'male' : 'female';
  return {
    personId: `p-${String(n).padStart(6, '0')}`,
    householdId,
    kind,
    name: chineseName(rand, surname),
    idNumber: uniqueIdNumber(rand, taken, birthYear, sex),
    birthYear,
    elderly,
    hasPhone: !elderly || rand() < 0.4,
    health: healthColour(rand),
  };
}
