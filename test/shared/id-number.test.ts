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

describe('GB 11643-1999 ID numbers', () => {
  it('accepts the DEVICES.md §2 examples and rejects the bad one', () => {
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

  it('every single-digit change of the first 17 digits is caught by the check character (property)', () => {
    fc.assert(
      fc.property(randArb, fc.nat({ max: 16 }), fc.integer({ min: 1, max: 9 }), (rand, index, delta) => {
        const valid = generateIdNumber(rand);
        const digit = (Number(valid[index]) + delta) % 10;
        const mutated = valid.slice(0, index) + digit + valid.slice(index + 1);
        expect(idNumberCheckCharacter(mutated.slice(0, 17))).not.toBe(valid[17]);
        expect(validateIdNumber(mutated, TODAY).ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
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
