// The dashboard's Supplies section (docs/supplies.md): the compound's distribution rounds with their
// progress (households served / remaining, doubles, stock left per item), refreshed every 5 s while
// the page is open, CSV export and close per round, and the form that creates a round. While the
// function sleeps the section says so in words and the form offers to open a round explicitly.
import { api, describeError, loadSession } from './session.js';

const REFRESH_MS = 5_000;
const $ = (id) => document.getElementById(id);
const section = $('supplies');
const compoundSelect = $('compound');
let timer;
let loading = 0;

const el = (tag, text, attrs = {}) => {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
};
const time = (ms) => new Date(ms).toLocaleString('zh-CN', { hour12: false });

function setState(state, message = '') {
  section.dataset.state = state;
  $('supplies-status').textContent = message;
}

async function load() {
  const compoundId = compoundSelect.value;
  if (!compoundId) return;
  const mine = ++loading;
  try {
    const answer = await api(`/supply/rounds?compound=${encodeURIComponent(compoundId)}`);
    if (mine !== loading) return;
    render(answer);
    setState('ok', `更新于 ${new Date().toLocaleTimeString('zh-CN', { hour12: false })} · updated`);
  } catch (err) {
    if (mine !== loading) return;
    setState('error', `加载失败 Load failed: ${describeError(err)}`);
  }
}

function render(answer) {
  const asleep = $('supplies-asleep');
  asleep.hidden = answer.awake;
  asleep.textContent = answer.awake
    ? ''
    : `物资发放功能休眠中（小区为 ${answer.mode} 模式，无开放批次）。 The supply function is asleep: ${answer.asleep}`;
  $('round-wake-box').hidden = answer.awake;
  const body = $('rounds-body');
  body.replaceChildren();
  if (answer.rounds.length === 0) {
    const row = el('tr');
    row.append(el('td', '暂无发放批次 No rounds yet', { colspan: '8', class: 'muted' }));
    body.append(row);
  }
  for (const r of answer.rounds) {
    const row = el('tr', undefined, { 'data-round': r.roundId, 'data-status': r.status });
    const p = r.progress;
    row.append(
      el('td', r.name),
      el('td', r.form === 'pickup' ? '自提 Pick-up' : '送货上门 Door delivery'),
      el('td', `${time(r.window.from)} – ${time(r.window.to)}`),
      el('td', r.eligibility === 'all' ? '全部住户 All' : '申请户 Applicants'),
      el('td', `${p.served} / ${p.households}`, { class: 'num served' }),
      el('td', `${p.remaining}${p.doubles ? ` · 重复 ${p.doubles} doubles` : ''}`, {
        class: `num remaining${p.doubles ? ' warn' : ''}`,
      }),
      el(
        'td',
        r.stock
          .map((s) => `${s.name} ${s.left === null ? '?' : s.left}/${s.stock === null ? '?' : s.stock} ${s.unit}`)
          .join(' · '),
        { class: 'stock' },
      ),
    );
    const actions = el('td', undefined, { class: 'actions' });
    const exportButton = el('button', '导出 Export CSV', { type: 'button', 'data-action': 'export' });
    exportButton.addEventListener('click', () => void exportRound(r));
    actions.append(exportButton);
    if (r.status === 'open') {
      const close = el('button', '结束 Close', { type: 'button', 'data-action': 'close' });
      close.addEventListener('click', () => void closeRound(r));
      actions.append(close);
    } else {
      actions.append(el('span', '已结束 Closed', { class: 'muted' }));
    }
    row.append(actions);
    body.append(row);
  }
}

async function exportRound(round) {
  try {
    const csv = await api(`/supply/rounds/${encodeURIComponent(round.roundId)}/claims?format=csv`, { as: 'text' });
    const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
    const link = el('a', undefined, { href: url, download: `supply-${round.roundId}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    setState('error', `导出失败 Export failed: ${describeError(err)}`);
  }
}

async function closeRound(round) {
  if (!window.confirm(`结束发放批次 "${round.name}"? Close the round?`)) return;
  try {
    await api(`/supply/rounds/${encodeURIComponent(round.roundId)}/close`, { method: 'POST' });
    await load();
  } catch (err) {
    setState('error', `结束失败 Close failed: ${describeError(err)}`);
  }
}

/** One item per line: `name, unit, per household[, stock]`. */
function parseItems(text) {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [name, unit, per, stock] = line.split(/[,，]/).map((x) => x.trim());
      return { name, unit, perHousehold: Number(per), ...(stock ? { stock: Number(stock) } : {}) };
    });
}

$('round-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = $('round-error');
  error.hidden = true;
  try {
    const body = {
      compoundId: compoundSelect.value,
      name: $('round-name').value,
      items: parseItems($('round-items').value),
      form: $('round-form-kind').value,
      window: { from: new Date($('round-from').value).getTime(), to: new Date($('round-to').value).getTime() },
      eligibility: $('round-eligibility').value,
      providers: $('round-providers')
        .value.split(/[,，\s]+/)
        .filter(Boolean),
      wake: $('round-wake').checked,
    };
    await api('/supply/rounds', { method: 'POST', body });
    $('round-form').reset();
    await load();
  } catch (err) {
    error.textContent = describeError(err);
    error.hidden = false;
  }
});

function start() {
  const session = loadSession();
  if (!session || !['manager', 'admin'].includes(session.role)) return;
  clearInterval(timer);
  void load();
  timer = setInterval(() => void load(), REFRESH_MS);
}

compoundSelect.addEventListener('change', start);
// dashboard.js fills the compound list after its own load: start once it has a value.
new MutationObserver(() => {
  if (compoundSelect.value && section.dataset.state === 'loading') start();
}).observe(compoundSelect, { childList: true });
if (compoundSelect.value) start();
