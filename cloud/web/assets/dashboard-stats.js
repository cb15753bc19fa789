// The dashboard's statistics: the period (today, 24 h, 7 / 30 days, whole days of the compound),
// the key figures, the hourly chart, granted / denied by reason, the method split and the per-gate
// table, their CSV exports, and the refresh every minute. A failed load is shown as a failure —
// never as the previous numbers under a new label; a failed refresh of the same window keeps the
// figures and says they are stale.
import { bilingual, dateTime, el, fromLocalInput, localInputValue, midnightOf } from './format.js';
import { renderHourlyChart } from './hourly-chart.js';
import { labelOf, METHOD_LABELS, REASON_LABELS } from './labels.js';
import { api, describeError } from './session.js';
import { $, csvText, DAY_MS, inCompound, saveBlob, view } from './dashboard-common.js';

/** Statistics refresh on their own every minute; `?refresh=SECONDS` (at least 2) for a wall screen. */
const STATS_REFRESH_MS = Math.max(2, Number(new URLSearchParams(location.search).get('refresh')) || 60) * 1000;

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

export function statsStatus(state, message) {
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

export async function loadStats() {
  if (!view.compoundId) return;
  const seq = ++statsSeq;
  const window = periodWindow();
  const key = `${view.compoundId}|${$('period').value}|${$('stats-from').value}|${$('stats-to').value}`;
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
    `gate-stats-${view.compoundId}-${w.fromLabel.slice(0, 10)}-${w.toLabel.slice(0, 10)}.csv`,
  );
});

$('export-hourly').addEventListener('click', () => {
  if (!hourlyRows) return;
  const { window: w, hours } = hourlyRows;
  const rows = hours.map((h) => [h.label, h.crossingsIn, h.crossingsOut, h.granted, h.denied]);
  saveBlob(
    new Blob([csvText(['hour', 'in', 'out', 'granted', 'denied'], rows)], { type: 'text/csv;charset=utf-8' }),
    `hourly-${view.compoundId}-${w.fromLabel.slice(0, 10)}-${w.toLabel.slice(0, 10)}.csv`,
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

/** Reloads every STATS_REFRESH_MS while the page is visible, and at once when it comes back after longer. */
export function keepStatsFresh() {
  setInterval(() => {
    if (document.visibilityState === 'visible') loadStats();
  }, STATS_REFRESH_MS);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && statsShown && Date.now() - statsShown.at > STATS_REFRESH_MS)
      loadStats();
  });
}
