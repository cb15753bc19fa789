/**
 * CSV for spreadsheet exports (RFC 4180): fields with a comma, quote, CR or LF are quoted and
 * their quotes doubled; records end with CRLF. The text starts with a UTF-8 byte-order mark so
 * that Excel opens Chinese names as UTF-8 instead of the system code page.
 *
 * A text cell that starts with `=`, `+`, `-`, `@`, TAB or CR would be run as a formula by
 * spreadsheet programs (CSV injection, OWASP); such cells get a leading apostrophe. Numbers are
 * written as numbers and never prefixed.
 */

export type CsvCell = string | number | boolean | null | undefined;

export const UTF8_BOM = '\uFEFF';

const NEEDS_QUOTES = /[",\r\n]/;
const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value: CsvCell): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export interface CsvOptions {
  /** Prefix the UTF-8 byte-order mark (default true: the exports are opened in Excel). */
  bom?: boolean;
}

/** The whole document: header line, then one line per row, every line ended by CRLF. */
export function toCsv(header: readonly string[], rows: Iterable<readonly CsvCell[]>, options: CsvOptions = {}): string {
  const lines = [header.map(csvCell).join(',')];
  for (const row of rows) lines.push(row.map(csvCell).join(','));
  return (options.bom === false ? '' : UTF8_BOM) + lines.join('\r\n') + '\r\n';
}

/** A `Content-Disposition` value that survives non-ASCII file names (RFC 6266, RFC 5987). */
export function attachmentDisposition(fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}
