/**
 * The residents CSV of `POST /residents/import` (docs/cloud.md, "CSV import"). Pure: text in,
 * validated rows or row-level errors out. RFC 4180 quoting; UTF-8 with or without BOM; CRLF or LF.
 * Row numbers count records with the header as row 1, which is the line number unless a quoted
 * field spans lines.
 */
import { validateIdNumber } from '../../shared/id-number.ts';
import { type ResidentCreate, residentCreateSchema } from '../../shared/schemas/http.ts';

const RESIDENT_CSV_REQUIRED = ['name', 'compoundId'] as const;
const RESIDENT_CSV_COLUMNS = [
  'name',
  'idNumber',
  'householdId',
  'kind',
  'phone',
  'elderly',
  'compoundId',
  'personId',
  'cards',
  'validFrom',
  'validTo',
] as const;
const MAX_CSV_ROWS = 100_000;
const MAX_ERRORS = 1000;

export interface CsvRowError {
  row: number;
  column: string | null;
  message: string;
}

export type ResidentCsvResult =
  | { ok: true; residents: (ResidentCreate & { row: number })[] }
  | { ok: false; errors: CsvRowError[] };

/** Splits RFC 4180 text into records of fields. O(n) in the text length. */
function parseCsvRecords(text: string): { records: string[][]; error?: string } {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
      continue;
    }
    if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      record.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      record.push(field);
      records.push(record);
      record = [];
      field = '';
    } else field += ch;
  }
  if (quoted) return { records, error: 'a quoted field is not closed' };
  if (field !== '' || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  return { records };
}

const BOOLEANS: Record<string, boolean> = { true: true, false: false, '1': true, '0': false, yes: true, no: false };

function parseInstant(value: string): number | string {
  if (/^\d{1,16}$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  return /T.*(Z|[+-]\d{2}:?\d{2})$/.test(value) && !Number.isNaN(ms) ? ms : value;
}

/** Parses and validates the whole file; any error means no row is returned. */
export function parseResidentCsv(text: string, today: Date = new Date()): ResidentCsvResult {
  const { records, error } = parseCsvRecords(text);
  if (error) return { ok: false, errors: [{ row: records.length + 1, column: null, message: error }] };
  const [header, ...rows] = records;
  if (!header || header.every((h) => h.trim() === '')) {
    return { ok: false, errors: [{ row: 1, column: null, message: 'the file is empty: expected a header row' }] };
  }
  const columns = header.map((h) => h.trim());
  const errors: CsvRowError[] = [];
  columns.forEach((c) => {
    if (!(RESIDENT_CSV_COLUMNS as readonly string[]).includes(c)) {
      errors.push({ row: 1, column: c, message: `unknown column; expected some of ${RESIDENT_CSV_COLUMNS.join(',')}` });
    }
  });
  for (const required of RESIDENT_CSV_REQUIRED) {
    if (!columns.includes(required)) errors.push({ row: 1, column: required, message: 'required column missing' });
  }
  if (new Set(columns).size !== columns.length) errors.push({ row: 1, column: null, message: 'duplicate column' });
  if (rows.length > MAX_CSV_ROWS) {
    errors.push({ row: MAX_CSV_ROWS + 2, column: null, message: `at most ${MAX_CSV_ROWS} rows per import` });
  }
  if (errors.length > 0) return { ok: false, errors };

  const residents: (ResidentCreate & { row: number })[] = [];
  const seenIdNumbers = new Map<string, number>();
  const seenPersonIds = new Map<string, number>();
  rows.forEach((fields, index) => {
    const row = index + 2;
    if (errors.length >= MAX_ERRORS) return;
    if (fields.length === 1 && fields[0]!.trim() === '') return;
    if (fields.length !== columns.length) {
      errors.push({ row, column: null, message: `expected ${columns.length} fields, found ${fields.length}` });
      return;
    }
    const raw: Record<string, unknown> = {};
    columns.forEach((column, i) => {
      const value = fields[i]!.trim();
      if (value === '') return;
      if (column === 'elderly') raw[column] = BOOLEANS[value.toLowerCase()] ?? value;
      else if (column === 'cards') raw[column] = value.split(/[;\s]+/).filter(Boolean);
      else if (column === 'validFrom' || column === 'validTo') raw[column] = parseInstant(value);
      else raw[column] = value;
    });
    const parsed = residentCreateSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        errors.push({ row, column: issue.path.length ? String(issue.path[0]) : null, message: issue.message });
      }
      return;
    }
    const resident = parsed.data;
    if (resident.idNumber !== undefined) {
      const check = validateIdNumber(resident.idNumber, today);
      if (!check.ok) {
        errors.push({ row, column: 'idNumber', message: `not a valid ID number (${check.reason})` });
        return;
      }
      resident.idNumber = check.idNumber;
      const first = seenIdNumbers.get(check.idNumber);
      if (first !== undefined) {
        errors.push({ row, column: 'idNumber', message: `same ID number as row ${first}` });
        return;
      }
      seenIdNumbers.set(check.idNumber, row);
    }
    if (resident.personId !== undefined) {
      const first = seenPersonIds.get(resident.personId);
      if (first !== undefined) {
        errors.push({ row, column: 'personId', message: `same personId as row ${first}` });
        return;
      }
      seenPersonIds.set(resident.personId, row);
    }
    residents.push({ ...resident, row });
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, residents };
}
