// `/me`'s Supplies card (docs/supplies.md, "Residents"): a redundant function — the card stays
// hidden in normal times and shows itself only when `GET /api/v1/me/supply` answers an open round
// for the household: the allocation (items and quantities per household), how it is handed out
// (pick-up at a distribution point or door delivery), the window in the compound's zone, and
// where the household stands (must apply → *Apply*, applied, claimed when and where). A failed load
// says so with *Retry* (it never looks like "no round"). Loaded on `anxin:me` (me.js), again when
// the page becomes visible and every minute while it is, so a claim made at the gate shows up.
import { bilingual, dateTime, el } from '/assets/format.js';
import { MeApiError, meApi } from '/me/assets/me-api.js';

const REFRESH_MS = 60_000;
const FORMS = {
  pickup: ['到发放点领取', 'Pick up at a distribution point'],
  delivery: ['送货上门', 'Delivered to your door'],
};
const APPLY_ERRORS = {
  'round-closed': ['本轮发放已结束', 'This round is closed'],
  'no-household': ['您未登记户号，请联系物业', 'You have no household on record — ask the management'],
  'no-application': ['本轮无需申请', 'This round needs no application'],
};

/** Where a claim was made: a point's id, or the office (door delivery, a claim phoned in). */
const where = (w) => (w === 'the office' ? ['物业', 'the office'] : [w, w]);

const $ = (id) => document.getElementById(id);
let loading = false;
let timer;

function itemsList(items) {
  return el(
    'ul',
    { class: 'plain supply-items' },
    ...items.map((i) =>
      el(
        'li',
        { 'data-item': i.name },
        el('b', {}, i.name),
        ' ',
        el('span', { class: 'qty' }, `${i.perHousehold} ${i.unit}`),
        el('small', {}, ' / 户 per household'),
      ),
    ),
  );
}

/** Where the household stands in the round, and the *Apply* button when it must still apply. */
function standing(round) {
  if (round.claimed) {
    return el(
      'p',
      { class: 'supply-state claimed', 'data-standing': 'claimed' },
      bilingual([
        `本户已领取：${dateTime(round.claimed.ts)}，${where(round.claimed.where)[0]}`,
        `Your household has claimed it: ${dateTime(round.claimed.ts)} at ${where(round.claimed.where)[1]}`,
      ]),
    );
  }
  if (round.mustApply) {
    return el(
      'div',
      { class: 'supply-state', 'data-standing': 'must-apply' },
      el('p', {}, bilingual(['本轮须先申请才能领取', 'This round is for households that apply'])),
      el(
        'button',
        { type: 'button', class: 'primary supply-apply', onclick: (e) => apply(round, e.currentTarget) },
        '为本户申请 ',
        el('small', {}, 'Apply for my household'),
      ),
      el('p', { class: 'error', role: 'alert' }),
    );
  }
  return el(
    'p',
    { class: 'supply-state', 'data-standing': round.applied ? 'applied' : 'eligible' },
    bilingual(
      round.applied
        ? ['已申请，请按时领取', 'Applied — come within the window']
        : ['本户可领取，无需申请', 'Your household may claim it; no application needed'],
    ),
  );
}

function roundCard(round) {
  return el(
    'li',
    { class: 'supply-round', 'data-round': round.roundId },
    el('h3', {}, round.name),
    itemsList(round.items),
    el('p', { class: 'muted' }, bilingual(FORMS[round.form] ?? [round.form, round.form])),
    el(
      'p',
      { class: 'supply-window' },
      bilingual([
        `领取时间：${dateTime(round.window.from)} 至 ${dateTime(round.window.to)}`,
        `Window: ${dateTime(round.window.from)} – ${dateTime(round.window.to)}`,
      ]),
    ),
    round.form === 'pickup' && !round.claimed
      ? el(
          'p',
          { class: 'muted' },
          bilingual(['领取时请刷身份证或出示通行码', 'At the point, swipe your ID card or show your pass']),
        )
      : null,
    standing(round),
  );
}

async function apply(round, button) {
  const error = button.parentElement.querySelector('.error');
  error.textContent = '';
  button.disabled = true;
  try {
    await meApi(`/me/supply/${encodeURIComponent(round.roundId)}/apply`, { method: 'POST' });
    await load();
  } catch (err) {
    button.disabled = false;
    const words = err instanceof MeApiError ? APPLY_ERRORS[err.code] : undefined;
    error.textContent = words ? words.join(' · ') : `申请失败 · Could not apply: ${err.message}`;
  }
}

async function load() {
  if (loading) return;
  loading = true;
  const section = $('supplies');
  const state = $('supplies-state');
  try {
    const answer = await meApi('/me/supply');
    const rounds = answer.awake ? answer.rounds : [];
    section.dataset.state = rounds.length > 0 ? 'open' : 'none';
    section.hidden = rounds.length === 0;
    state.replaceChildren();
    state.hidden = true;
    $('supply-rounds').replaceChildren(...rounds.map(roundCard));
  } catch (err) {
    // A 401 brings the sign-in form back (me-api.js); anything else is said, never shown as "none".
    if (err.status === 401) return;
    section.hidden = false;
    section.dataset.state = 'failed';
    state.hidden = false;
    state.replaceChildren(
      el('span', {}, `物资信息加载失败 · Supplies failed to load: ${err.message} `),
      el('button', { type: 'button', class: 'link', onclick: () => load() }, '重试 ', el('small', {}, 'Retry')),
    );
  } finally {
    loading = false;
  }
}

document.addEventListener('anxin:me', () => {
  load();
  clearInterval(timer);
  timer = setInterval(() => {
    if (document.visibilityState === 'visible' && $('me').dataset.state === 'home') load();
  }, REFRESH_MS);
});
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && $('me').dataset.state === 'home') load();
});
