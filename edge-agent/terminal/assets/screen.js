/**
 * The gate's public result screen (edge-agent/terminal/terminal-page.ts, docs/edge-agent.md
 * "The terminal"). It shows one result per lane, in the decision's colour (green only for a
 * grant), holds each result at least `holdMs` — later results wait in the lane's queue, so none is
 * cut short — and returns to the idle screen `clearMs` after a result was shown. At a supply
 * distribution point (docs/supplies.md) a banner says so with the round, the idle words ask for a
 * swipe to collect supplies, and a hand-out lists the household's allocation item by item.
 */
const ENTRY_IDLE = { zh: '请刷码或刷身份证', en: 'Scan your pass or ID card' };
/** At a supply distribution point (docs/supplies.md): the same readers, another purpose. */
const DISTRIBUTION_IDLE = { zh: '请刷身份证或通行码领取物资', en: 'Swipe your ID card or pass to collect supplies' };
let IDLE = ENTRY_IDLE;
/** The distribution banner's round and the gate's clock offset, re-read every 30 s (a window opens or ends). */
let banner = { role: 'entry', round: null, offset: 0 };
let laneNames = { in: '进 In', out: '出 Out' };
const PASSAGE = {
  waiting: '请通过 · Please pass',
  passed: '已通过 · Passed',
  'not-passed': '未通过 · Not passed',
};
/** Results older than this many in a lane's queue are dropped (they would be shown to the wrong person). */
const MAX_QUEUE = 5;
const settings = { lanes: ['in'], holdMs: 3000, clearMs: 8000 };
let lanes = {};
const main = document.getElementById('lanes');
const template = main.querySelector('.lane');

const pad = (n) => String(n).padStart(2, '0');
const clock = (ts) => {
  const d = new Date(ts);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
};
const part = (lane, cls) => lane.el.querySelector(`.${cls}`);
const text = (lane, cls, value) => {
  part(lane, cls).textContent = value;
};

function buildLanes(names) {
  const current = Object.keys(lanes).join(',');
  if (current === names.join(',')) return;
  for (const lane of Object.values(lanes)) {
    clearTimeout(lane.holdTimer);
    clearTimeout(lane.clearTimer);
  }
  main.textContent = '';
  lanes = {};
  for (const name of names) {
    const el = template.cloneNode(true);
    el.dataset.lane = name;
    const lane = { name, el, queue: [], current: null, shownAt: 0, holdTimer: null, clearTimer: null };
    lanes[name] = lane;
    text(lane, 'lane-label', names.length > 1 ? laneNames[name] || name : '');
    showIdle(lane);
    main.appendChild(el);
  }
  main.dataset.count = String(names.length);
}

function showIdle(lane) {
  lane.current = null;
  lane.el.className = 'lane idle';
  lane.el.dataset.state = 'idle';
  delete lane.el.dataset.reason;
  delete lane.el.dataset.tone;
  text(lane, 'icon', '');
  text(lane, 'zh', IDLE.zh);
  text(lane, 'en', IDLE.en);
  for (const cls of ['name', 'next-zh', 'next-en', 'health-text', 'when']) text(lane, cls, '');
  part(lane, 'dot').className = 'dot';
  part(lane, 'items').replaceChildren();
  delete lane.el.dataset.verdict;
}

/** A distribution point's allocation, item by item, large — only while it is handed out or being checked. */
function renderItems(lane, r) {
  const list = part(lane, 'items');
  list.replaceChildren();
  lane.el.classList.toggle('supply', !!r.supply);
  if (!r.supply) {
    delete lane.el.dataset.verdict;
    return;
  }
  lane.el.dataset.verdict = r.supply.verdict;
  if (r.supply.verdict === 'refused') return;
  for (const item of r.supply.items) {
    const li = document.createElement('li');
    const name = document.createElement('span');
    name.textContent = item.name;
    const qty = document.createElement('b');
    qty.textContent = ` ${item.quantity} ${item.unit}`;
    li.append(name, qty);
    list.appendChild(li);
  }
}

const hm = (ts) => {
  const d = new Date(ts);
  const day = new Date(Date.now() + banner.offset).toDateString() === d.toDateString();
  return `${day ? '' : `${pad(d.getMonth() + 1)}-${pad(d.getDate())} `}${pad(d.getHours())}:${pad(d.getMinutes())}`;
};

/** The banner of a distribution point: what runs now, what comes next, or that nothing runs. */
function showDistribution() {
  const el = document.getElementById('distribution');
  el.classList.toggle('on', banner.role === 'distribution');
  document.body.dataset.role = banner.role;
  if (banner.role !== 'distribution') return;
  const round = banner.round;
  const now = Date.now() + banner.offset;
  const state = !round || now > round.to ? 'none' : now >= round.from ? 'running' : 'upcoming';
  el.dataset.round = state;
  const head = '物资发放点 · Supply distribution point';
  el.textContent =
    state === 'running'
      ? `${head} — ${round.name} · 领取至 ${hm(round.to)} · open until ${hm(round.to)}`
      : state === 'upcoming'
        ? `${head} — ${round.name} · ${hm(round.from)} 开始 · opens ${hm(round.from)}`
        : `${head} — 当前没有物资发放 · No distribution running`;
}
setInterval(showDistribution, 30_000);

function render(lane, r) {
  lane.el.className = `lane ${r.colour}`;
  lane.el.dataset.state = 'result';
  lane.el.dataset.reason = r.reason;
  lane.el.dataset.tone = r.tone;
  text(lane, 'icon', r.icon);
  text(lane, 'zh', r.zh);
  text(lane, 'en', r.en);
  text(lane, 'name', r.maskedName || '');
  text(lane, 'next-zh', r.nextZh);
  text(lane, 'next-en', r.nextEn);
  part(lane, 'dot').className = `dot ${r.health}`;
  text(lane, 'health-text', `${r.healthZh} · ${r.healthEn}`);
  const passage = r.passage ? PASSAGE[r.passage] : '';
  text(lane, 'when', clock(r.ts) + (passage ? ` · ${passage}` : ''));
  renderItems(lane, r);
}

function show(lane, r, shownAt) {
  lane.current = r;
  lane.shownAt = shownAt;
  render(lane, r);
  clearTimeout(lane.clearTimer);
  lane.clearTimer = setTimeout(
    () => {
      lane.clearTimer = null;
      if (lane.current && lane.current.key === r.key && lane.queue.length === 0) showIdle(lane);
    },
    Math.max(0, settings.clearMs - (Date.now() - shownAt)),
  );
}

/** Shows the next queued result once the current one has been held long enough. */
function advance(lane) {
  clearTimeout(lane.holdTimer);
  lane.holdTimer = null;
  lane.el.dataset.queued = String(lane.queue.length);
  if (lane.queue.length === 0) return;
  const held = Date.now() - lane.shownAt;
  if (lane.current && held < settings.holdMs) {
    lane.holdTimer = setTimeout(() => advance(lane), settings.holdMs - held);
    return;
  }
  show(lane, lane.queue.shift(), Date.now());
  lane.el.dataset.queued = String(lane.queue.length);
  if (lane.queue.length > 0) advance(lane);
}

function onResult(r) {
  const lane = lanes[r.lane] || lanes[settings.lanes[0]];
  if (!lane) return;
  // An update of a result (waiting → passed) replaces it where it is, without restarting its time.
  if (lane.current && lane.current.key === r.key) {
    lane.current = r;
    render(lane, r);
    return;
  }
  const queued = lane.queue.findIndex((q) => q.key === r.key);
  if (queued >= 0) {
    lane.queue[queued] = r;
    return;
  }
  lane.queue.push(r);
  if (lane.queue.length > MAX_QUEUE) lane.queue.shift();
  advance(lane);
}

function showState(s) {
  const names = s.labels ? { in: s.labels.in, out: s.labels.out } : { in: '进 In', out: '出 Out' };
  laneNames = names;
  settings.lanes = s.lanes;
  settings.holdMs = s.holdMs;
  settings.clearMs = s.clearMs;
  buildLanes(s.lanes);
  for (const lane of Object.values(lanes)) {
    text(lane, 'lane-label', s.lanes.length > 1 ? laneNames[lane.name] || lane.name : '');
  }
  document.getElementById('offline').classList.toggle('on', !s.online || s.stale);
  document.getElementById('fire').classList.toggle('on', !!s.fire);
  document.getElementById('turnstile-fault').classList.toggle('on', !!s.turnstileFault);
  document.body.dataset.mode = s.mode;
  banner = { role: s.role || 'entry', round: s.round || null, offset: s.now - Date.now() };
  const idle = banner.role === 'distribution' ? DISTRIBUTION_IDLE : ENTRY_IDLE;
  if (idle !== IDLE) {
    IDLE = idle;
    for (const lane of Object.values(lanes)) if (!lane.current) showIdle(lane);
  }
  showDistribution();
}

function connect() {
  const source = new EventSource('/api/screen/events');
  source.addEventListener('snapshot', (e) => {
    const snapshot = JSON.parse(e.data);
    document.body.dataset.stream = 'open';
    showState(snapshot.state);
    for (const lane of Object.values(lanes)) {
      lane.queue = [];
      showIdle(lane);
    }
    // A result already on screen elsewhere keeps its age: it clears when it would have.
    for (const r of snapshot.results) {
      const lane = lanes[r.lane];
      if (lane) show(lane, r, Date.now() - Math.max(0, snapshot.state.now - r.ts));
    }
  });
  source.addEventListener('result', (e) => onResult(JSON.parse(e.data)));
  source.addEventListener('state', (e) => showState(JSON.parse(e.data)));
  source.onerror = () => {
    document.body.dataset.stream = 'error';
    document.getElementById('offline').classList.add('on');
  };
}

connect();
