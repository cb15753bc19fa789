// `/dashboard`: the manager dashboard. Statistics, tracing, the mode switch, residents, passes and
// the audit log of the chosen compound, all through the API with the session's bearer token.
// Every time is the compound's (format.js), and the toolbar says which zone that is. A failed
// load is shown as a failure — never as the previous numbers under a new label.
import {
  bilingual,
  dateTime,
  duration,
  el,
  fromLocalInput,
  localInputValue,
  midnightOf,
  setTimeZone,
  zoneLabel,
} from './format.js';
import { renderHourlyChart } from './hourly-chart.js';
import {
  DIRECTION_LABELS,
  HEALTH_LABELS,
  KIND_LABELS,
  labelOf,
  METHOD_LABELS,
  MODE_LABELS,
  PASS_KIND_LABELS,
  REASON_LABELS,
  RESULT_LABELS,
} from './labels.js';
import { translateImportProblem } from './import-errors.js';
import { api, describeError, requireSession, restoreDrafts } from './session.js';

const session = requireSession(['manager', 'admin']);
const $ = (id) => document.getElementById(id);
const DAY_MS = 86_400_000;
/** Statistics refresh on their own every minute; `?refresh=SECONDS` (at least 2) for a wall screen. */
const STATS_REFRESH_MS = Math.max(2, Number(new URLSearchParams(location.search).get('refresh')) || 60) * 1000;
const PAGE_SIZE = 50;

let compounds = [];
let compoundId = null;

const currentCompound = () => compounds.find((c) => c.id === compoundId);
const inCompound = () => `compound=${encodeURIComponent(compoundId)}`;

/** Saves a blob under a name through a temporary link (the CSV exports). */
function saveBlob(blob, fileName) {
  const url = URL.createObjectURL(blob);
  const link = el('a', { href: url, download: fileName, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function fileNameOf(disposition, fallback) {
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition ?? '');
  if (star) return decodeURIComponent(star[1]);
  const plain = /filename="?([^";]+)"?/i.exec(disposition ?? '');
  return plain ? plain[1] : fallback;
}

function csvText(header, rows) {
  const cell = (v) => {
    const s = v === null || v === undefined ? '' : String(v);
    // A leading = + - @ would be a formula in a spreadsheet.
    const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
    return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
  };
  return `\uFEFF${[header, ...rows].map((r) => r.map(cell).join(',')).join('\r\n')}\r\n`;
}

const healthBadge = (colour) => el('span', { class: `health ${colour}` }, labelOf(HEALTH_LABELS, colour)[0]);

// ---- statistics -----------------------------------------------------------------------------

function periodWindow() {
  const now = Date.now();
  switch ($('period').value) {
    case '24h':
      return { from: now - DAY_MS, to: now };
    case '7d':
      return { from: now - 7 * DAY_MS, to: now };
    case '30d':
      return { from: now - 30 * DAY_MS, to: now };
    case 'custom': {
      // Whole days of the compound: from the first day's midnight to the midnight after the last.
      const from = fromLocalInput($('stats-from').value);
      const lastDay = fromLocalInput($('stats-to').value);
      if (!Number.isFinite(from) || !Number.isFinite(lastDay)) return { error: '请选择起止日期 · Choose both dates' };
      const to = midnightOf(lastDay + DAY_MS + 3 * 3_600_000);
      if (to <= from) return { error: '结束日期须不早于开始日期 · The end date must not be before the start' };
      return { from, to };
    }
    default: {
      // "Today" is the compound's day (its statistics are bucketed in its zone), not the browser's.
      const midnight = midnightOf(now);
      return { from: midnight, to: Math.max(now, midnight + 1) };
    }
  }
}

function reasonRows(byReason) {
  const entries = Object.entries(byReason).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return [el('tr', {}, el('td', { class: 'muted' }, '—'))];
  return entries.map(([reason, n]) =>
    el('tr', {}, el('td', {}, bilingual(labelOf(REASON_LABELS, reason))), el('td', { class: 'n' }, String(n))),
  );
}

function methodBars(granted, denied) {
  const of = (m) => (granted.byMethod[m] ?? 0) + (denied.byMethod[m] ?? 0);
  const groups = [
    [labelOf(METHOD_LABELS, 'qr'), of('qr')],
    [labelOf(METHOD_LABELS, 'idcard'), of('idcard')],
    [['其他', 'Other'], of('card') + of('manual') + of('free')],
  ];
  const total = groups.reduce((s, [, n]) => s + n, 0);
  return groups.map(([label, n]) => {
    const share = total === 0 ? 0 : n / total;
    const fill = el('div', { class: 'fill' });
    // Through the CSSOM, not a style attribute: allowed under a CSP without inline styles.
    fill.style.width = `${(share * 100).toFixed(1)}%`;
    return el(
      'div',
      { class: 'bar', 'data-method': label[1] },
      bilingual(label),
      el('div', { class: 'track' }, fill),
      el('span', { class: 'n' }, `${n} · ${Math.round(share * 100)}%`),
    );
  });
}

const KPI_IDS = ['kpi-passages', 'kpi-crossings', 'kpi-decisions', 'kpi-persons', 'kpi-peak', 'kpi-occupancy'];
/** The window shown now (`compound|period|from|to` minus the moving end), and when it loaded. */
let statsShown = null;
let gateStatsRows = [];
let hourlyRows = null;
let statsSeq = 0;

function clearStats() {
  for (const id of KPI_IDS) $(id).textContent = '–';
  $('hourly-chart').replaceChildren();
  $('method-split').replaceChildren();
  $('granted-reasons').replaceChildren();
  $('denied-reasons').replaceChildren();
  $('gate-stats').replaceChildren();
  $('stats-window').textContent = '';
  gateStatsRows = [];
  hourlyRows = null;
  statsShown = null;
}

function statsStatus(state, message) {
  $('stats').dataset.state = state;
  const box = $('stats-status');
  box.dataset.state = state;
  box.hidden = state === 'ok';
  if (state === 'loading') box.replaceChildren(bilingual(['加载中…', 'Loading…']));
  else if (state !== 'ok') {
    box.replaceChildren(
      el('b', {}, state === 'stale' ? '刷新失败 ' : '加载失败 '),
      el('small', {}, state === 'stale' ? 'Refresh failed' : 'Failed to load'),
      el('span', { class: 'why' }, ` — ${message}`),
      el(
        'button',
        { type: 'button', class: 'small retry', onclick: () => loadStats() },
        '重试 ',
        el('small', {}, 'Retry'),
      ),
    );
  }
}

async function loadStats() {
  if (!compoundId) return;
  const seq = ++statsSeq;
  const window = periodWindow();
  const key = `${compoundId}|${$('period').value}|${$('stats-from').value}|${$('stats-to').value}`;
  if (statsShown?.key !== key) {
    // A new window: the old numbers go at once, they must never stand under the new label.
    clearStats();
    statsStatus('loading');
  }
  if (window.error) {
    statsStatus('failed', window.error);
    return;
  }
  const q = `${inCompound()}&from=${window.from}&to=${window.to}`;
  try {
    const [summary, hourly, perGate] = await Promise.all([
      api(`/stats/summary?${q}`),
      api(`/stats/hourly?${q}`),
      api(`/stats/gates?${q}`),
    ]);
    if (seq !== statsSeq) return;
    renderStats(summary, hourly, perGate);
    statsShown = { key, at: Date.now() };
    statsStatus('ok');
    $('stats-updated').textContent =
      `更新于 ${dateTime(Date.now()).slice(11)} · 每 ${STATS_REFRESH_MS / 1000} 秒自动刷新 updated; refreshes every ${STATS_REFRESH_MS / 1000} s`;
  } catch (err) {
    if (seq !== statsSeq) return;
    if (statsShown?.key === key) {
      // Same window as shown: keep the figures, say they are from then.
      statsStatus(
        'stale',
        `显示的是 ${dateTime(statsShown.at).slice(11)} 的数据 · figures are from ${dateTime(statsShown.at).slice(11)} (${describeError(err)})`,
      );
    } else {
      clearStats();
      statsStatus('failed', describeError(err));
    }
  }
}

function renderStats(summary, hourly, perGate) {
  const label = (s) => s.slice(0, 16).replace('T', ' ');
  $('stats-window').textContent = `${label(summary.fromLabel)} → ${label(summary.toLabel)} (${summary.timeZone})`;
  $('kpi-passages').textContent = String(summary.passages.total);
  $('kpi-crossings').textContent = `${summary.crossings.in} / ${summary.crossings.out}`;
  $('kpi-decisions').textContent = `${summary.granted.total} / ${summary.denied.total}`;
  const perDay = summary.uniquePersonsPerDay;
  $('kpi-persons').textContent =
    perDay.length <= 1
      ? String(perDay[0]?.persons ?? 0)
      : `${Math.max(...perDay.map((d) => d.persons))} / 日 day (max)`;
  $('kpi-peak').textContent = summary.peakHour
    ? `${summary.peakHour.label.slice(11, 16)} · ${summary.peakHour.crossings}`
    : '—';
  $('kpi-occupancy').textContent =
    `${summary.occupancy.estimate} (${summary.occupancy.netChange >= 0 ? '+' : ''}${summary.occupancy.netChange})`;
  $('hourly-chart').innerHTML = renderHourlyChart(hourly.hours); // our own SVG text, labels escaped
  hourlyRows = { window: summary, hours: hourly.hours };
  $('method-split').replaceChildren(...methodBars(summary.granted, summary.denied));
  $('granted-reasons').replaceChildren(...reasonRows(summary.granted.byReason));
  $('denied-reasons').replaceChildren(...reasonRows(summary.denied.byReason));
  const pct = (ratio) => (ratio === null ? '—' : `${(ratio * 100).toFixed(1)}%`);
  gateStatsRows = perGate.gates.map((g) => ({ ...g, window: perGate }));
  $('gate-stats').replaceChildren(
    ...perGate.gates.map((g) =>
      el(
        'tr',
        { 'data-gate-id': g.gateId },
        el('td', {}, g.name),
        el('td', { class: 'n' }, String(g.crossings.in)),
        el('td', { class: 'n' }, String(g.crossings.out)),
        el('td', { class: 'n' }, String(g.granted.total)),
        el('td', { class: 'n' }, String(g.denied.total)),
        el('td', { class: 'n' }, pct(g.uptime.ratio)),
        el(
          'td',
          {},
          bilingual(g.online === null ? ['未上报', 'No status'] : g.online ? ['在线', 'Online'] : ['离线', 'Offline']),
        ),
      ),
    ),
  );
}

$('export-stats').addEventListener('click', () => {
  if (gateStatsRows.length === 0) return;
  const w = gateStatsRows[0].window;
  const rows = gateStatsRows.map((g) => [
    w.fromLabel,
    w.toLabel,
    g.gateId,
    g.name,
    g.crossings.in,
    g.crossings.out,
    g.granted.total,
    g.denied.total,
    g.uptime.ratio === null ? '' : g.uptime.ratio.toFixed(4),
  ]);
  const header = ['from', 'to', 'gate_id', 'gate_name', 'in', 'out', 'granted', 'denied', 'uptime'];
  saveBlob(
    new Blob([csvText(header, rows)], { type: 'text/csv;charset=utf-8' }),
    `gate-stats-${compoundId}-${w.fromLabel.slice(0, 10)}-${w.toLabel.slice(0, 10)}.csv`,
  );
});

$('export-hourly').addEventListener('click', () => {
  if (!hourlyRows) return;
  const { window: w, hours } = hourlyRows;
  const rows = hours.map((h) => [h.label, h.crossingsIn, h.crossingsOut, h.granted, h.denied]);
  saveBlob(
    new Blob([csvText(['hour', 'in', 'out', 'granted', 'denied'], rows)], { type: 'text/csv;charset=utf-8' }),
    `hourly-${compoundId}-${w.fromLabel.slice(0, 10)}-${w.toLabel.slice(0, 10)}.csv`,
  );
});

$('period').addEventListener('change', () => {
  const custom = $('period').value === 'custom';
  $('custom-from-box').hidden = !custom;
  $('custom-to-box').hidden = !custom;
  if (custom && !$('stats-from').value) {
    const today = localInputValue(Date.now()).slice(0, 10);
    $('stats-from').value = localInputValue(Date.now() - 6 * DAY_MS).slice(0, 10);
    $('stats-to').value = today;
  }
  loadStats();
});
$('stats-from').addEventListener('change', () => loadStats());
$('stats-to').addEventListener('change', () => loadStats());

// ---- mode -----------------------------------------------------------------------------------

function renderMode() {
  const compound = currentCompound();
  if (!compound) return;
  const badge = $('mode-current');
  badge.dataset.mode = compound.mode;
  badge.replaceChildren(bilingual(labelOf(MODE_LABELS, compound.mode)));
  $('mode-since').textContent = compound.modeChangedAt
    ? `${dateTime(compound.modeChangedAt)} (${zoneLabel(compound.modeChangedAt)}) · ${compound.modeReason ?? ''}`
    : '';
  $('mode-select').value = compound.mode;
}

$('mode-form').addEventListener('submit', (event) => {
  event.preventDefault();
  $('mode-error').textContent = '';
  const mode = $('mode-select').value;
  const reason = $('mode-reason').value.trim();
  if (!reason) {
    $('mode-error').textContent = '请填写原因 · A reason is required';
    return;
  }
  const [zh, en] = labelOf(MODE_LABELS, mode);
  $('mode-confirm-text').textContent =
    `将 ${currentCompound()?.name ?? compoundId} 切换为「${zh}」，所有闸机立即生效。 Switch ${compoundId} to "${en}"? Every gate applies it at once. 原因 Reason: ${reason}`;
  $('mode-dialog').showModal();
});

$('mode-dialog').addEventListener('close', async () => {
  if ($('mode-dialog').returnValue !== 'confirm') return;
  try {
    const updated = await api(`/compounds/${encodeURIComponent(compoundId)}/mode`, {
      method: 'PUT',
      body: { mode: $('mode-select').value, reason: $('mode-reason').value.trim() },
    });
    compounds = compounds.map((c) => (c.id === updated.id ? updated : c));
    $('mode-reason').value = '';
    renderMode();
  } catch (err) {
    $('mode-error').textContent = describeError(err);
  }
});

// ---- a small confirmation dialog ------------------------------------------------------------

function confirmAction(title, text) {
  const dialog = $('confirm-dialog');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true });
  });
}

// ---- residents: server-side pages ------------------------------------------------------------

const residentsView = { offset: 0, total: 0, rows: [] };
let residentsSeq = 0;

async function loadResidents() {
  if (!compoundId) return;
  const seq = ++residentsSeq;
  $('residents-error').textContent = '';
  const params = new URLSearchParams({
    compound: compoundId,
    q: $('resident-search').value.trim(),
    status: $('resident-status').value,
    offset: String(residentsView.offset),
    limit: String(PAGE_SIZE),
  });
  try {
    const page = await api(`/web/residents?${params}`);
    if (seq !== residentsSeq) return;
    residentsView.total = page.total;
    residentsView.rows = page.residents;
    renderResidents();
  } catch (err) {
    if (seq !== residentsSeq) return;
    residentsView.rows = [];
    $('resident-rows').replaceChildren();
    $('residents-count').textContent = '';
    $('residents-page').textContent = '';
    $('residents-error').textContent = `住户加载失败 · Residents failed to load: ${describeError(err)}`;
  }
}

function actionButton(label, onclick, cls = '') {
  return el(
    'button',
    { type: 'button', class: `small ${cls}`.trim(), onclick },
    label[0],
    ' ',
    el('small', {}, label[1]),
  );
}

function renderResidents() {
  const { offset, total, rows } = residentsView;
  $('residents-count').textContent = `${total}`;
  $('residents-page').textContent = total === 0 ? '0 / 0' : `${offset + 1}–${offset + rows.length} / ${total}`;
  $('residents-prev').disabled = offset === 0;
  $('residents-next').disabled = offset + rows.length >= total;
  if (rows.length === 0) {
    $('resident-rows').replaceChildren(
      el('tr', {}, el('td', { colspan: 8, class: 'muted' }, bilingual(['没有符合条件的住户', 'No residents match']))),
    );
    return;
  }
  $('resident-rows').replaceChildren(...rows.map(residentRow));
}

function residentRow(r) {
  const health = el(
    'select',
    { class: 'health-select', 'aria-label': `健康码 Health ${r.personId}`, 'data-no-draft': true },
    ...['green', 'yellow', 'red', 'unknown'].map((c) =>
      el('option', { value: c, selected: c === r.health }, labelOf(HEALTH_LABELS, c).join(' ')),
    ),
  );
  health.addEventListener('change', () => setHealth(r, health.value));
  return el(
    'tr',
    { 'data-person-id': r.personId, 'data-active': String(r.active) },
    el('td', { 'data-label': '编号 Id' }, r.personId),
    el('td', { 'data-label': '姓名 Name' }, r.maskedName),
    el('td', { 'data-label': '证件 ID' }, r.maskedIdNumber ?? '—'),
    el('td', { 'data-label': '户 Household' }, r.householdId ?? '—'),
    el('td', { 'data-label': '类别 Kind' }, bilingual(labelOf(KIND_LABELS, r.kind))),
    el('td', { 'data-label': '健康 Health' }, healthBadge(r.health), ' ', health),
    el('td', { 'data-label': '状态 Status' }, bilingual(r.active ? ['有效', 'Active'] : ['已停用', 'Inactive'])),
    el(
      'td',
      { class: 'row-actions' },
      actionButton(['追踪', 'Trace'], () => pickForTrace(r), 'primary trace-resident'),
      actionButton(['通行证', 'Passes'], () => showPassesOf(r.personId), 'passes-resident'),
      actionButton(['编辑', 'Edit'], () => openResidentForm(r), 'edit-resident'),
      actionButton(['查看身份', 'Reveal'], () => askReveal(r), 'reveal-resident'),
      actionButton(
        r.active ? ['停用', 'Deactivate'] : ['启用', 'Activate'],
        () => setActive(r, !r.active),
        'toggle-resident',
      ),
      actionButton(['删除', 'Delete'], () => deleteResident(r), 'danger delete-resident'),
    ),
  );
}

async function setHealth(r, colour) {
  $('residents-error').textContent = '';
  try {
    await api('/health', { method: 'PUT', body: [{ personId: r.personId, colour, ts: Date.now() }] });
    await loadResidents();
  } catch (err) {
    $('residents-error').textContent = `健康码未更新 · Health not updated: ${describeError(err)}`;
    await loadResidents();
  }
}

async function setActive(r, active) {
  $('residents-error').textContent = '';
  if (!active) {
    const ok = await confirmAction(
      '停用住户 Deactivate resident',
      `${r.maskedName} (${r.personId}) 将无法通行，记录保留。 ${r.personId} can no longer pass; the record is kept.`,
    );
    if (!ok) return;
  }
  try {
    await api(`/residents/${encodeURIComponent(r.personId)}`, { method: 'PATCH', body: { active } });
    await loadResidents();
  } catch (err) {
    $('residents-error').textContent = describeError(err);
  }
}

async function deleteResident(r) {
  $('residents-error').textContent = '';
  const ok = await confirmAction(
    '删除住户 Delete resident',
    `永久删除 ${r.maskedName} (${r.personId})？闸机将不再认识此人。 Delete ${r.personId} for good? Gates will no longer know this person.`,
  );
  if (!ok) return;
  try {
    await api(`/residents/${encodeURIComponent(r.personId)}`, { method: 'DELETE' });
    await loadResidents();
  } catch (err) {
    $('residents-error').textContent = describeError(err);
  }
}

let searchTimer = null;
$('resident-search').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    residentsView.offset = 0;
    loadResidents();
  }, 250);
});
$('resident-status').addEventListener('change', () => {
  residentsView.offset = 0;
  loadResidents();
});
$('residents-prev').addEventListener('click', () => {
  residentsView.offset = Math.max(0, residentsView.offset - PAGE_SIZE);
  loadResidents();
});
$('residents-next').addEventListener('click', () => {
  residentsView.offset += PAGE_SIZE;
  loadResidents();
});

// ---- reveal: the full identity, only with a reason, audited, never left on the page ----------

let revealing = null;

function clearReveal() {
  for (const id of ['reveal-name', 'reveal-id', 'reveal-phone']) $(id).textContent = '';
  $('reveal-result').hidden = true;
}

function askReveal(resident) {
  revealing = resident;
  clearReveal();
  $('reveal-form').reset();
  $('reveal-error').textContent = '';
  $('reveal-who').textContent = `${resident.maskedName} (${resident.personId})`;
  $('reveal-submit').hidden = false;
  $('reveal-dialog').showModal();
  $('reveal-reason').focus();
}

$('reveal-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const reason = $('reveal-reason').value.trim();
  if (!reason) {
    $('reveal-error').textContent = '请填写原因 · A reason is required';
    return;
  }
  try {
    const params = new URLSearchParams({ reveal: 'true', reason });
    const identity = await api(`/residents/${encodeURIComponent(revealing.personId)}?${params}`);
    $('reveal-name').textContent = identity.name ?? '—';
    $('reveal-id').textContent = identity.idNumber ?? '—';
    $('reveal-phone').textContent = identity.phone ?? '—';
    $('reveal-result').hidden = false;
    $('reveal-submit').hidden = true;
  } catch (err) {
    $('reveal-error').textContent = describeError(err);
  }
});
$('reveal-close').addEventListener('click', () => {
  // Cleared at once: the dialog's 'close' event comes a task later.
  clearReveal();
  $('reveal-dialog').close();
});
// However the dialog closes (button, Esc), the identity leaves the page with it.
$('reveal-dialog').addEventListener('close', clearReveal);

// ---- add / edit ------------------------------------------------------------------------------

let editing = null;

function openResidentForm(resident) {
  editing = resident ?? null;
  const form = $('resident-form');
  form.reset();
  $('resident-form-error').textContent = '';
  $('resident-form-title').replaceChildren(
    ...(editing
      ? [`编辑 ${editing.maskedName} `, el('small', {}, `Edit ${editing.personId}`)]
      : ['新增住户 ', el('small', {}, 'Add resident')]),
  );
  $('resident-form-hint').hidden = !editing;
  $('rf-name').required = !editing;
  $('rf-name').placeholder = editing ? editing.maskedName : '';
  $('rf-id').placeholder = editing?.maskedIdNumber ?? '';
  $('rf-phone').placeholder = editing?.phoneTail ? `…${editing.phoneTail}` : '';
  if (editing) {
    $('rf-household').value = editing.householdId ?? '';
    $('rf-kind').value = editing.kind;
    $('rf-elderly').checked = editing.elderly;
  }
  $('resident-dialog').showModal();
  $('rf-name').focus();
}

$('resident-add').addEventListener('click', () => openResidentForm(null));
$('resident-cancel').addEventListener('click', () => $('resident-dialog').close());
$('resident-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const value = (id) => $(id).value.trim();
  const body = {};
  if (value('rf-name')) body.name = value('rf-name');
  if (value('rf-id')) body.idNumber = value('rf-id').toUpperCase();
  if (value('rf-phone')) body.phone = value('rf-phone');
  body.householdId = value('rf-household') || null;
  body.kind = $('rf-kind').value;
  body.elderly = $('rf-elderly').checked;
  try {
    if (editing) {
      await api(`/residents/${encodeURIComponent(editing.personId)}`, { method: 'PATCH', body });
    } else {
      await api('/residents', { method: 'POST', body: { ...body, compoundId } });
    }
    $('resident-dialog').close();
    await loadResidents();
  } catch (err) {
    $('resident-form-error').textContent = describeError(err);
  }
});

// ---- import ---------------------------------------------------------------------------------

$('resident-import').addEventListener('click', async () => {
  const file = $('resident-csv').files[0];
  const report = $('import-report');
  report.hidden = false;
  if (!file) {
    report.className = 'report failed';
    report.replaceChildren(bilingual(['请先选择 CSV 文件', 'Choose a CSV file first']));
    return;
  }
  report.className = 'report';
  report.replaceChildren(bilingual(['导入中…', 'Importing…']));
  try {
    const result = await api('/residents/import', { method: 'POST', raw: await file.text(), contentType: 'text/csv' });
    report.className = 'report ok';
    report.replaceChildren(
      el('b', {}, `已导入 ${result.imported} 人（新增 ${result.created}，更新 ${result.updated}）`),
      el('small', {}, ` Imported ${result.imported} (created ${result.created}, updated ${result.updated})`),
    );
    residentsView.offset = 0;
    await loadResidents();
  } catch (err) {
    report.className = 'report failed';
    const rows = err.body?.error?.rows ?? [];
    report.replaceChildren(
      el('p', {}, el('b', {}, '未导入任何数据 · Nothing was imported: '), describeError({ message: err.message })),
      rows.length
        ? el(
            'table',
            { class: 'compact', id: 'import-errors' },
            el(
              'thead',
              {},
              el('tr', {}, el('th', {}, '行 Row'), el('th', {}, '列 Column'), el('th', {}, '问题 Problem')),
            ),
            el(
              'tbody',
              {},
              rows.map((e) => {
                const [zh, en] = translateImportProblem(e);
                return el(
                  'tr',
                  {},
                  el('td', {}, String(e.row)),
                  el('td', {}, e.column ?? '—'),
                  el('td', {}, zh, el('small', { class: 'block' }, en)),
                );
              }),
            ),
          )
        : null,
    );
  }
});

// ---- passes ---------------------------------------------------------------------------------

const passState = (p, now = Date.now()) =>
  p.revokedAt !== null
    ? ['已作废', 'Revoked']
    : p.expiresAt <= now
      ? ['已过期', 'Expired']
      : p.notBefore > now
        ? ['未生效', 'Not yet valid']
        : ['有效', 'Valid'];

async function showPassesOf(personId) {
  $('pass-person').value = personId;
  location.hash = '#passes';
  await loadPersonPasses();
}

async function loadPersonPasses() {
  const personId = $('pass-person').value.trim();
  $('pass-error').textContent = '';
  if (!personId) {
    $('pass-error').textContent = '请填写人员编号 · Enter a person id';
    return;
  }
  try {
    const { passes } = await api(`/web/passes?person=${encodeURIComponent(personId)}`);
    $('person-passes-who').textContent = personId;
    $('person-passes').replaceChildren(
      ...(passes.length === 0
        ? [el('tr', {}, el('td', { colspan: 7, class: 'muted' }, bilingual(['尚未签发', 'No passes issued'])))]
        : passes.map((p) => {
            const state = passState(p);
            return el(
              'tr',
              { 'data-pass-id': p.passId, 'data-state': state[1].toLowerCase().replaceAll(' ', '-') },
              el('td', { class: 'pass-id' }, p.passId),
              el('td', {}, bilingual(labelOf(PASS_KIND_LABELS, p.kind))),
              el('td', {}, `${dateTime(p.notBefore)} → ${dateTime(p.expiresAt)}`),
              el('td', {}, p.useLimit === null ? '∞' : String(p.useLimit)),
              el('td', {}, `${dateTime(p.issuedAt)} · ${p.issuedBy}`),
              el('td', {}, bilingual(state)),
              el(
                'td',
                {},
                p.revokedAt === null && p.expiresAt > Date.now()
                  ? actionButton(['作废', 'Revoke'], () => revokePass(p), 'danger revoke-pass')
                  : null,
              ),
            );
          })),
    );
    $('person-passes-box').hidden = false;
  } catch (err) {
    $('person-passes-box').hidden = true;
    $('pass-error').textContent = `通行证加载失败 · Passes failed to load: ${describeError(err)}`;
  }
}

async function revokePass(p) {
  const ok = await confirmAction(
    '作废通行证 Revoke pass',
    `作废 ${p.passId}？所有闸机将拒绝此码。 Revoke ${p.passId}? Every gate will refuse it.`,
  );
  if (!ok) return;
  try {
    await api(`/passes/${encodeURIComponent(p.passId)}`, { method: 'DELETE' });
  } catch (err) {
    $('pass-error').textContent = describeError(err);
  }
  await loadPersonPasses();
}

$('pass-list-button').addEventListener('click', () => loadPersonPasses());

$('pass-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('pass-error').textContent = '';
  // The last second of the chosen day in the compound's zone.
  const validTo = fromLocalInput($('pass-valid-to').value) + DAY_MS - 1000;
  const uses = $('pass-uses').value;
  try {
    const pass = await api('/passes', {
      method: 'POST',
      body: {
        personId: $('pass-person').value.trim(),
        kind: $('pass-kind').value,
        validTo,
        ...(uses ? { useLimit: Number(uses) } : {}),
      },
    });
    const svg = await api(`/passes/${pass.passId}/qr.svg`, { as: 'text' });
    // As an image, never as inline markup: an SVG shown through <img> cannot run script. A data:
    // URL, which the cloud's Content-Security-Policy allows for images (blob: it does not).
    $('pass-qr').src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
    const resident = residentsView.rows.find((r) => r.personId === pass.personId);
    $('pass-card-person').textContent = resident ? `${resident.maskedName} (${pass.personId})` : pass.personId;
    $('pass-card-kind').replaceChildren(bilingual(labelOf(PASS_KIND_LABELS, pass.kind)));
    $('pass-card-valid').textContent =
      `${dateTime(pass.notBefore)} → ${dateTime(pass.expiresAt)}${pass.useLimit ? ` · ${pass.useLimit}×` : ''}`;
    $('pass-card-id').textContent = pass.passId;
    $('pass-card').hidden = false;
    if (!$('person-passes-box').hidden) await loadPersonPasses();
  } catch (err) {
    $('pass-error').textContent = describeError(err);
  }
});
$('pass-print').addEventListener('click', () => window.print());

// ---- tracing --------------------------------------------------------------------------------

const MATCH_LABELS = {
  'person-id': ['人员编号', 'Person id'],
  'masked-name': ['脱敏姓名', 'Masked name'],
  household: ['户号', 'Household'],
  'phone-tail': ['手机尾号', 'Phone tail'],
  'household-member': ['同户成员', 'Same household'],
};
let traced = null;

function pickForTrace(person) {
  $('trace-person-id').value = person.personId;
  $('trace-person-id').dataset.masked = person.maskedName;
  location.hash = '#trace';
  $('trace-reason').focus();
}

$('find-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('find-error').textContent = '';
  const params = new URLSearchParams({ compound: compoundId, q: $('find-q').value.trim(), limit: '50' });
  try {
    const { residents, total } = await api(`/web/residents?${params}`);
    $('find-table').hidden = false;
    $('find-rows').replaceChildren(
      ...(residents.length === 0
        ? [el('tr', {}, el('td', { colspan: 6, class: 'muted' }, bilingual(['查无此人', 'Nobody found'])))]
        : residents.map((p) =>
            el(
              'tr',
              {
                'data-person-id': p.personId,
                'data-matched-by': p.matchedBy ?? '',
                class: p.matchedBy === 'household-member' ? 'household-member' : '',
              },
              el('td', {}, p.maskedName, ' ', el('small', {}, p.personId)),
              el('td', {}, p.householdId ?? '—'),
              el('td', {}, p.phoneTail ? `…${p.phoneTail}` : '—'),
              el('td', {}, healthBadge(p.health)),
              el(
                'td',
                {},
                el('span', { class: `match ${p.matchedBy ?? ''}` }, bilingual(labelOf(MATCH_LABELS, p.matchedBy))),
              ),
              el(
                'td',
                {},
                actionButton(['追踪', 'Trace'], () => pickForTrace(p), 'primary trace-person'),
              ),
            ),
          )),
      ...(total > residents.length
        ? [
            el(
              'tr',
              {},
              el(
                'td',
                { colspan: 6, class: 'muted' },
                `还有 ${total - residents.length} 人，请缩小范围 · ${total - residents.length} more: narrow the search`,
              ),
            ),
          ]
        : []),
    );
  } catch (err) {
    $('find-table').hidden = true;
    $('find-error').textContent = describeError(err);
  }
});

function traceParams(extra = {}) {
  return new URLSearchParams({
    from: String(fromLocalInput($('trace-from').value)),
    to: String(fromLocalInput($('trace-to').value)),
    reason: $('trace-reason').value.trim(),
    ...extra,
  });
}

$('trace-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  await runTrace($('trace-person-id').value.trim());
});

async function runTrace(personId) {
  $('trace-error').textContent = '';
  $('trace-result').hidden = true;
  try {
    const id = encodeURIComponent(personId);
    const windowMin = $('trace-window').value || '15';
    const [timeline, contacts] = await Promise.all([
      api(`/trace/person/${id}?${traceParams()}`),
      api(`/trace/contacts/${id}?${traceParams({ windowMin })}`),
    ]);
    traced = { personId, windowMin };
    $('trace-person').textContent =
      `${timeline.person?.maskedName ?? $('trace-person-id').dataset.masked ?? ''} (${personId}) · ${zoneLabel()}`;
    $('trace-timeline').replaceChildren(
      ...(timeline.passages.length === 0
        ? [
            el(
              'tr',
              {},
              el('td', { colspan: 6, class: 'muted' }, bilingual(['此期间无通行', 'No passages in this window'])),
            ),
          ]
        : timeline.passages.map((p) =>
            el(
              'tr',
              {},
              el('td', {}, dateTime(p.ts)),
              el('td', {}, p.gateName ?? p.gateId),
              el('td', {}, bilingual(labelOf(DIRECTION_LABELS, p.direction))),
              el('td', {}, bilingual(labelOf(METHOD_LABELS, p.method))),
              el('td', {}, el('span', { class: `result ${p.result}` }, labelOf(RESULT_LABELS, p.result)[0])),
              el('td', {}, bilingual(labelOf(REASON_LABELS, p.reason))),
            ),
          )),
    );
    $('trace-contacts').replaceChildren(
      ...(contacts.contacts.length === 0
        ? [el('tr', {}, el('td', { colspan: 5, class: 'muted' }, bilingual(['无密接', 'No contacts'])))]
        : contacts.contacts.map((c) =>
            el(
              'tr',
              { 'data-person-id': c.personId, class: c.household ? 'household-member' : '' },
              el('td', {}, String(c.rank)),
              el('td', {}, c.maskedName ?? c.personId, ' ', el('small', {}, c.personId)),
              el('td', {}, String(c.sharedPassages.length)),
              el('td', {}, c.closestGapMs === null ? '—' : duration(c.closestGapMs)),
              el(
                'td',
                {},
                c.household
                  ? el('span', { class: 'match household-member' }, bilingual(['同户', 'Same household']))
                  : '',
              ),
            ),
          )),
    );
    $('trace-result').hidden = false;
  } catch (err) {
    $('trace-error').textContent = describeError(err);
  }
}

async function exportCsv(kind) {
  if (!traced) return;
  const id = encodeURIComponent(traced.personId);
  const path =
    kind === 'contacts'
      ? `/trace/contacts/${id}?${traceParams({ windowMin: traced.windowMin, format: 'csv' })}`
      : `/trace/person/${id}?${traceParams({ format: 'csv' })}`;
  try {
    const { blob, disposition } = await api(path, { as: 'blob' });
    saveBlob(blob, fileNameOf(disposition, `${kind}-${traced.personId}.csv`));
  } catch (err) {
    $('trace-error').textContent = describeError(err);
  }
}
$('export-contacts').addEventListener('click', () => exportCsv('contacts'));
$('export-timeline').addEventListener('click', () => exportCsv('timeline'));

// ---- audit log ------------------------------------------------------------------------------

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
async function loadAudit(more = false) {
  // Only the latest request may fill the table: an earlier, slower answer must not replace it.
  const load = ++auditLoad;
  $('audit-error').textContent = '';
  const params = new URLSearchParams({ compound: compoundId, limit: '50' });
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

// ---- start ----------------------------------------------------------------------------------

async function selectCompound(id) {
  compoundId = id;
  const compound = currentCompound();
  setTimeZone(compound?.timeZone);
  $('zone-label').textContent = `时间按小区时区 Times in the compound's zone: ${zoneLabel()}`;
  for (const node of document.querySelectorAll('.compound-example')) node.textContent = id;
  renderMode();
  residentsView.offset = 0;
  await Promise.all([loadStats(), loadResidents(), loadAudit(false)]);
}

const now = Date.now();
async function start() {
  try {
    ({ compounds } = await api('/compounds'));
  } catch (err) {
    $('stats-status').hidden = false;
    statsStatus('failed', `小区列表加载失败 · Compounds failed to load: ${describeError(err)}`);
    $('stats-status')
      .querySelector('.retry')
      ?.addEventListener('click', () => location.reload());
    return;
  }
  $('compound').replaceChildren(...compounds.map((c) => el('option', { value: c.id }, `${c.name} (${c.id})`)));
  const initial = session.compound ?? compounds[0]?.id;
  if (initial) {
    $('compound').value = initial;
    setTimeZone(currentCompoundOf(initial)?.timeZone);
  }
  $('trace-from').value = localInputValue(now - 14 * DAY_MS);
  $('trace-to').value = localInputValue(now + 60_000);
  $('pass-valid-to').value = localInputValue(now + 30 * DAY_MS).slice(0, 10);
  for (const field of ['trace-from', 'trace-to', 'pass-valid-to']) $(field).defaultValue = $(field).value;
  // What an expired session left typed comes back before the first loads read the fields.
  restoreDrafts();
  if ($('period').value === 'custom') {
    $('custom-from-box').hidden = false;
    $('custom-to-box').hidden = false;
  }
  if (initial) await selectCompound($('compound').value || initial);
  $('compound').addEventListener('change', () => selectCompound($('compound').value));
  setInterval(() => {
    if (document.visibilityState === 'visible') loadStats();
  }, STATS_REFRESH_MS);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && statsShown && Date.now() - statsShown.at > STATS_REFRESH_MS)
      loadStats();
  });
  document.body.dataset.ready = 'true';
}

function currentCompoundOf(id) {
  return compounds.find((c) => c.id === id);
}

await start();
