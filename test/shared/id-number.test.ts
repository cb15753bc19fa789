import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateIdNumber, idNumberCheckCharacter, maskIdNumber, validateIdNumber } from '../../shared/id-number.ts';

const TODAY = new Date(Date.UTC(2026, 0, 15, 4, 0, 0)); // 12:00 in Beijing

/** A deterministic rand() from fast-check's integers, so failures shrink and replay. */
const randArb = fc
  .array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 16, maxLength: 16 })
  .map((values) => {
    let i = 0;
    return () => values[i++ % values.length]!;
  });

function withCheck(first17: string): string {
  return first17 + idNumberCheckCharacter(first17);
}

const DIGITS = '0123456789';
/** The eleven values a check character can take (docs/devices.md §2: "10X98765432"). */
const CHECK_ALPHABET = '0123456789X';

/** Replaces the character at `index` by the one `shift` places further on in its alphabet (never itself). */
function mutateAt(idNumber: string, index: number, shift: number): string {
  const alphabet = index === 17 ? CHECK_ALPHABET : DIGITS;
  const from = alphabet.indexOf(idNumber[index]!);
  if (from < 0 || shift < 1 || shift >= alphabet.length) throw new RangeError(`cannot mutate ${index} by ${shift}`);
  return idNumber.slice(0, index) + alphabet[(from + shift) % alphabet.length] + idNumber.slice(index + 1);
}

describe('GB 11643-1999 ID numbers', () => {
  it('accepts the docs/devices.md §2 examples and rejects the bad one', () => {
    expect(validateIdNumber('11010519491231002X', TODAY)).toEqual({
      ok: true,
      idNumber: '11010519491231002X',
      region: '110105',
      birthDate: '1949-12-31',
      sex: 'female',
    });
    expect(validateIdNumber('440524188001015368', TODAY)).toEqual({
      ok: true,
      idNumber: '440524188001015368',
      region: '440524',
      birthDate: '1880-01-01',
      sex: 'female',
    });
    expect(validateIdNumber('110105194912310021', TODAY)).toEqual({ ok: false, reason: 'check-character' });
  });

  it('accepts a lower-case x and returns it upper-case', () => {
    expect(validateIdNumber('11010519491231002x', TODAY)).toMatchObject({ ok: true, idNumber: '11010519491231002X' });
  });

  it('computes the check character of the standard example', () => {
    expect(idNumberCheckCharacter('11010519491231002')).toBe('X');
    expect(idNumberCheckCharacter('44052418800101536')).toBe('8');
    expect(() => idNumberCheckCharacter('1234')).toThrow(TypeError);
  });

  it('gives each failure its reason', () => {
    const cases: [string, string][] = [
      ['', 'length'],
      ['11010519491231002', 'length'],
      ['11010519491231002X1', 'length'],
      [' 11010519491231002X', 'length'],
      ['1101051949123100X2', 'format'],
      ['11010519491231002Y', 'format'],
      ['11010519491231 02X', 'format'],
      ['１１0105194912310021', 'format'],
      [withCheck('00010519491231002'), 'region'],
      [withCheck('16010519491231002'), 'region'],
      [withCheck('99010519491231002'), 'region'],
      [withCheck('72010519491231002'), 'region'],
      [withCheck('11010519490231002'), 'birth-date'], // February 31st
      [withCheck('11010519000229002'), 'birth-date'], // 1900 was not a leap year
      [withCheck('11010519491301002'), 'birth-date'],
      [withCheck('11010519490100002'), 'birth-date'],
      [withCheck('11010517991231002'), 'birth-date'], // before 1800
      [withCheck('11010500010101002'), 'birth-date'],
      [withCheck('11010520260116002'), 'birth-date'], // tomorrow
      [withCheck('11010530000101002'), 'birth-date'],
    ];
    for (const [value, reason] of cases) expect(validateIdNumber(value, TODAY), value).toEqual({ ok: false, reason });
    expect(validateIdNumber(withCheck('11010520000229002'), TODAY).ok).toBe(true); // 2000 was a leap year
    expect(validateIdNumber(withCheck('11010518000101002'), TODAY).ok).toBe(true);
    expect(validateIdNumber(withCheck('11010520260115002'), TODAY).ok).toBe(true); // born today
  });

  it('accepts every province-level region code and reads sex from the sequence', () => {
    for (const code of '11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 91'.split(
      ' ',
    )) {
      expect(validateIdNumber(withCheck(`${code}010119800101001`), TODAY)).toMatchObject({ ok: true, sex: 'male' });
    }
    expect(validateIdNumber(withCheck('31010119800101002'), TODAY)).toMatchObject({ ok: true, sex: 'female' });
  });

  it('"today" is the calendar date in Beijing', () => {
    const born = withCheck('11010520260115002');
    expect(validateIdNumber(born, new Date(Date.UTC(2026, 0, 14, 16, 0, 0))).ok).toBe(true); // 00:00 Beijing
    expect(validateIdNumber(born, new Date(Date.UTC(2026, 0, 14, 15, 59, 59)))).toEqual({
      ok: false,
      reason: 'birth-date',
    });
  });

  it('every generated number validates, with the requested birth date and sex (property)', () => {
    fc.assert(
      fc.property(
        randArb,
        fc.constantFrom('male' as const, 'female' as const),
        fc.date({ min: new Date('1900-01-01'), max: TODAY, noInvalidDate: true }),
        (rand, sex, date) => {
          const birthDate = date.toISOString().slice(0, 10);
          const free = generateIdNumber(rand);
          expect(validateIdNumber(free, TODAY).ok, free).toBe(true);
          const chosen = generateIdNumber(rand, { sex, birthDate, region: '440305' });
          expect(validateIdNumber(chosen, TODAY)).toEqual({
            ok: true,
            idNumber: chosen,
            region: '440305',
            birthDate,
            sex,
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('every single-character change, the check character included, is refused (property)', () => {
    // Positions 0–16 take a digit; position 17, the check character, takes a digit or X (§2).
    const position = fc.nat({ max: 17 }).chain((index) => {
      const alphabet = index === 17 ? CHECK_ALPHABET : DIGITS;
      return fc.record({ index: fc.constant(index), shift: fc.integer({ min: 1, max: alphabet.length - 1 }) });
    });
    fc.assert(
      fc.property(randArb, position, (rand, { index, shift }) => {
        const valid = generateIdNumber(rand);
        const mutated = mutateAt(valid, index, shift);
        expect(mutated).not.toBe(valid);
        expect(idNumberCheckCharacter(mutated.slice(0, 17))).not.toBe(mutated[17]);
        const check = validateIdNumber(mutated, TODAY);
        expect(check.ok, mutated).toBe(false);
        // Only the check character changed: nothing but the check may be what refuses it.
        if (index === 17) expect(check).toEqual({ ok: false, reason: 'check-character' });
      }),
      { numRuns: 1000 },
    );
  });

  it('every other check character is refused for the standard examples', () => {
    for (const valid of ['11010519491231002X', '440524188001015368']) {
      for (let shift = 1; shift < CHECK_ALPHABET.length; shift++) {
        const mutated = mutateAt(valid, 17, shift);
        expect(validateIdNumber(mutated, TODAY), mutated).toEqual({ ok: false, reason: 'check-character' });
      }
    }
  });

  it('refuses generator options it cannot honour', () => {
    const rand = () => 0.5;
    expect(() => generateIdNumber(rand, { birthDate: '1990-02-30' })).toThrow(TypeError);
    expect(() => generateIdNumber(rand, { birthDate: '1799-12-31' })).toThrow(TypeError);
    expect(() => generateIdNumber(rand, { region: '000000' })).toThrow(TypeError);
    expect(() => generateIdNumber(rand, { region: '1101' })).toThrow(TypeError);
  });

  it('masks all but the first four and last four characters', () => {
    expect(maskIdNumber('310101199001011234')).toBe('3101**********1234');
    expect(maskIdNumber('11010519491231002X')).toBe('1101**********002X');
    expect(maskIdNumber('12345678')).toBe('********');
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9X]{9,18}$/), (value) => {
        const masked = maskIdNumber(value);
        expect(masked).toHaveLength(value.length);
        expect(masked.slice(4, -4)).toMatch(/^\*+$/);
      }),
    );
  });
});
