// `/console`: the guard console. Gates, open alarms and the passage feed, kept current over the
// live stream; every reconnect reloads gates and alarms so nothing missed while away stays stale.
//
// Honest states (docs/web.md): a load that failed says so with a retry — never "no alarms"; a
// stream without heartbeats is shown stale, a lost network offline, on the header, in a banner and
// on every gate card. Gate cards are built once and updated in place (focus stays where it is).
import { bilingual, clock, dateTime, el, setTimeZone, zoneLabel } from './format.js';
import {
  ALARM_LABELS,
  DEVICE_LABELS,
  DEVICE_STATE_LABELS,
  DIRECTION_LABELS,
  HEALTH_LABELS,
  labelOf,
  METHOD_LABELS,
  MODE_LABELS,
  REASON_LABELS,
  RESULT_LABELS,
} from './labels.js';
import { openLiveStream } from './live-stream.js';
import { api, describeError, requireSession, restoreDrafts } from './session.js';

const FEED_LIMIT = 300;
const session = requireSession(['guard', 'manager', 'admin']);
const compound = session.compound ?? new URLSearchParams(location.search).get('compound') ?? undefined;
const inCompound = compound ? `compound=${encodeURIComponent(compound)}` : '';
const $ = (id) => document.getElementById(id);
const BASE_TITLE = document.title;

/** gateId → { gate, status, note, card } */
const gates = new Map();
const gatesBox = $('gates');
const alarmsList = $('alarms');
const feed = $('feed');
/** The live link: 'connecting' | 'open' | 'stale' | 'closed' | 'offline'. */
let link = 'connecting';
let lastDataAt = null;

// ---- load states: loading, failed (with retry), ok -------------------------------------------

/** Shows the state of one panel's load; a failure carries its message and a retry button. */
function loadState(id, state, { error, retry } = {}) {
  const box = $(id);
  box.dataset.state = state;
  if (state === 'ok') {
    box.replaceChildren();
    box.hidden = true;
    return;
  }
  box.hidden = false;
  if (state === 'loading') {
    box.replaceChildren(bilingual(['加载中…', 'Loading…']));
    return;
  }
  box.replaceChildren(
    el('b', {}, '加载失败 '),
    el('small', {}, 'Failed to load'),
    el('span', { class: 'why' }, ` — ${describeError(error)}`),
    el('button', { type: 'button', class: 'small retry', onclick: retry }, '重试 ', el('small', {}, 'Retry')),
  );
}

async function guarded(id, load) {
  const run = async () => {
    loadState(id, $(id).dataset.state === 'ok' ? 'ok' : 'loading');
    try {
      await load();
      loadState(id, 'ok');
    } catch (error) {
      loadState(id, 'failed', { error, retry: run });
      onLoadFailed(id);
    }
  };
  return run();
}

// ---- gates ----------------------------------------------------------------------------------

function buildCard(entry) {
  const { gate } = entry;
  const parts = {
    online: el('span', { class: 'online' }),
    mode: el('dd', { class: 'mode' }),
    journal: el('dd', { class: 'journal-depth' }),
    devices: el('dd', { class: 'devices' }),
    updated: el('dd', { class: 'updated' }),
    note: el('p', { class: 'muted note', hidden: true }),
  };
  const root = el(
    'article',
    { class: 'gate', 'data-gate-id': gate.id },
    el('header', {}, el('span', { class: 'name' }, gate.name), parts.online),
    el(
      'dl',
      {},
      el('dt', {}, '模式 Mode'),
      parts.mode,
      el('dt', {}, '待上传 Journal'),
      parts.journal,
      el('dt', {}, '设备 Devices'),
      parts.devices,
      el('dt', {}, '更新 Updated'),
      parts.updated,
    ),
    parts.note,
    el(
      'button',
      { type: 'button', class: 'open-gate', onclick: () => askOpen(entry.gate) },
      '远程开门 ',
      el('small', {}, 'Remote open'),
    ),
  );
  entry.card = { root, ...parts };
}

/** What a card says: the gate's own report, unless the console's view of it is out of date. */
function cardState({ status }) {
  if (link !== 'open') return link === 'stale' ? 'stale' : 'link-down';
  if (!status) return 'unknown';
  return status.online ? 'online' : 'offline';
}

const CARD_TEXT = {
  online: ['在线', 'Online'],
  offline: ['离线', 'Offline'],
  unknown: ['未上报', 'No status'],
  stale: ['数据过期', 'Stale'],
  'link-down': ['连接中断', 'Link down'],
};

/** Updates one card's fields in place: the same elements, so focus and selection stay. */
function updateCard(entry) {
  const { status, card } = entry;
  const state = cardState(entry);
  const online = status ? String(status.online) : 'unknown';
  if (card.root.dataset.online !== online) card.root.dataset.online = online;
  if (card.root.dataset.state !== state) {
    card.root.dataset.state = state;
    card.online.replaceChildren(bilingual(CARD_TEXT[state]));
  }
  const last = status?.ts ? clock(status.ts) : '–';
  const modeKey = status?.mode ?? '';
  if (card.mode.dataset.mode !== modeKey) {
    card.mode.dataset.mode = modeKey;
    card.mode.replaceChildren(
      status
        ? el('span', { class: 'mode-badge', 'data-mode': status.mode }, bilingual(labelOf(MODE_LABELS, status.mode)))
        : '–',
    );
  }
  setText(card.journal, status ? String(status.journalDepth) : '–');
  const devices = status?.devices ?? {};
  const deviceKey = Object.keys(DEVICE_LABELS)
    .map((d) => devices[d] ?? 'absent')
    .join(',');
  if (card.devices.dataset.key !== deviceKey) {
    card.devices.dataset.key = deviceKey;
    card.devices.replaceChildren(
      ...Object.keys(DEVICE_LABELS).map((device) => {
        const s = devices[device] ?? 'absent';
        return el(
          'span',
          { class: `pill ${s}`, title: labelOf(DEVICE_STATE_LABELS, s).join(' / ') },
          `${DEVICE_LABELS[device][0]} ${labelOf(DEVICE_STATE_LABELS, s)[0]}`,
        );
      }),
    );
  }
  setText(card.updated, state === 'stale' || state === 'link-down' ? `${last} (最后已知 last known)` : last);
  card.note.hidden = !entry.note;
  setText(card.note, entry.note ?? '');
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function renderGates() {
  if (gates.size === 0) {
    gatesBox.replaceChildren(el('p', { class: 'empty' }, bilingual(['没有闸机', 'No gates'])));
    return;
  }
  const sorted = [...gates.values()].sort((a, b) => a.gate.name.localeCompare(b.gate.name));
  for (const entry of sorted) {
    if (!entry.card) buildCard(entry);
    updateCard(entry);
  }
  // Re-insert only when the order or membership changed: moving a node would drop its focus.
  const current = [...gatesBox.children];
  if (current.length !== sorted.length || sorted.some((e, i) => current[i] !== e.card.root)) {
    gatesBox.replaceChildren(...sorted.map((e) => e.card.root));
  }
  renderGateFilter();
  // Rows drawn before the gates were known show the gate id: give them the name now.
  for (const cell of feed.querySelectorAll('td.gate-name')) {
    const name = gateName(cell.parentElement.dataset.gate);
    if (cell.textContent !== name) cell.textContent = name;
  }
  for (const cell of alarmsList.querySelectorAll('.gate-name')) {
    const name = gateName(cell.dataset.gate);
    if (cell.textContent !== name) cell.textContent = name;
  }
}

async function loadGates() {
  const { gates: list } = await api(`/gates${inCompound ? `?${inCompound}` : ''}`);
  const ids = new Set(list.map((g) => g.id));
  for (const id of gates.keys()) if (!ids.has(id)) gates.delete(id);
  for (const gate of list) {
    const known = gates.get(gate.id);
    if (known) {
      known.gate = gate;
      known.status = gate.status;
    } else gates.set(gate.id, { gate, status: gate.status, note: undefined, card: undefined });
  }
  renderGates();
}

function onStatus(status) {
  const known = gates.get(status.gateId);
  if (!known) {
    guarded('gates-state', loadGates);
    return;
  }
  known.status = status;
  updateCard(known);
}

// ---- alarms ---------------------------------------------------------------------------------

const gateName = (gateId) => gates.get(gateId)?.gate.name ?? gateId;
/** Ids seen since the page opened; a new one rings (the first load only fills it). */
const knownAlarms = new Set();
let alarmsLoaded = false;
let alarmsFailed = false;

function renderAlarms(alarms) {
  alarmsList.replaceChildren(
    ...alarms.map((alarm) =>
      el(
        'li',
        { class: 'alarm', 'data-alarm-id': alarm.id },
        el('span', { class: 'what' }, bilingual(labelOf(ALARM_LABELS, alarm.kind))),
        el(
          'span',
          { class: 'meta' },
          `${whenOf(alarm.ts)} · `,
          // Named again when the gates load (an alarm can be drawn before them).
          el('span', { class: 'gate-name', 'data-gate': alarm.gateId }, gateName(alarm.gateId)),
          alarm.detail ? ` · ${alarm.detail}` : '',
        ),
        el(
          'button',
          { type: 'button', class: 'ack', onclick: () => askAck(alarm) },
          '确认 ',
          el('small', {}, 'Acknowledge'),
        ),
      ),
    ),
  );
  updateAlarmCount();
}

/** The time of day for today's alarms, the date too for older ones (in the compound's zone). */
function whenOf(ts) {
  return dateTime(ts).slice(0, 10) === dateTime(Date.now()).slice(0, 10) ? clock(ts) : dateTime(ts);
}

function updateAlarmCount() {
  const count = alarmsList.children.length;
  const badge = $('alarm-count');
  badge.textContent = alarmsFailed ? '?' : String(count);
  badge.dataset.zero = String(count === 0 && !alarmsFailed);
  // "No open alarms" only after a load that succeeded, never after a failure.
  $('alarms-empty').hidden = count > 0 || alarmsFailed || !alarmsLoaded;
  updateTitle();
}

function updateTitle() {
  const count = alarmsList.children.length;
  const marks = [];
  if (alarmsFailed) marks.push('!');
  else if (count > 0) marks.push(`(${count})`);
  if (link !== 'open') marks.push('⚠');
  document.title = marks.length ? `${marks.join(' ')} ${BASE_TITLE}` : BASE_TITLE;
}

async function loadAlarms() {
  const params = new URLSearchParams({ state: 'open', limit: '100' });
  if (compound) params.set('compound', compound);
  let alarms;
  try {
    ({ alarms } = await api(`/alarms?${params}`));
  } catch (err) {
    alarmsFailed = true;
    updateAlarmCount();
    throw err;
  }
  alarmsFailed = false;
  const fresh = alarmsLoaded ? alarms.filter((a) => !knownAlarms.has(a.id)) : [];
  for (const a of alarms) knownAlarms.add(a.id);
  alarmsLoaded = true;
  renderAlarms(alarms);
  if (fresh.length > 0) announce(fresh);
}

function removeAlarm(id) {
  alarmsList.querySelector(`[data-alarm-id="${Number(id)}"]`)?.remove();
  updateAlarmCount();
}

const ackDialog = $('ack-dialog');
let ackTarget = null;

function askAck(alarm) {
  ackTarget = alarm;
  $('ack-error').textContent = '';
  $('ack-form').reset();
  $('ack-what').textContent =
    `${labelOf(ALARM_LABELS, alarm.kind).join(' · ')} — ${clock(alarm.ts)} · ${gateName(alarm.gateId)}`;
  ackDialog.showModal();
  $('ack-note').focus();
}

$('ack-cancel').addEventListener('click', () => ackDialog.close());
$('ack-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const note = $('ack-note').value.trim();
  try {
    await api(`/alarms/${ackTarget.id}/ack`, { method: 'POST', body: note ? { note } : {} });
    removeAlarm(ackTarget.id);
    ackDialog.close();
  } catch (err) {
    $('ack-error').textContent = `确认失败 · Acknowledge failed: ${describeError(err)}`;
  }
});

// ---- new-alarm alerts: sound (mutable), title badge, optional desktop notification ------------

const prefs = {
  get: (key, fallback) => {
    try {
      return JSON.parse(localStorage.getItem(`anxin.console.${key}`) ?? JSON.stringify(fallback));
    } catch {
      return fallback;
    }
  },
  set: (key, value) => localStorage.setItem(`anxin.console.${key}`, JSON.stringify(value)),
};
let soundOn = prefs.get('sound', true);
let notifyOn = prefs.get('notify', false);
let audio = null;

function renderToggles() {
  const sound = $('sound-toggle');
  sound.setAttribute('aria-pressed', String(soundOn));
  sound.replaceChildren(...(soundOn ? ['声音开 ', el('small', {}, 'Sound on')] : ['静音 ', el('small', {}, 'Muted')]));
  const notify = $('notify-toggle');
  const allowed = 'Notification' in window && Notification.permission === 'granted';
  notify.setAttribute('aria-pressed', String(notifyOn && allowed));
  notify.hidden = !('Notification' in window);
  const wall = document.body.classList.contains('wall');
  $('wall-toggle').setAttribute('aria-pressed', String(wall));
}

/** Two short tones through Web Audio (no sound file to load). */
function ring() {
  if (!soundOn) return;
  const button = $('sound-toggle');
  button.dataset.played = String(Number(button.dataset.played) + 1);
  try {
    audio ??= new AudioContext();
    audio.resume().catch(() => undefined);
    for (const at of [0, 0.35]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.25, audio.currentTime + at);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + at + 0.3);
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + at);
      osc.stop(audio.currentTime + at + 0.3);
    }
  } catch (err) {
    console.warn('alarm sound not played', err);
  }
}

function announce(alarms) {
  ring();
  if (notifyOn && 'Notification' in window && Notification.permission === 'granted') {
    for (const alarm of alarms.slice(0, 3)) {
      const [zh, en] = labelOf(ALARM_LABELS, alarm.kind);
      new Notification(`告警 ${zh} · ${en}`, {
        body: `${gateName(alarm.gateId)} · ${clock(alarm.ts)}${alarm.detail ? ` · ${alarm.detail}` : ''}`,
        tag: `anxin-alarm-${alarm.id}`,
      });
    }
  }
}

$('sound-toggle').addEventListener('click', () => {
  soundOn = !soundOn;
  prefs.set('sound', soundOn);
  // The click is the user gesture browsers want before audio may play.
  if (soundOn) {
    audio ??= new AudioContext();
    audio.resume().catch(() => undefined);
  }
  renderToggles();
});
$('notify-toggle').addEventListener('click', async () => {
  if (!notifyOn && Notification.permission !== 'granted') {
    const answer = await Notification.requestPermission().catch(() => 'denied');
    if (answer !== 'granted') {
      notifyOn = false;
      prefs.set('notify', false);
      renderToggles();
      return;
    }
  }
  notifyOn = !notifyOn;
  prefs.set('notify', notifyOn);
  renderToggles();
});
$('wall-toggle').addEventListener('click', () => {
  const wall = !document.body.classList.contains('wall');
  document.body.classList.toggle('wall', wall);
  prefs.set('wall', wall);
  renderToggles();
});
if (prefs.get('wall', false) || new URLSearchParams(location.search).get('wall') === '1') {
  document.body.classList.add('wall');
}

// ---- passages: pause, filter ----------------------------------------------------------------

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

function renderGateFilter() {
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

function addEntry(entry) {
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

async function loadRecentPassages() {
  const { events } = await api(`/events?limit=50${inCompound ? `&${inCompound}` : ''}`);
  // Stored passages carry the masked name, like the live feed.
  feed.replaceChildren(...events.map((e) => feedRow(e, false)));
  refilter();
}

/** After the live stream was down: the stored passages it missed join the feed, in time order. */
async function mergeRecentPassages() {
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

// ---- remote open ----------------------------------------------------------------------------

const dialog = $('open-dialog');
const openForm = $('open-form');
const openError = $('open-error');
let openTarget = null;

function askOpen(gate) {
  openTarget = gate;
  openError.textContent = '';
  openForm.reset();
  $('open-gate-name').textContent = `${gate.name} (${gate.id})`;
  dialog.showModal();
  $('open-reason').focus();
}

$('open-cancel').addEventListener('click', () => dialog.close());
openForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const reason = openForm.reason.value.trim();
  if (!reason) {
    openError.textContent = '请填写原因 · A reason is required';
    return;
  }
  try {
    await api(`/gates/${encodeURIComponent(openTarget.id)}/open`, {
      method: 'POST',
      body: { direction: openForm.direction.value, reason },
    });
    const known = gates.get(openTarget.id);
    if (known) {
      known.note = `${clock(Date.now())} 已发送开门指令 · Open command sent`;
      updateCard(known);
    }
    dialog.close();
  } catch (err) {
    openError.textContent = describeError(err);
  }
});

// ---- the live link ----------------------------------------------------------------------------

const LINK_TEXT = {
  connecting: ['连接中', 'Connecting'],
  open: ['实时', 'Live'],
  stale: ['数据停滞', 'Stale'],
  closed: ['已断开', 'Disconnected'],
  offline: ['网络断开', 'Offline'],
};

function renderLink() {
  const header = $('live-state');
  header.dataset.state = link;
  const since = lastDataAt ? ` · ${clock(lastDataAt)}` : '';
  header.textContent = `${LINK_TEXT[link].join(' ')}${link === 'open' ? '' : since}`;
  const banner = $('link-banner');
  // The first connect is not a failure; anything after it is said in words.
  banner.hidden = link === 'open' || (link === 'connecting' && lastDataAt === null);
  if (!banner.hidden) {
    banner.dataset.state = link;
    const lastZh = lastDataAt ? `，最后收到数据 ${clock(lastDataAt)}` : '';
    const lastEn = lastDataAt ? `; last data at ${clock(lastDataAt)}` : '';
    banner.replaceChildren(
      el('b', {}, `${LINK_TEXT[link][0]}：以下状态可能已过期${lastZh}。`),
      ' ',
      el('small', {}, `${LINK_TEXT[link][1]}: what is shown may be out of date${lastEn}. Reconnecting…`),
    );
  }
  for (const entry of gates.values()) if (entry.card) updateCard(entry);
  updateTitle();
}

function onLoadFailed() {
  updateTitle();
}

// ---- start ----------------------------------------------------------------------------------

async function loadZone() {
  try {
    const info = await api(`/web/compound${inCompound ? `?${inCompound}` : ''}`);
    setTimeZone(info.timeZone);
    $('zone-label').textContent = `时间按小区时区 Times in the compound's zone: ${zoneLabel()}`;
  } catch (err) {
    $('zone-label').textContent =
      `小区时区未知，按本机时区 Compound zone unknown, showing ${zoneLabel()} (${describeError(err)})`;
  }
}

renderToggles();
renderLink();
await loadZone();
await Promise.all([
  guarded('gates-state', loadGates),
  guarded('alarms-state', loadAlarms),
  guarded('feed-state', loadRecentPassages),
]);
restoreDrafts();
const stream = openLiveStream({
  compound,
  handlers: {
    entry: addEntry,
    status: onStatus,
    // An alarm arrives without its id; the open list from the server has it.
    alarm: () => guarded('alarms-state', loadAlarms),
    'alarm-ack': (ack) => removeAlarm(ack.alarmId),
  },
  onState: (state, info) => {
    link = state;
    lastDataAt = info.lastDataAt;
    renderLink();
  },
  // Every (re)open: what changed while the stream was down is read back, passages included.
  onOpen: () => {
    guarded('gates-state', loadGates);
    guarded('alarms-state', loadAlarms);
    guarded('feed-state', mergeRecentPassages);
  },
});
// The header's "last data" time moves on while the link is down.
setInterval(() => {
  lastDataAt = stream.lastDataAt();
  if (link !== 'open') renderLink();
}, 5000);
document.body.dataset.ready = 'true';
