// The audit log on the dashboard: who traced, revealed, opened, acknowledged or switched the mode,
// with their reasons; filtered by action and actor, 50 at a time.
import { bilingual, dateTime, el } from './format.js';
import { api, describeError } from './session.js';
import { $, view } from './dashboard-common.js';

let auditCursor = null;

function auditDetail(entry) {
  const d = entry.detail ?? {};
  const parts = [];
  if (d.reason) parts.push(`原因 reason: ${d.reason}`);
  if (d.note) parts.push(`说明 note: ${d.note}`);
  for (const [k, v] of Object.entries(d)) {
    if (k === 'reason' || k === 'note') continue;
    // A name typed into the old name search is a full name: the log view shows it masked.
    if (entry.action === 'trace.search' && k === 'query' && d.by === 'name') {
      parts.push(`query: ${String(v).slice(0, 1)}*`);
      continue;
    }
    parts.push(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  }
  return parts.join(' · ');
}

let auditLoad = 0;
export async function loadAudit(more = false) {
  // Only the latest request may fill the table: an earlier, slower answer must not replace it.
  const load = ++auditLoad;
  $('audit-error').textContent = '';
  const params = new URLSearchParams({ compound: view.compoundId, limit: '50' });
  if ($('audit-action').value) params.set('action', $('audit-action').value);
  if ($('audit-actor').value.trim()) params.set('actor', $('audit-actor').value.trim());
  if (more && auditCursor) params.set('cursor', auditCursor);
  try {
    const { entries, nextCursor } = await api(`/audit?${params}`);
    if (load !== auditLoad) return;
    auditCursor = nextCursor;
    const rows = entries.map((e) =>
      el(
        'tr',
        { 'data-action': e.action },
        el('td', {}, dateTime(e.at)),
        el('td', {}, `${e.actor}`, ' ', el('small', {}, e.role)),
        el('td', {}, e.action),
        el('td', {}, e.target ?? '—'),
        el('td', { class: 'detail' }, auditDetail(e)),
      ),
    );
    if (more) $('audit-rows').append(...rows);
    else
      $('audit-rows').replaceChildren(
        ...(rows.length
          ? rows
          : [el('tr', {}, el('td', { colspan: 5, class: 'muted' }, bilingual(['没有记录', 'No entries'])))]),
      );
    $('audit-more').hidden = !nextCursor;
  } catch (err) {
    if (load !== auditLoad) return;
    if (!more) $('audit-rows').replaceChildren();
    $('audit-error').textContent = `审计日志加载失败 · Audit log failed to load: ${describeError(err)}`;
  }
}

$('audit-form').addEventListener('submit', (event) => {
  event.preventDefault();
  loadAudit(false);
});
$('audit-more').addEventListener('click', () => loadAudit(true));
