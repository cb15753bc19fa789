import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attachmentDisposition, csvCell, toCsv, UTF8_BOM } from '../../../cloud/analytics/csv.ts';

/** A minimal RFC 4180 reader, to check that what we write reads back. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else {
      field += c;
    }
  }
  return rows;
}

describe('csvCell', () => {
  it('leaves plain text alone and writes numbers, booleans and empties', () => {
    expect(csvCell('张*明')).toBe('张*明');
    expect(csvCell(42)).toBe('42');
    expect(csvCell(-1.5)).toBe('-1.5');
    expect(csvCell(Number.NaN)).toBe('');
    expect(csvCell(true)).toBe('true');
    expect(csvCell(null)).toBe('');
    expect(csvCell(undefined)).toBe('');
  });

  it('quotes commas, quotes and line breaks, doubling quotes', () => {
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('line\nbreak')).toBe('"line\nbreak"');
    expect(csvCell('cr\rhere')).toBe('"cr\rhere"');
  });

  it('defuses spreadsheet formulas in text, not in numbers', () => {
    expect(csvCell('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvCell('+1')).toBe("'+1");
    expect(csvCell('-gate')).toBe("'-gate");
    expect(csvCell('@sum')).toBe("'@sum");
    expect(csvCell('\tx')).toBe("'\tx");
    expect(csvCell(-3)).toBe('-3');
  });
});

describe('toCsv', () => {
  it('starts with the BOM, ends every record with CRLF', () => {
    const text = toCsv(
      ['a', 'b'],
      [
        [1, 'x'],
        [2, null],
      ],
    );
    expect(text).toBe(`${UTF8_BOM}a,b\r\n1,x\r\n2,\r\n`);
    expect(Buffer.from(text, 'utf8').subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
  });

  it('can leave the BOM out', () => {
    expect(toCsv(['a'], [], { bom: false })).toBe('a\r\n');
  });

  it('property: any text cells read back (after the formula guard)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.string(), { minLength: 2, maxLength: 2 }), { maxLength: 5 }), (rows) => {
        const parsed = parseCsv(toCsv(['h1', 'h2'], rows, { bom: false }));
        expect(parsed[0]).toEqual(['h1', 'h2']);
        const expected = rows.map((r) => r.map((v) => (/^[=+\-@\t\r]/.test(v) ? `'${v}` : v)));
        expect(parsed.slice(1)).toEqual(expected);
      }),
    );
  });
});

describe('attachmentDisposition', () => {
  it('gives an ASCII fallback and the UTF-8 name', () => {
    expect(attachmentDisposition('contacts-p1.csv')).toBe(
      `attachment; filename="contacts-p1.csv"; filename*=UTF-8''contacts-p1.csv`,
    );
    expect(attachmentDisposition('接触者.csv')).toBe(
      `attachment; filename="___.csv"; filename*=UTF-8''%E6%8E%A5%E8%A7%A6%E8%80%85.csv`,
    );
  });
});
