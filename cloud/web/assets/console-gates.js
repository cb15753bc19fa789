// The gate cards of the guard console: online, mode, journal depth, device health and when last
// heard — built once and updated in place (focus stays where it is), and said stale or link-down
// while the live link is not open; remote open from a card, with a required reason.
import { bilingual, clock, el } from './format.js';
import { DEVICE_LABELS, DEVICE_STATE_LABELS, labelOf, MODE_LABELS } from './labels.js';
import { api, describeError } from './session.js';
import { $, gateName, gates, guarded, inCompound, view } from './console-common.js';
import { renderGateFilter } from './console-feed.js';

const gatesBox = $('gates');
const alarmsList = $('alarms');
const feed = $('feed');

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
  if (view.link !== 'open') return view.link === 'stale' ? 'stale' : 'link-down';
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
export function updateCard(entry) {
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

export function renderGates() {
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

export async function loadGates() {
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

export function onStatus(status) {
  const known = gates.get(status.gateId);
  if (!known) {
    guarded('gates-state', loadGates);
    return;
  }
  known.status = status;
  updateCard(known);
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
