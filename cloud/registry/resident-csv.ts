/**
 * The residents CSV of `POST /residents/import` (docs/cloud.md, "CSV import"). Pure: text in,
 * validated rows or row-level errors out. RFC 4180 quoting; UTF-8 with or without BOM; CRLF or LF.
 * Row numbers count records with the header as row 1, which is the line number unless a quoted
 * field spans lines.
 */
import { validateIdNumber } from '../../shared/id-number.ts';
import { type ResidentCreate, residentCreateSchema } from '../../shared/schemas/http.ts';
import { yieldToEventLoop } from '../../shared/yield.ts';

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

/**
 * Splits RFC 4180 text into records of fields, pausing (yielding) after every `sliceRecords`
 * records. O(n) in the text length; an unquoted field is one slice of the text (no
 * character-by-character concatenation: a 4 MB file in tens of ms).
 */
function* csvRecordSteps(text: string, sliceRecords: number): Generator<void, { records: string[][]; error?: string }> {
  const records: string[][] = [];
  let record: string[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const n = text.length;
  /** Whether the last field ended the text without a line break (a final record to close). */
  let open = false;
  while (i < n) {
    let field: string;
    if (text[i] === '"') {
      // Quoted: segments between doubled quotes, up to the closing quote.
      let value = '';
      let from = i + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q === -1) return { records, error: 'a quoted field is not closed' };
        value += text.slice(from, q);
        if (text[q + 1] === '"') {
          value += '"';
          from = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      // Anything up to the delimiter after a closing quote belongs to the field, as before.
      const end = delimiterFrom(text, i);
      field = value + text.slice(i, end);
      i = end;
    } else {
      const end = delimiterFrom(text, i);
      field = text.slice(i, end);
      i = end;
    }
    record.push(field);
    open = true;
    if (i >= n) break;
    const ch = text[i];
    i += 1;
    if (ch === ',') {
      if (i >= n) record.push('');
      continue;
    }
    if (ch === '\r' && text[i] === '\n') i += 1;
    records.push(record);
    record = [];
    open = false;
    if (records.length % sliceRecords === 0) yield;
  }
  if (open || record.length > 0) records.push(record);
  return { records };
}

/** The index of the next `,`, `\n` or `\r` at or after `from` (or the text's length). */
function delimiterFrom(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 44 || c === 10 || c === 13) return i;
  }
  return text.length;
}

const BOOLEANS: Record<string, boolean> = { true: true, false: false, '1': true, '0': false, yes: true, no: false };

function parseInstant(value: string): number | string {
  if (/^\d{1,16}$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  return /T.*(Z|[+-]\d{2}:?\d{2})$/.test(value) && !Number.isNaN(ms) ? ms : value;
}

/** Parses and validates the whole file; any error means no row is returned. */
export function parseResidentCsv(text: string, today: Date = new Date()): ResidentCsvResult {
  const steps = residentCsvSteps(text, today, Number.POSITIVE_INFINITY);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * `parseResidentCsv` in slices of `sliceRows` rows, yielding to the event loop between them, so
 * a 50 k-row file never holds the server for the whole parse (the cloud's import route).
 */
export async function parseResidentCsvInSlices(
  text: string,
  today: Date = new Date(),
  sliceRows = 200,
): Promise<ResidentCsvResult> {
  const steps = residentCsvSteps(text, today, sliceRows);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await yieldToEventLoop();
  }
}

/** The parse as a generator that pauses (yields) after every `sliceRows` rows. */
function* residentCsvSteps(text: string, today: Date, sliceRows: number): Generator<void, ResidentCsvResult> {
  const { records, error } = yield* csvRecordSteps(text, sliceRows * 4);
  if (error) return { ok: false, errors: [{ row: records.length + 1, column: null, message: error }] };
  const [header, ...rows] = records;
  if (!header || header.every((h) => h.trim() === '')) {
    return { ok: false, errors: [{ row: 1, column: null, message: 'the file is empty: expected a header row' }] };
  }
  const columns = header.map((h) => h.trim());
  const errors: CsvRowError[] = [];
  for (const c of columns.filter((c) => !(RESIDENT_CSV_COLUMNS as readonly string[]).includes(c))) {
    errors.push({ row: 1, column: c, message: `unknown column; expected some of ${RESIDENT_CSV_COLUMNS.join(',')}` });
  }
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
  for (const [index, fields] of rows.entries()) {
    if (index % sliceRows === sliceRows - 1) yield;
    checkRow(fields, index + 2);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, residents };

  function checkRow(fields: string[], row: number): void {
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
  }
}
