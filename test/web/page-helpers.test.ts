/**
 * The pages' pure helpers in Node: the one time-zone rule (format.js — every time in the
 * compound's zone, round trips through `datetime-local` fields, midnights across DST) and the
 * bilingual import errors (import-errors.js — every problem the importer can report has its
 * Chinese words, never the generic fallback). docs/web.md, "Time zones".
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { parseResidentCsv } from '../../cloud/registry/resident-csv.ts';
import {
  clock,
  dateTime,
  fromLocalInput,
  localInputValue,
  midnightOf,
  setTimeZone,
  timeZone,
  zoneLabel,
} from '../../cloud/web/assets/format.js';
import { translateImportProblem } from '../../cloud/web/assets/import-errors.js';

afterEach(() => setTimeZone(undefined));

describe('format.js: the compound time zone', () => {
  it('prints times in the compound zone and names it with its offset', () => {
    const t = Date.UTC(2026, 0, 5, 2, 3, 4);
    setTimeZone('Asia/Shanghai');
    expect([clock(t), dateTime(t), zoneLabel(t)]).toEqual(['10:03:04', '2026-01-05 10:03', 'Asia/Shanghai UTC+8']);
    setTimeZone('Asia/Kolkata');
    expect(zoneLabel(t)).toBe('Asia/Kolkata UTC+5:30');
    setTimeZone('America/New_York');
    expect([clock(t), zoneLabel(t)]).toEqual(['21:03:04', 'America/New_York UTC-5']);
  });

  it('falls back to the runtime zone for an unknown zone, and says which', () => {
    setTimeZone('Mars/Olympus');
    expect(timeZone()).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
  });

  it('round-trips a minute through a datetime-local field in any zone', () => {
    const zones = ['Asia/Shanghai', 'Asia/Urumqi', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe'];
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2035, 0, 1) }),
        (zone, t) => {
          setTimeZone(zone);
          const minute = t - (t % 60_000);
          const back = fromLocalInput(localInputValue(minute));
          // A wall time repeated by a DST fall-back names one of its two instants.
          expect(localInputValue(back)).toBe(localInputValue(minute));
        },
      ),
    );
  });

  it('finds the local midnight, also on a DST change day', () => {
    setTimeZone('Asia/Shanghai');
    expect(new Date(midnightOf(Date.UTC(2026, 0, 5, 2))).toISOString()).toBe('2026-01-04T16:00:00.000Z');
    setTimeZone('America/New_York');
    // 8 March 2026: clocks jump from 02:00 to 03:00; midnight is still 05:00Z (EST).
    expect(new Date(midnightOf(Date.UTC(2026, 2, 8, 18))).toISOString()).toBe('2026-03-08T05:00:00.000Z');
    // 1 November 2026: back from 02:00 to 01:00; midnight was 04:00Z (EDT).
    expect(new Date(midnightOf(Date.UTC(2026, 10, 1, 18))).toISOString()).toBe('2026-11-01T04:00:00.000Z');
    expect(Number.isNaN(fromLocalInput(''))).toBe(true);
    expect(Number.isNaN(fromLocalInput('05/01/2026'))).toBe(true);
  });
});

describe('import-errors.js: every importer problem in Chinese and English', () => {
  const today = new Date(Date.UTC(2026, 0, 5));
  const files = [
    '',
    'name,compoundId,colour\nA,c-1,red\n',
    'name\nA\n',
    'name,name,compoundId\nA,B,c\n',
    'name,compoundId\n"A,c\n',
    'name,compoundId\nA\n',
    'name,compoundId,idNumber\nA,c-1,110105194912310021\n',
    'name,compoundId,idNumber\nA,c-1,11010519491231002\n',
    'name,compoundId,idNumber\nA,c-1,11010519491231002X\nB,c-1,11010519491231002X\n',
    'name,compoundId,personId\nA,c-1,p-1\nB,c-1,p-1\n',
    'name,compoundId,kind\nA,c-1,alien\n',
    'name,compoundId,phone\nA,c-1,12ab\n',
    'name,compoundId,elderly\nA,c-1,maybe\n',
    'name,compoundId,validFrom\nA,c-1,tomorrow\n',
    'name,compoundId,householdId\nA,c-1,H 1\n',
    'name,compoundId,cards\nA,c-1,x\n',
    `name,compoundId\n${'名'.repeat(65)},c-1\n`,
    'name,compoundId\n,c-1\n',
    'name,compoundId\nA,C_1\n',
  ];

  it('has Chinese words for each problem a bad file gets', () => {
    const seen: string[] = [];
    for (const text of files) {
      const result = parseResidentCsv(text, today);
      expect(result.ok, text).toBe(false);
      if (result.ok) continue;
      for (const problem of result.errors) {
        const [zh, en] = translateImportProblem(problem);
        expect(en).toBe(problem.message);
        expect(zh, `${problem.column}: ${problem.message}`).not.toContain('见英文说明');
        expect(zh).toMatch(/[\u4e00-\u9fff]/);
        seen.push(zh);
      }
    }
    expect(seen.length).toBeGreaterThanOrEqual(files.length);
  });

  it('keeps the problems the registry adds, and an unknown one in English under a Chinese lead-in', () => {
    expect(
      translateImportProblem({ row: 2, column: 'compoundId', message: 'no such compound (or not yours)' })[0],
    ).toBe('没有这个小区，或不归您管理');
    const [zh, en] = translateImportProblem({ row: 3, column: 'name', message: 'something new' });
    expect(zh).toContain('name（姓名）');
    expect(en).toBe('something new');
  });
});
