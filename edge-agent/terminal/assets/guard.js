/**
 * The guard panel (`/guard`): sign in with the guard's id and PIN (checked by the gate itself, so
 * it works offline), then the gate's state, the role switch between passage and distribution
 * (only in controlled or lockdown mode; docs/supplies.md, "Switching at the gate") with the gate's
 * own audit of it, the claim for a household member without a card (docs/supplies.md, "A member
 * without a card": green only for a hand-out, a refusal in red with its words), the last scans,
 * alarms and the manual open. The
 * session is an HttpOnly cookie; every 401 brings the sign-in back.
 */
const $ = (id) => document.getElementById(id);
const MODES = {
  normal: '正常 normal',
  controlled: '管控 controlled',
  lockdown: '封控 lockdown',
  'emergency-open': '紧急开放 emergency-open',
};
const CLOCK_SOURCES = {
  cloud: '云端校时 cloud',
  remembered: '记忆校时 remembered',
  'remembered-offset': '重启前校时 before reboot',
  wall: '本机时钟 own clock',
};
const ROLES = { entry: '通行 Passage', distribution: '物资发放 Distribution' };
const ROLE_SOURCES = {
  cloud: '平台设定 set by the cloud',
  config: '本机配置 gate.json',
  guard: '门卫切换 switched here',
};
const ROLE_OUTCOMES = {
  switched: '切换 switched',
  refused: '拒绝 refused',
  lapsed: '失效 lapsed',
  superseded: '被平台覆盖 superseded',
};
let scans = [];
let alarms = [];
let source = null;

const time = (ts) => new Date(ts).toLocaleTimeString();
const set = (id, value) => {
  $(id).textContent = value;
};

async function api(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    // The gate unreachable (restarting, the network down): an answer like any failure, never silence
    // that would leave the last result — a green hand-out — standing for this request.
    return { ok: false, status: 0, json: { error: { message: '连不上闸机 · The gate does not answer' } } };
  }
  const json = res.status === 204 ? {} : await res.json().catch(() => ({}));
  if (res.status === 401 && path !== '/api/guard/session') signedOut();
  return { ok: res.ok, status: res.status, json };
}

function signedOut() {
  if (source) source.close();
  source = null;
  $('panel-view').hidden = true;
  $('sign-in-view').hidden = false;
  $('sign-out').hidden = true;
  set('who', '');
}

function signedIn(guard) {
  $('sign-in-view').hidden = true;
  $('panel-view').hidden = false;
  $('sign-out').hidden = false;
  set('who', `门卫 Guard: ${guard.name}`);
  connect();
}

function clockText(c) {
  if (!c) return '—';
  if (c.source === 'wall') return CLOCK_SOURCES.wall;
  const skew = c.skewMs / 1000;
  const abs = Math.abs(skew);
  const off =
    abs >= 86400
      ? `${(skew / 86400).toFixed(1)} d`
      : abs >= 60
        ? `${(skew / 60).toFixed(1)} min`
        : `${skew.toFixed(1)} s`;
  return `${c.skewed ? '⚠ 偏差 skew ' : '偏差 skew '}${skew > 0 ? '+' : ''}${off} · ${CLOCK_SOURCES[c.source] || c.source}`;
}

function showState(s) {
  set('gate', `${s.gateId} (${s.compoundId})`);
  set('mode', MODES[s.mode] || s.mode);
  set('online', (s.online ? '在线 online' : '离线 offline') + (s.stale ? ' · 过期 stale' : ''));
  set('health', s.health === 'ok' ? '正常 ok' : `降级 degraded: ${s.problems.join(', ')}`);
  set('depth', String(s.journalDepth));
  set('rev', String(s.rev));
  set('devices', `ID ${s.devices.idreader} · QR ${s.devices.qr} · 闸 ${s.devices.turnstile}`);
  set('clock', clockText(s.clock));
  $('clock').classList.toggle('warn', !!s.clock?.skewed);
  showRole(s.role);
}

/** The role in force, where it comes from, and the switch (allowed only in controlled or lockdown mode). */
function showRole(r) {
  if (!r) return;
  const sw = r.switch;
  const by = sw ? ` · ${sw.by} ${time(sw.at)}: ${sw.reason}` : '';
  set('role', `${ROLES[r.role] || r.role} · ${ROLE_SOURCES[r.source] || r.source}${by}`);
  const form = $('role-form');
  const previous = form.dataset.role;
  form.dataset.role = r.role;
  form.dataset.switchable = String(r.switchable);
  if (previous !== r.role) form.role.value = r.role === 'entry' ? 'distribution' : 'entry';
  for (const field of [form.role, form.reason, form.querySelector('button')]) field.disabled = !r.switchable;
  set(
    'role-rule',
    r.switchable
      ? '管控或封控期间，门卫可在此切换通行与物资发放；平台之后的设定优先。 In controlled or lockdown mode a guard may switch here; a later setting from the cloud wins.'
      : '仅在管控或封控模式下可切换；现由平台设定。 Switching here is allowed only in controlled or lockdown mode; the cloud sets the role now.',
  );
  loadRoleLog();
}

async function loadRoleLog() {
  const res = await api('GET', '/api/guard/role');
  if (!res.ok) return;
  const body = $('role-log');
  body.textContent = '';
  for (const e of res.json.log.slice(0, 10)) {
    row(body, [
      time(e.at),
      ROLE_OUTCOMES[e.outcome] || e.outcome,
      `${ROLES[e.from] || e.from} → ${ROLES[e.to] || e.to}`,
      [e.guard, e.reason, e.detail].filter(Boolean).join(' · '),
    ]);
  }
}

function row(body, cells, colour) {
  const tr = document.createElement('tr');
  cells.forEach((v, i) => {
    const td = document.createElement('td');
    if (i === 0 && colour) {
      const dot = document.createElement('span');
      dot.className = `dot ${colour}`;
      td.appendChild(dot);
      td.appendChild(document.createTextNode(' '));
    }
    td.appendChild(document.createTextNode(v));
    tr.appendChild(td);
  });
  body.appendChild(tr);
}

function renderScans() {
  const body = $('scans');
  body.textContent = '';
  for (const s of scans.slice(0, 20)) {
    const who = s.guard ? `${s.guard}: ${s.openReason || ''}` : s.maskedName || '—';
    row(body, [time(s.ts), s.direction === 'in' ? '进' : '出', who, `${s.icon} ${s.zh}`, s.health], s.colour);
  }
}

function renderAlarms() {
  const body = $('alarms');
  body.textContent = '';
  for (const a of alarms.slice(0, 10)) row(body, [time(a.ts), a.kind, a.detail]);
}

function connect() {
  if (source) source.close();
  source = new EventSource('/api/guard/events');
  source.addEventListener('snapshot', (e) => {
    const s = JSON.parse(e.data);
    showState(s);
    scans = s.lastScans.slice();
    alarms = s.alarms.slice();
    renderScans();
    renderAlarms();
  });
  source.addEventListener('scan', (e) => {
    const scan = JSON.parse(e.data).scan;
    const i = scans.findIndex((s) => s.key === scan.key);
    if (i >= 0) scans[i] = scan;
    else scans.unshift(scan);
    scans = scans.slice(0, 50);
    renderScans();
  });
  source.addEventListener('state', (e) => showState(JSON.parse(e.data).state));
  source.addEventListener('alarm', (e) => {
    alarms.unshift(JSON.parse(e.data).alarm);
    alarms = alarms.slice(0, 20);
    renderAlarms();
  });
  source.onerror = async () => {
    // The stream closes when the session ends: ask whether we are still signed in.
    const res = await api('GET', '/api/guard/session');
    if (res.status === 401) signedOut();
  };
}

$('sign-in').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = e.target;
  const res = await api('POST', '/api/guard/session', { guardId: form.guardId.value.trim(), pin: form.pin.value });
  form.pin.value = '';
  if (res.ok) {
    set('sign-in-result', '');
    signedIn(res.json.guard);
  } else {
    set(
      'sign-in-result',
      res.status === 429 ? '尝试次数过多，请稍后 · Too many attempts, wait' : '编号或PIN错误 · Wrong id or PIN',
    );
  }
});

$('sign-out').addEventListener('click', async () => {
  await api('DELETE', '/api/guard/session');
  signedOut();
});

function showClaim(outcome, text) {
  const result = $('claim-result');
  result.dataset.outcome = outcome;
  result.textContent = text;
}

/** The household's members (masked) and where it stands in the current round, to claim for one of them. */
$('household-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const id = e.target.household.value.trim();
  showClaim('', '');
  const res = await api('GET', `/api/supply/household?id=${encodeURIComponent(id)}`);
  const form = $('claim-form');
  form.hidden = true;
  if (!res.ok) {
    showClaim('error', res.json.error ? res.json.error.message : '失败 failed');
    return;
  }
  const h = res.json;
  form.personId.textContent = '';
  for (const m of h.members) {
    const option = document.createElement('option');
    option.value = m.personId;
    option.textContent = m.maskedName;
    form.personId.appendChild(option);
  }
  const round = h.round ? h.round.name : '当前没有物资发放 No distribution running';
  const claimed = h.claimed ? ` · 已领取 claimed ${time(h.claimed.ts)}` : '';
  set('household', `户 ${h.householdId} · ${round}${claimed}`);
  form.hidden = h.members.length === 0;
  showClaim('', h.members.length === 0 ? '本户无登记成员 · No members on record' : '');
});

/** Green only when the gate answered 200 with a hand-out; anything else says why, in red. */
$('claim-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = e.target;
  // The last answer was for another member: it goes before this one is asked.
  showClaim('', '…');
  const res = await api('POST', '/api/supply/claim', { personId: form.personId.value, reason: form.reason.value });
  if (res.ok && res.json.verdict === 'hand-out') {
    const items = (res.json.allocation ? res.json.allocation.items : [])
      .map((i) => `${i.name} ${i.quantity} ${i.unit}`)
      .join(', ');
    showClaim('hand-out', `发放 Hand out: ${items}`);
    form.reason.value = '';
  } else if (res.json.verdict === 'refused') {
    showClaim('refused', `不发放 Do not hand out: ${res.json.zh} · ${res.json.en}`);
  } else {
    showClaim('error', res.json.error ? res.json.error.message : '失败 failed');
  }
});

$('open').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = e.target;
  const res = await api('POST', '/api/open', { direction: form.direction.value, reason: form.reason.value });
  if (res.ok) {
    set('open-result', `已放行 opened (#${res.json.seq})`);
    form.reason.value = '';
  } else {
    set('open-result', res.json.error ? res.json.error.message : '失败 failed');
  }
});

$('role-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = e.target;
  const res = await api('POST', '/api/guard/role', { role: form.role.value, reason: form.reason.value });
  const result = $('role-result');
  if (res.ok) {
    // The gate may already be in that role (another guard, or the cloud, got there first): say so.
    const name = ROLES[res.json.role] || res.json.role;
    result.dataset.outcome = res.json.changed ? 'switched' : 'unchanged';
    set(
      'role-result',
      res.json.changed
        ? `已切换为 ${name} · switched to ${res.json.role}`
        : `未切换：已是 ${name} · already in role ${res.json.role}, nothing changed`,
    );
    form.reason.value = '';
    if (res.json.state) showRole(res.json.state);
  } else {
    result.dataset.outcome = 'refused';
    set('role-result', res.json.error ? res.json.error.message : '失败 failed');
  }
});

api('GET', '/api/guard/session').then((res) => {
  if (res.ok) signedIn(res.json.guard);
  else signedOut();
});
