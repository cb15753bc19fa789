// `/me`: the resident's phone page — activation (`/me/activate#code=…`), sign-in, then the home:
// own health colour, household (masked), own passages of 14 days, visitors, return registration.
// Everything comes from /api/v1/me/… with the resident's token; every text reaches the DOM through
// textContent (format.js `el`). After the home is loaded the page sends `anxin:me` on `document`
// ({detail: {me, token}}): the device pass panel (`#pass-panel`) builds itself on it.
import { bilingual, dateTime, el, setTimeZone } from '/assets/format.js';
import { DIRECTION_LABELS, HEALTH_LABELS, labelOf, MODE_LABELS, REASON_LABELS, RESULT_LABELS } from '/assets/labels.js';
import {
  clearMeSession,
  loadMeSession,
  MeApiError,
  meApi,
  saveMeSession,
  setUpLargeText,
  whenSessionEnds,
} from '/me/assets/me-api.js';

const $ = (id) => document.getElementById(id);
const main = $('me');
const TRANSPORTS = {
  train: ['火车', 'Train'],
  plane: ['飞机', 'Plane'],
  car: ['汽车', 'Car'],
  bus: ['大巴', 'Bus'],
  ship: ['轮船', 'Ship'],
  other: ['其他', 'Other'],
};
const VISIT_STATES = {
  upcoming: ['待访', 'Upcoming'],
  today: ['今日', 'Today'],
  past: ['已过', 'Past'],
  revoked: ['已撤销', 'Withdrawn'],
};
const RETURN_STATES = {
  pending: ['黄码中', 'Yellow, pending'],
  released: ['已到期解除', 'Released'],
  cleared: ['已审核解除', 'Cleared'],
  kept: ['审核保留', 'Kept by the manager'],
};
const CODE_ERRORS = {
  'invalid-code': '激活码不正确，请核对 · No such code — check what you typed',
  'code-used': '此激活码已使用 · This code was used already',
  'code-revoked': '此激活码已作废，请向物业索取新码 · This code was withdrawn — ask the management for a new one',
  'code-expired': '此激活码已过期，请向物业索取新码 · This code has expired — ask the management for a new one',
  'too-many-attempts': '尝试次数过多，请稍后再试 · Too many attempts, try again later',
  'login-taken': '登录名已被使用，请换一个 · This sign-in name is taken, choose another',
};

function message(err) {
  if (err instanceof MeApiError && CODE_ERRORS[err.code]) return CODE_ERRORS[err.code];
  const issues = err?.issues?.map((i) => `${i.path}: ${i.message}`).join('; ');
  return issues ? `${err.message} — ${issues}` : String(err?.message ?? err);
}

function show(state, note) {
  main.dataset.state = state;
  $('activate-form').hidden = state !== 'activate';
  $('me-sign-in').hidden = state !== 'signed-out';
  $('home').hidden = state !== 'home';
  $('sign-out').hidden = state !== 'home';
  const notice = $('me-notice');
  notice.hidden = !note;
  notice.replaceChildren(...(note ? [bilingual(note)] : []));
}

// ---- activation ------------------------------------------------------------------------------

function codeFromFragment() {
  const m = /(?:^#|&)code=([^&]+)/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : '';
}

async function checkCode() {
  const code = $('activate-code').value.trim();
  const target = $('activate-for');
  $('activate-error').textContent = '';
  if (code.length < 12) return;
  try {
    const answer = await meApi('/me/activation/check', { method: 'POST', body: { code }, auth: false });
    target.hidden = false;
    target.replaceChildren(
      bilingual([
        `为 ${answer.maskedName}（${answer.compound.name}）激活`,
        `Activating for ${answer.maskedName} (${answer.compound.name})`,
      ]),
    );
  } catch (err) {
    target.hidden = true;
    $('activate-error').textContent = message(err);
  }
}

function startActivation() {
  show('activate');
  const code = codeFromFragment();
  if (code) {
    $('activate-code').value = code;
    // The code stays out of the address bar and the history from here on.
    history.replaceState(null, '', '/me/activate');
    checkCode();
  }
  $('activate-code').addEventListener('change', checkCode);
  $('activate-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = $('activate-error');
    error.textContent = '';
    if ($('activate-password').value !== $('activate-password2').value) {
      error.textContent = '两次输入的密码不一致 · The passwords differ';
      return;
    }
    try {
      const session = await meApi('/me/activate', {
        method: 'POST',
        auth: false,
        body: {
          code: $('activate-code').value.trim(),
          login: $('activate-login').value.trim().toLowerCase(),
          password: $('activate-password').value,
        },
      });
      saveMeSession(session);
      history.replaceState(null, '', '/me');
      await home(['已激活，欢迎使用', 'Activated — welcome']);
    } catch (err) {
      error.textContent = message(err);
    }
  });
}

// ---- sign-in and the session's end ---------------------------------------------------------------

function signInForm(note) {
  show('signed-out', note);
}

$('me-sign-in').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = $('me-sign-in-error');
  error.textContent = '';
  try {
    const session = await meApi('/me/login', {
      method: 'POST',
      auth: false,
      body: { login: $('me-login').value.trim().toLowerCase(), password: $('me-password').value },
    });
    saveMeSession(session);
    $('me-password').value = '';
    await home();
  } catch (err) {
    error.textContent =
      err.status === 401
        ? '登录名或密码错误 · Wrong sign-in name or password'
        : err.status === 429
          ? CODE_ERRORS['too-many-attempts']
          : message(err);
  }
});

whenSessionEnds(() => signInForm(['登录已过期，请重新登录', 'Your session has ended — sign in again']));

async function signOut(note) {
  const session = loadMeSession();
  if (session) {
    await fetch('/api/v1/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${session.token}` } }).catch(
      () => undefined,
    );
  }
  clearMeSession();
  signInForm(note);
}
$('sign-out').addEventListener('click', () => signOut(['已退出', 'Signed out']));

/** Signs out after the session's idle timeout without touch or key; the last minute counts down. */
let idleTimer;
function watchIdle(idleMs) {
  clearInterval(idleTimer);
  let last = Date.now();
  const banner = $('idle-banner');
  const touch = () => {
    last = Date.now();
    banner.hidden = true;
  };
  for (const type of ['pointerdown', 'keydown', 'touchstart', 'wheel'])
    window.addEventListener(type, touch, { passive: true, capture: true });
  const warnMs = Math.min(60_000, idleMs / 4);
  idleTimer = setInterval(
    () => {
      if (main.dataset.state !== 'home') return;
      const left = idleMs - (Date.now() - last);
      if (left <= 0) {
        clearInterval(idleTimer);
        banner.hidden = true;
        signOut(['因长时间未操作已退出', 'Signed out after a while without use']);
      } else if (left <= warnMs) {
        banner.hidden = false;
        banner.textContent = `长时间未操作，${Math.ceil(left / 1000)} 秒后退出；点一下屏幕继续。 Signing out in ${Math.ceil(left / 1000)} s — touch the screen to stay.`;
      }
    },
    Math.max(250, Math.min(1000, idleMs / 8)),
  );
}

// ---- home --------------------------------------------------------------------------------------

let me;

async function home(note) {
  let answer;
  try {
    answer = await meApi('/me');
  } catch (err) {
    if (err.status !== 401) show('home', ['加载失败', `Failed to load: ${message(err)}`]);
    return;
  }
  me = answer;
  setTimeZone(me.compound.timeZone);
  show('home', note);
  const session = loadMeSession();
  watchIdle(session?.idleTimeoutMs ?? 30 * 60_000);
  $('health-card').dataset.health = me.health;
  $('me-name').textContent = me.maskedName;
  $('me-compound').textContent = me.compound.name;
  $('me-health').replaceChildren(bilingual(labelOf(HEALTH_LABELS, me.health)));
  $('me-mode').replaceChildren(
    bilingual([
      '小区状态：' + labelOf(MODE_LABELS, me.compound.mode)[0],
      `Compound: ${labelOf(MODE_LABELS, me.compound.mode)[1]}`,
    ]),
  );
  $('members').replaceChildren(
    ...me.members.map((m) =>
      el(
        'li',
        { 'data-person': m.personId },
        m.maskedName,
        m.self ? el('small', {}, ' （我 me）') : null,
        ' ',
        m.activated
          ? el('span', { class: 'tag' }, '已激活 ', el('small', {}, 'active'))
          : el('span', { class: 'tag muted' }, '未激活 ', el('small', {}, 'not yet')),
      ),
    ),
  );
  $('return-members').replaceChildren(
    $('return-members').querySelector('legend') ?? el('legend', {}, '同行家庭成员 ', el('small', {}, 'Who travelled')),
    ...me.members.map((m) =>
      el(
        'label',
        { class: 'check' },
        el('input', { type: 'checkbox', value: m.personId, checked: m.self }),
        ` ${m.maskedName}`,
      ),
    ),
  );
  fillForms();
  document.dispatchEvent(new CustomEvent('anxin:me', { detail: { me, token: session?.token } }));
  await Promise.all([loadPassages(), loadVisitors(), loadReturns()]);
}

/** The visitor and return forms: dates, what the policy allows, the notes. */
function fillForms() {
  const today = dateTime(Date.now()).slice(0, 10);
  $('visitor-date').value ||= today;
  $('visitor-date').min = today;
  $('return-date').value ||= today;
  $('return-date').max = today;
  const p = me.policy;
  const allowed = p.visitorModes.includes(me.compound.mode);
  $('visitor-form').hidden = !allowed || me.householdId === null;
  $('visitor-note').replaceChildren(
    bilingual(
      !allowed
        ? [
            `小区${labelOf(MODE_LABELS, me.compound.mode)[0]}期间暂停访客`,
            `Visitors are suspended while the compound is in ${me.compound.mode} mode`,
          ]
        : [
            `每户每${p.visitorQuotaDays}天可邀请${p.visitorQuota}位访客`,
            `${p.visitorQuota} invitations per household every ${p.visitorQuotaDays} days`,
          ],
    ),
  );
  $('return-note').replaceChildren(
    bilingual(
      p.returnRelease === 'after-review'
        ? [
            '登记后同行人员转为黄码，物业审核后恢复',
            'Those who travelled turn yellow until the management reviews the registration',
          ]
        : [
            `登记后同行人员转为黄码${p.returnYellowDays}天`,
            `Those who travelled turn yellow for ${p.returnYellowDays} days`,
          ],
    ),
  );
}

async function loadPassages() {
  const state = $('passages-state');
  state.dataset.state = 'loading';
  try {
    const { passages } = await meApi('/me/passages');
    $('passage-list').replaceChildren(
      ...passages.map((p) =>
        el(
          'li',
          { class: `passage ${p.result}`, 'data-result': p.result },
          el('span', { class: 'when' }, dateTime(p.ts)),
          ' ',
          p.gateName,
          ' ',
          bilingual(labelOf(DIRECTION_LABELS, p.direction)),
          ' ',
          el('span', { class: `result ${p.result}` }, bilingual(labelOf(RESULT_LABELS, p.result))),
          p.result === 'denied'
            ? el('small', { class: 'reason' }, ` ${labelOf(REASON_LABELS, p.reason).join(' ')}`)
            : null,
        ),
      ),
    );
    state.dataset.state = 'ok';
    state.replaceChildren(
      passages.length === 0 ? bilingual(['近14天没有通行记录', 'No passages in the last 14 days']) : '',
    );
  } catch (err) {
    state.dataset.state = 'failed';
    state.textContent = `加载失败 · Failed to load: ${message(err)}`;
  }
}

async function loadVisitors() {
  try {
    const { invites } = await meApi('/me/visitors');
    $('visitor-list').replaceChildren(
      ...invites.map((v) =>
        el(
          'li',
          { 'data-invite': v.inviteId, 'data-state': v.state },
          `${v.date} ${v.maskedName} ****${v.phoneTail} ×${v.uses} `,
          el('span', { class: 'tag' }, bilingual(VISIT_STATES[v.state] ?? [v.state, v.state])),
          v.state === 'upcoming' || v.state === 'today'
            ? el(
                'button',
                { type: 'button', class: 'link revoke', onclick: () => revokeVisitor(v.inviteId) },
                '撤销 ',
                el('small', {}, 'Withdraw'),
              )
            : null,
        ),
      ),
    );
  } catch (err) {
    $('visitor-error').textContent = message(err);
  }
}

async function revokeVisitor(inviteId) {
  try {
    await meApi(`/me/visitors/${inviteId}`, { method: 'DELETE' });
  } catch (err) {
    $('visitor-error').textContent = message(err);
  }
  await loadVisitors();
}

$('visitor-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('visitor-error').textContent = '';
  try {
    const created = await meApi('/me/visitors', {
      method: 'POST',
      body: {
        name: $('visitor-name').value.trim(),
        phoneTail: $('visitor-phone').value.trim(),
        date: $('visitor-date').value,
        uses: Number($('visitor-uses').value),
      },
    });
    $('visitor-link-box').hidden = false;
    $('visitor-link').value = created.link;
    $('visitor-name').value = '';
    $('visitor-phone').value = '';
    await loadVisitors();
  } catch (err) {
    $('visitor-error').textContent =
      err.code === 'visitor-quota'
        ? `本户访客邀请已达上限 · The household's visitor quota is used up (${err.message})`
        : err.code === 'visitors-suspended'
          ? `小区暂停访客 · Visitors are suspended (${err.message})`
          : message(err);
  }
});

$('visitor-copy').addEventListener('click', async () => {
  const input = $('visitor-link');
  input.select();
  await navigator.clipboard?.writeText(input.value).catch(() => undefined);
});

async function loadReturns() {
  try {
    const { returns } = await meApi('/me/returns');
    $('return-list').replaceChildren(
      ...returns.map((r) =>
        el(
          'li',
          { 'data-return': r.returnId, 'data-status': r.status },
          `${r.returnDate} ${r.origin} · `,
          bilingual(TRANSPORTS[r.transport] ?? [r.transport, r.transport]),
          ` · ${r.members.map((m) => m.maskedName).join('、')} `,
          el('span', { class: `tag ${r.status}` }, bilingual(RETURN_STATES[r.status] ?? [r.status, r.status])),
          r.yellowUntil && r.status === 'pending' ? el('small', {}, ` → ${dateTime(r.yellowUntil)}`) : null,
        ),
      ),
    );
  } catch (err) {
    $('return-error').textContent = message(err);
  }
}

$('return-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('return-error').textContent = '';
  const members = [...$('return-members').querySelectorAll('input[type=checkbox]:checked')].map((i) => i.value);
  if (members.length === 0) {
    $('return-error').textContent = '请选择同行的家庭成员 · Choose who travelled';
    return;
  }
  const detail = $('return-detail').value.trim();
  try {
    await meApi('/me/returns', {
      method: 'POST',
      body: {
        origin: $('return-origin').value.trim(),
        returnDate: $('return-date').value,
        transport: $('return-transport').value,
        ...(detail ? { transportDetail: detail } : {}),
        members,
      },
    });
    $('return-origin').value = '';
    $('return-detail').value = '';
    await home(['已登记返沪信息', 'Your return is registered']);
  } catch (err) {
    $('return-error').textContent = message(err);
  }
});

// ---- start ---------------------------------------------------------------------------------------

setUpLargeText();
if (location.pathname === '/me/activate' || codeFromFragment()) startActivation();
else if (loadMeSession()) home();
else signInForm();
