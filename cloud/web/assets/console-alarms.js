// The open alarms on the guard console: each with Acknowledge and a note; the count in the panel
// and the title. A failed load says so (count `?`) — never "no open alarms"; a new alarm rings.
import { bilingual, clock, dateTime, el } from './format.js';
import { ALARM_LABELS, labelOf } from './labels.js';
import { api, describeError } from './session.js';
import { announce } from './console-alerts.js';
import { $, compound, gateName, updateTitle, view } from './console-common.js';

const alarmsList = $('alarms');
/** Ids seen since the page opened; a new one rings (the first load only fills it). */
const knownAlarms = new Set();
let alarmsLoaded = false;

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
  badge.textContent = view.alarmsFailed ? '?' : String(count);
  badge.dataset.zero = String(count === 0 && !view.alarmsFailed);
  // "No open alarms" only after a load that succeeded, never after a failure.
  $('alarms-empty').hidden = count > 0 || view.alarmsFailed || !alarmsLoaded;
  updateTitle();
}

export async function loadAlarms() {
  const params = new URLSearchParams({ state: 'open', limit: '100' });
  if (compound) params.set('compound', compound);
  let alarms;
  try {
    ({ alarms } = await api(`/alarms?${params}`));
  } catch (err) {
    view.alarmsFailed = true;
    updateAlarmCount();
    throw err;
  }
  view.alarmsFailed = false;
  const fresh = alarmsLoaded ? alarms.filter((a) => !knownAlarms.has(a.id)) : [];
  for (const a of alarms) knownAlarms.add(a.id);
  alarmsLoaded = true;
  renderAlarms(alarms);
  if (fresh.length > 0) announce(fresh);
}

export function removeAlarm(id) {
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
