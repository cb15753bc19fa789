// What every part of the guard console shares (console.js loads the parts): the session and the
// compound, the gates known so far, the state of the live link, the panels' load states and the
// page title. Evaluated first: without a guard's (or manager's) session nothing else runs.
import { bilingual, el } from './format.js';
import { describeError, requireSession } from './session.js';

export const session = await requireSession(['guard', 'manager', 'admin']);
export const compound = session.compound ?? new URLSearchParams(location.search).get('compound') ?? undefined;
export const inCompound = compound ? `compound=${encodeURIComponent(compound)}` : '';
export const $ = (id) => document.getElementById(id);
const BASE_TITLE = document.title;

/** gateId → { gate, status, note, card } */
export const gates = new Map();
export const gateName = (gateId) => gates.get(gateId)?.gate.name ?? gateId;

export const view = {
  /** The live link: 'connecting' | 'open' | 'stale' | 'closed' | 'offline'. */
  link: 'connecting',
  lastDataAt: null,
  /** The last load of the open alarms failed: the count is unknown, not zero. */
  alarmsFailed: false,
};

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

export async function guarded(id, load) {
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

function onLoadFailed() {
  updateTitle();
}

/** `(open alarms)`, `!` when they failed to load, `⚠` while the live link is not open. */
export function updateTitle() {
  const count = $('alarms').children.length;
  const marks = [];
  if (view.alarmsFailed) marks.push('!');
  else if (count > 0) marks.push(`(${count})`);
  if (view.link !== 'open') marks.push('⚠');
  document.title = marks.length ? `${marks.join(' ')} ${BASE_TITLE}` : BASE_TITLE;
}
