// The live passage feed of the guard console: newest first, at most FEED_LIMIT rows; pause
// (what arrives meanwhile waits, counted), refusals only, one gate. After the live stream was down
// the stored passages it missed are merged in, in time order.
import { bilingual, clock, el } from './format.js';
import { DIRECTION_LABELS, HEALTH_LABELS, labelOf, METHOD_LABELS, REASON_LABELS, RESULT_LABELS } from './labels.js';
import { api } from './session.js';
import { $, gateName, gates, inCompound } from './console-common.js';

const FEED_LIMIT = 300;
const feed = $('feed');

const feedFilter = { result: '', gate: '' };
let paused = false;
/** Entries that arrived while paused, newest first. */
let queued = [];

function feedRow(entry, fresh) {
  const [reasonZh, reasonEn] = labelOf(REASON_LABELS, entry.reason);
  const row = el(
    'tr',
    {
      class: `${entry.result}${fresh ? ' fresh' : ''}`,
      'data-gate': entry.gateId,
      'data-seq': entry.seq,
      'data-ts': entry.ts,
      'data-result': entry.result,
      'data-visitor': entry.visitor ? 'true' : null,
    },
    el('td', { class: 'time', 'data-label': '时间 Time' }, clock(entry.ts)),
    el('td', { class: 'gate-name', 'data-label': '闸机 Gate' }, gateName(entry.gateId)),
    el('td', { class: 'dir', 'data-label': '方向 Dir.' }, bilingual(labelOf(DIRECTION_LABELS, entry.direction))),
    el('td', { class: 'method', 'data-label': '方式 Method' }, bilingual(labelOf(METHOD_LABELS, entry.method))),
    el(
      'td',
      { class: 'health-cell', 'data-label': '健康 Health' },
      el('span', { class: `health ${entry.health}` }, labelOf(HEALTH_LABELS, entry.health)[0]),
    ),
    el(
      'td',
      { class: 'masked-name', 'data-label': '姓名 Name' },
      entry.maskedName ?? '—',
      // A visitor invited by a household (cloud/me/): the guard checks the phone tail on the invitation.
      entry.visitor ? el('span', { class: 'visitor-tag' }, '访客 ', el('small', {}, 'Visitor')) : null,
    ),
    el(
      'td',
      { class: 'result-cell', 'data-label': '结果 Result' },
      el('span', { class: `result ${entry.result}` }, bilingual(labelOf(RESULT_LABELS, entry.result))),
    ),
    el('td', { class: 'reason', 'data-label': '原因 Reason' }, reasonZh, el('small', {}, reasonEn)),
  );
  applyFilter(row);
  return row;
}

function applyFilter(row) {
  row.hidden =
    (feedFilter.result !== '' && row.dataset.result !== feedFilter.result) ||
    (feedFilter.gate !== '' && row.dataset.gate !== feedFilter.gate);
}

function refilter() {
  for (const row of feed.children) applyFilter(row);
  const visible = [...feed.children].some((r) => !r.hidden);
  $('feed-filtered-empty').hidden = visible || feed.children.length === 0;
}

export function renderGateFilter() {
  const select = $('feed-gate');
  const wanted = ['', ...[...gates.values()].map((g) => g.gate.id)];
  const have = [...select.options].map((o) => o.value);
  if (wanted.join('\n') === have.join('\n')) return;
  const value = select.value;
  select.replaceChildren(
    el('option', { value: '' }, '全部 All gates'),
    ...[...gates.values()].map((g) => el('option', { value: g.gate.id }, g.gate.name)),
  );
  select.value = wanted.includes(value) ? value : '';
}

const shown = (entry) =>
  feed.querySelector(`tr[data-gate="${CSS.escape(entry.gateId)}"][data-seq="${Number(entry.seq)}"]`) !== null ||
  queued.some((q) => q.gateId === entry.gateId && q.seq === entry.seq);

export function addEntry(entry) {
  if (shown(entry)) return;
  if (paused) {
    queued.unshift(entry);
    queued = queued.slice(0, FEED_LIMIT);
    renderQueued();
    return;
  }
  feed.prepend(feedRow(entry, true));
  while (feed.children.length > FEED_LIMIT) feed.lastElementChild.remove();
  refilter();
}

function renderQueued() {
  const box = $('feed-queued');
  box.hidden = !paused;
  box.textContent = `${queued.length} 条新通行待显示 · ${queued.length} new while paused`;
}

$('feed-pause').addEventListener('click', () => {
  paused = !paused;
  const button = $('feed-pause');
  button.setAttribute('aria-pressed', String(paused));
  button.replaceChildren(...(paused ? ['继续 ', el('small', {}, 'Resume')] : ['暂停 ', el('small', {}, 'Pause')]));
  if (!paused) {
    const pending = queued.reverse();
    queued = [];
    for (const entry of pending) addEntry(entry);
  }
  renderQueued();
});
$('feed-result').addEventListener('change', () => {
  feedFilter.result = $('feed-result').value;
  refilter();
});
$('feed-gate').addEventListener('change', () => {
  feedFilter.gate = $('feed-gate').value;
  refilter();
});

export async function loadRecentPassages() {
  const { events } = await api(`/events?limit=50${inCompound ? `&${inCompound}` : ''}`);
  // Stored passages carry the masked name, like the live feed.
  feed.replaceChildren(...events.map((e) => feedRow(e, false)));
  refilter();
}

/** After the live stream was down: the stored passages it missed join the feed, in time order. */
export async function mergeRecentPassages() {
  const { events } = await api(`/events?limit=${FEED_LIMIT}${inCompound ? `&${inCompound}` : ''}`);
  const missed = events.filter((e) => !shown(e));
  if (missed.length === 0) return;
  if (paused) {
    for (const e of missed) addEntry(e);
    return;
  }
  const rows = [...feed.children, ...missed.map((e) => feedRow(e, false))];
  rows.sort((a, b) => Number(b.dataset.ts) - Number(a.dataset.ts) || Number(b.dataset.seq) - Number(a.dataset.seq));
  feed.replaceChildren(...rows.slice(0, FEED_LIMIT));
  refilter();
}
