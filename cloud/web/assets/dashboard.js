// `/dashboard`: the manager dashboard. Statistics, tracing, the mode switch, residents, passes and
// the audit log of the chosen compound, all through the API with the session's bearer token.
// Every time is the compound's (format.js), and the toolbar says which zone that is. A failed
// load is shown as a failure — never as the previous numbers under a new label.
//
// This module starts the page; each part is its own module (docs/web.md, "How it is built"):
// dashboard-common.js (session, chosen compound, helpers), -stats, -mode, -residents, -reveal,
// -import, -passes, -trace, -audit.
import { $, DAY_MS, currentCompound, residentsView, session, view } from './dashboard-common.js';
import { loadAudit } from './dashboard-audit.js';
import './dashboard-import.js';
import { renderMode } from './dashboard-mode.js';
import { loadResidents } from './dashboard-residents.js';
import { keepStatsFresh, loadStats, statsStatus } from './dashboard-stats.js';
import { el, localInputValue, setTimeZone, zoneLabel } from './format.js';
import { api, describeError, restoreDrafts } from './session.js';

async function selectCompound(id) {
  view.compoundId = id;
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
    ({ compounds: view.compounds } = await api('/compounds'));
  } catch (err) {
    $('stats-status').hidden = false;
    statsStatus('failed', `小区列表加载失败 · Compounds failed to load: ${describeError(err)}`);
    $('stats-status')
      .querySelector('.retry')
      ?.addEventListener('click', () => location.reload());
    return;
  }
  $('compound').replaceChildren(...view.compounds.map((c) => el('option', { value: c.id }, `${c.name} (${c.id})`)));
  const initial = session.compound ?? view.compounds[0]?.id;
  if (initial) {
    $('compound').value = initial;
    setTimeZone(view.compounds.find((c) => c.id === initial)?.timeZone);
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
  keepStatsFresh();
  document.body.dataset.ready = 'true';
}

await start();
