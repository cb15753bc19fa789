// What every part of the manager dashboard shares (dashboard.js loads the parts): the session,
// the chosen compound, the page of residents on screen, and small helpers — CSV files, row
// buttons, the confirmation dialog. Evaluated first: without a manager's session nothing else runs.
import { el } from './format.js';
import { HEALTH_LABELS, labelOf } from './labels.js';
import { requireSession } from './session.js';

export const session = await requireSession(['manager', 'admin']);
export const $ = (id) => document.getElementById(id);
export const DAY_MS = 86_400_000;

/** The compounds the caller may see and the one chosen (set by dashboard.js). */
export const view = { compounds: [], compoundId: null };
/** The page of residents on screen (dashboard-residents.js; the pass card names its person from it). */
export const residentsView = { offset: 0, total: 0, rows: [] };

export const currentCompound = () => view.compounds.find((c) => c.id === view.compoundId);
export const inCompound = () => `compound=${encodeURIComponent(view.compoundId)}`;

/** Saves a blob under a name through a temporary link (the CSV exports). */
export function saveBlob(blob, fileName) {
  const url = URL.createObjectURL(blob);
  const link = el('a', { href: url, download: fileName, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function fileNameOf(disposition, fallback) {
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition ?? '');
  if (star) return decodeURIComponent(star[1]);
  const plain = /filename="?([^";]+)"?/i.exec(disposition ?? '');
  return plain ? plain[1] : fallback;
}

export function csvText(header, rows) {
  const cell = (v) => {
    const s = v === null || v === undefined ? '' : String(v);
    // A leading = + - @ would be a formula in a spreadsheet.
    const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
    return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
  };
  return `\uFEFF${[header, ...rows].map((r) => r.map(cell).join(',')).join('\r\n')}\r\n`;
}

export const healthBadge = (colour) => el('span', { class: `health ${colour}` }, labelOf(HEALTH_LABELS, colour)[0]);

export function actionButton(label, onclick, cls = '') {
  return el(
    'button',
    { type: 'button', class: `small ${cls}`.trim(), onclick },
    label[0],
    ' ',
    el('small', {}, label[1]),
  );
}

/** The small confirmation dialog: resolves true when confirmed, false when cancelled or closed. */
export function confirmAction(title, text) {
  const dialog = $('confirm-dialog');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true });
  });
}
