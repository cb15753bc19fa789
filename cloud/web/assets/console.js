// `/console`: the guard console. Gates, open alarms and the passage feed, kept current over the
// live stream; every reconnect reloads gates and alarms so nothing missed while away stays stale.
//
// Honest states (docs/web.md): a load that failed says so with a retry — never "no alarms"; a
// stream without heartbeats is shown stale, a lost network offline, on the header, in a banner and
// on every gate card. Gate cards are built once and updated in place (focus stays where it is).
//
// This module starts the page; each part is its own module (docs/web.md, "How it is built"):
// console-common.js (session, gates known, link state, load states, title), console-gates.js (cards,
// remote open), console-alarms.js, console-alerts.js (sound, notifications, wall mode),
// console-feed.js, console-link.js; live-stream.js keeps the stream open.
import { setTimeZone, zoneLabel } from './format.js';
import { openLiveStream } from './live-stream.js';
import { api, describeError, restoreDrafts } from './session.js';
import { renderToggles } from './console-alerts.js';
import { loadAlarms, removeAlarm } from './console-alarms.js';
import { $, compound, guarded, inCompound, view } from './console-common.js';
import { addEntry, loadRecentPassages, mergeRecentPassages } from './console-feed.js';
import { loadGates, onStatus } from './console-gates.js';
import { renderLink } from './console-link.js';

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
    view.link = state;
    view.lastDataAt = info.lastDataAt;
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
  view.lastDataAt = stream.lastDataAt();
  if (view.link !== 'open') renderLink();
}, 5000);
document.body.dataset.ready = 'true';
