// `/console`: the guard console. Gates, open alarms and the passage feed, kept current over the
// live stream; every reconnect reloads gates and alarms so nothing missed while away stays stale.
import { bilingual, clock, dateTime, el } from './format.js';
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
import { api, describeError, requireSession } from './session.js';

const FEED_LIMIT = 200;
const session = requireSession(['guard', 'manager', 'admin']);
const compound = session.compound ?? new URLSearchParams(location.search).get('compound') ?? undefined;
const inCompound = compound ? `compound=${encodeURIComponent(compound)}` : '';

/** gateId → { gate, status } */
const gates = new Map();
const gatesBox = document.getElementById('gates');
const alarmsList = document.getElementById('alarms');
const feed = document.getElementById('feed');

// ---- gates ----------------------------------------------------------------------------------

function gateCard({ gate, status, note }) {
  const online = status ? status.online : null;
  const devices = status?.devices ?? {};
  return el(
    'article',
    { class: 'gate', 'data-gate-id': gate.id, 'data-online': online === null ? 'unknown' : String(online) },
    el(
      'header',
      {},
      el('span', { class: 'name' }, gate.name),
      el(
        'span',
        { class: `online ${online ? 'on' : 'off'}` },
        bilingual(online === null ? ['未上报', 'No status'] : online ? ['在线', 'Online'] : ['离线', 'Offline']),
      ),
    ),
    el(
      'dl',
      {},
      el('dt', {}, '模式 Mode'),
      el(
        'dd',
        {},
        status
          ? el('span', { class: 'mode-badge', 'data-mode': status.mode }, bilingual(labelOf(MODE_LABELS, status.mode)))
          : '–',
      ),
      el('dt', {}, '待上传 Journal'),
      el('dd', { class: 'journal-depth' }, status ? String(status.journalDepth) : '–'),
      el('dt', {}, '设备 Devices'),
      el(
        'dd',
        {},
        Object.keys(DEVICE_LABELS).map((device) => {
          const state = devices[device] ?? 'absent';
          return el(
            'span',
            { class: `pill ${state}`, title: labelOf(DEVICE_STATE_LABELS, state).join(' / ') },
            `${DEVICE_LABELS[device][0]} ${labelOf(DEVICE_STATE_LABELS, state)[0]}`,
            ' ',
          );
        }),
      ),
      el('dt', {}, '更新 Updated'),
      el('dd', {}, status?.ts ? clock(status.ts) : '–'),
    ),
    note ? el('p', { class: 'muted' }, note) : null,
    el(
      'button',
      { type: 'button', class: 'open-gate', onclick: () => askOpen(gate) },
      '远程开门 ',
      el('small', {}, 'Remote open'),
    ),
  );
}

function renderGates() {
  if (gates.size === 0) {
    gatesBox.replaceChildren(el('p', { class: 'empty' }, bilingual(['没有闸机', 'No gates'])));
    return;
  }
  const sorted = [...gates.values()].sort((a, b) => a.gate.name.localeCompare(b.gate.name));
  gatesBox.replaceChildren(...sorted.map(gateCard));
}

async function loadGates() {
  const { gates: list } = await api(`/gates${inCompound ? `?${inCompound}` : ''}`);
  for (const gate of list) {
    const known = gates.get(gate.id);
    gates.set(gate.id, { gate, status: gate.status, note: known?.note });
  }
  renderGates();
}

function onStatus(status) {
  const known = gates.get(status.gateId);
  if (!known) {
    loadGates().catch(console.error);
    return;
  }
  known.status = status;
  renderGates();
}

// ---- alarms ---------------------------------------------------------------------------------

function gateName(gateId) {
  return gates.get(gateId)?.gate.name ?? gateId;
}

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
          `${dateTime(alarm.ts)} · ${gateName(alarm.gateId)}${alarm.detail ? ` · ${alarm.detail}` : ''}`,
        ),
        el(
          'button',
          { type: 'button', class: 'ack', onclick: () => acknowledge(alarm.id) },
          '确认 ',
          el('small', {}, 'Acknowledge'),
        ),
      ),
    ),
  );
  updateAlarmCount();
}

function updateAlarmCount() {
  const count = alarmsList.children.length;
  const badge = document.getElementById('alarm-count');
  badge.textContent = String(count);
  badge.dataset.zero = String(count === 0);
  document.getElementById('alarms-empty').hidden = count > 0;
}

async function loadAlarms() {
  const params = new URLSearchParams({ state: 'open', limit: '100' });
  if (compound) params.set('compound', compound);
  const { alarms } = await api(`/alarms?${params}`);
  renderAlarms(alarms);
}

function removeAlarm(id) {
  alarmsList.querySelector(`[data-alarm-id="${Number(id)}"]`)?.remove();
  updateAlarmCount();
}

async function acknowledge(id) {
  try {
    await api(`/alarms/${id}/ack`, { method: 'POST', body: {} });
    removeAlarm(id);
  } catch (err) {
    alert(`确认失败 · Acknowledge failed: ${describeError(err)}`);
  }
}

// ---- passages -------------------------------------------------------------------------------

function feedRow(entry, fresh) {
  const [reasonZh, reasonEn] = labelOf(REASON_LABELS, entry.reason);
  return el(
    'tr',
    {
      class: `${entry.result}${fresh ? ' fresh' : ''}`,
      'data-gate': entry.gateId,
      'data-seq': entry.seq,
      'data-ts': entry.ts,
    },
    el('td', {}, clock(entry.ts)),
    el('td', {}, gateName(entry.gateId)),
    el('td', {}, bilingual(labelOf(DIRECTION_LABELS, entry.direction))),
    el('td', {}, bilingual(labelOf(METHOD_LABELS, entry.method))),
    el('td', {}, el('span', { class: `health ${entry.health}` }, labelOf(HEALTH_LABELS, entry.health)[0])),
    el('td', { class: 'masked-name' }, entry.maskedName ?? '—'),
    el('td', {}, el('span', { class: `result ${entry.result}` }, bilingual(labelOf(RESULT_LABELS, entry.result)))),
    el('td', { class: 'reason' }, reasonZh, el('small', {}, reasonEn)),
  );
}

const shown = (entry) =>
  feed.querySelector(`tr[data-gate="${CSS.escape(entry.gateId)}"][data-seq="${Number(entry.seq)}"]`) !== null;

function addEntry(entry) {
  if (shown(entry)) return;
  feed.prepend(feedRow(entry, true));
  while (feed.children.length > FEED_LIMIT) feed.lastElementChild.remove();
}

async function loadRecentPassages() {
  const { events } = await api(`/events?limit=30${inCompound ? `&${inCompound}` : ''}`);
  // Stored passages carry the masked name, like the live feed.
  feed.replaceChildren(...events.map((e) => feedRow(e, false)));
}

/** After the live stream was down: the stored passages it missed join the feed, in time order. */
async function mergeRecentPassages() {
  const { events } = await api(`/events?limit=${FEED_LIMIT}${inCompound ? `&${inCompound}` : ''}`);
  const missed = events.filter((e) => !shown(e));
  if (missed.length === 0) return;
  const rows = [...feed.children, ...missed.map((e) => feedRow(e, false))];
  rows.sort((a, b) => Number(b.dataset.ts) - Number(a.dataset.ts) || Number(b.dataset.seq) - Number(a.dataset.seq));
  feed.replaceChildren(...rows.slice(0, FEED_LIMIT));
}

// ---- remote open ----------------------------------------------------------------------------

const dialog = document.getElementById('open-dialog');
const openForm = document.getElementById('open-form');
const openError = document.getElementById('open-error');
let openTarget = null;

function askOpen(gate) {
  openTarget = gate;
  openError.textContent = '';
  openForm.reset();
  document.getElementById('open-gate-name').textContent = `${gate.name} (${gate.id})`;
  dialog.showModal();
  document.getElementById('open-reason').focus();
}

document.getElementById('open-cancel').addEventListener('click', () => dialog.close());
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
    if (known) known.note = `${clock(Date.now())} 已发送开门指令 · Open command sent`;
    renderGates();
    dialog.close();
  } catch (err) {
    openError.textContent = describeError(err);
  }
});

// ---- start ----------------------------------------------------------------------------------

const liveState = document.getElementById('live-state');
const STATE_TEXT = { connecting: '连接中 Connecting', open: '实时 Live', closed: '已断开 Disconnected' };

await Promise.all([loadGates(), loadAlarms(), loadRecentPassages()]).catch((err) => console.error(err));
openLiveStream({
  compound,
  handlers: {
    entry: addEntry,
    status: onStatus,
    // An alarm arrives without its id; the open list from the server has it.
    alarm: () => loadAlarms().catch(console.error),
    'alarm-ack': (ack) => removeAlarm(ack.alarmId),
  },
  onState: (state) => {
    liveState.dataset.state = state;
    liveState.textContent = STATE_TEXT[state];
  },
  // Every (re)open: what changed while the stream was down is read back, passages included.
  onOpen: () => {
    Promise.all([loadGates(), loadAlarms(), mergeRecentPassages()]).catch(console.error);
  },
});
