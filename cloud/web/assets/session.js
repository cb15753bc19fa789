// The signed-in session of a page: the bearer token lives in sessionStorage (gone with the tab),
// every API call sends it. When the session ends — refused by the server (401: expired, signed
// out elsewhere, idle timeout) or past its expiry — the page says so on the sign-in page, keeps
// what the user typed and where they were, and brings both back after the next sign-in.

const KEY = 'anxin.session';
/** `{ returnTo, username, drafts: {id: value}, why: 'ended'|'idle', at }`: what the next sign-in restores. */
const RESUME_KEY = 'anxin.resume';
/** Pages a sign-in may return to (never an outside URL). */
const RETURN_PATHS = ['/console', '/dashboard'];

/** @returns {{token: string, role: string, expiresAt: number, compound?: string, username: string} | null} */
export function loadSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
    if (!session || typeof session.token !== 'string' || session.expiresAt <= Date.now()) return null;
    return session;
  } catch {
    return null;
  }
}

/** The stored session even when expired (whose user to resume for). */
function storedSession() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
  } catch {
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

/** The page of a role: guards work at the console, managers and admins on the dashboard. */
export function homeOf(role) {
  return role === 'guard' ? '/console' : '/dashboard';
}

function defaultOf(field) {
  if (field.tagName !== 'SELECT') return field.defaultValue;
  const options = [...field.options];
  return (options.find((o) => o.defaultSelected) ?? options[0])?.value;
}

/** Every filled field of the page by id, except secrets and files. */
function collectDrafts() {
  const drafts = {};
  for (const field of document.querySelectorAll('input[id], select[id], textarea[id]')) {
    if (['password', 'file', 'hidden'].includes(field.type) || field.dataset.noDraft !== undefined) continue;
    if (field.type === 'checkbox' || field.type === 'radio') {
      if (field.checked !== field.defaultChecked) drafts[field.id] = field.checked;
    } else if (field.value !== defaultOf(field)) {
      drafts[field.id] = field.value;
    }
  }
  return drafts;
}

let ending = false;

/**
 * The session is over: remember where the user was and what they typed, then go to the sign-in
 * page, which says why. `reason` is `expired` (default) or `signed-out`.
 */
export function endSession(reason = 'expired', why = 'ended') {
  if (ending) return;
  ending = true;
  if (reason === 'expired') {
    const previous = storedSession();
    sessionStorage.setItem(
      RESUME_KEY,
      JSON.stringify({
        returnTo: `${location.pathname}${location.search}${location.hash}`,
        username: previous?.username ?? null,
        drafts: collectDrafts(),
        why,
        at: Date.now(),
      }),
    );
  } else {
    sessionStorage.removeItem(RESUME_KEY);
  }
  clearSession();
  location.replace(reason === 'expired' ? '/?expired=1' : '/');
}

/** What a sign-in should resume, if anything: `{returnTo, username, drafts}`. */
export function pendingResume() {
  try {
    return JSON.parse(sessionStorage.getItem(RESUME_KEY) ?? 'null');
  } catch {
    return null;
  }
}

/** Where a user who just signed in goes: back where the session ended, if that page is theirs. */
export function landingAfterSignIn(role, username) {
  const resume = pendingResume();
  const home = homeOf(role);
  if (!resume || typeof resume.returnTo !== 'string' || resume.username !== username) {
    sessionStorage.removeItem(RESUME_KEY);
    return home;
  }
  const url = new URL(resume.returnTo, location.origin);
  if (url.origin !== location.origin || !RETURN_PATHS.includes(url.pathname)) return home;
  if (url.pathname !== home && !(url.pathname === '/console' && role !== 'guard')) return home;
  return `${url.pathname}${url.search}${url.hash}`;
}

/**
 * Puts back what the user had typed before the session ended (call once the page's fields,
 * selects included, are built). Only on the page the session ended on, for the same user.
 */
export function restoreDrafts() {
  const resume = pendingResume();
  sessionStorage.removeItem(RESUME_KEY);
  if (!resume?.drafts) return 0;
  const session = loadSession();
  if (!session || resume.username !== session.username) return 0;
  if (new URL(resume.returnTo, location.origin).pathname !== location.pathname) return 0;
  let restored = 0;
  for (const [id, value] of Object.entries(resume.drafts)) {
    const field = document.getElementById(id);
    if (!field || !('value' in field)) continue;
    if (typeof value === 'boolean') field.checked = value;
    else field.value = String(value);
    field.dispatchEvent(new Event('input', { bubbles: true }));
    field.dispatchEvent(new Event('change', { bubbles: true }));
    restored += 1;
  }
  if (restored > 0) {
    const note = document.getElementById('restored-note');
    if (note) note.hidden = false;
  }
  return restored;
}

/**
 * Never settles: awaited at a module's top level it stops the page's module graph while the browser
 * leaves, without an uncaught error (a thrown one would show up as a page error on every visit).
 */
const LEAVING = new Promise(() => {});

/**
 * The session if it has one of `roles` (and fills the header); otherwise sends the browser to the
 * sign-in page or the role's own page and returns a promise that never settles, so the page's
 * top-level `await requireSession(…)` ends the page quietly.
 */
export function requireSession(roles) {
  const session = loadSession();
  if (!session) {
    // An expired session resumes after sign-in; no session at all just signs in.
    if (storedSession()) endSession('expired');
    else location.replace('/');
    return LEAVING;
  }
  if (!roles.includes(session.role)) {
    location.replace(homeOf(session.role));
    return LEAVING;
  }
  const who = document.getElementById('who');
  if (who) who.textContent = `${session.username} · ${session.role}${session.compound ? ` · ${session.compound}` : ''}`;
  document.getElementById('sign-out')?.addEventListener('click', async () => {
    // Ends the server-side session where the cloud keeps one; the page signs out either way.
    await fetch('/api/v1/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${session.token}` } }).catch(
      () => undefined,
    );
    endSession('signed-out');
  });
  // The token's own end: say so then, not at the next click.
  const left = session.expiresAt - Date.now();
  if (left < 2 ** 31 - 1) setTimeout(() => endSession('expired'), Math.max(0, left));
  watchIdle(session, session.idleTimeoutMs ?? DEFAULT_IDLE_MS);
  return session;
}

const DEFAULT_IDLE_MS = 30 * 60 * 1000;

/**
 * A page left without keyboard, pointer or touch input for the session's idle timeout (the login
 * answer's `idleTimeoutMs`) ends its session on the server and goes to the sign-in page, keeping
 * what was typed. Background polling and the live stream do not count as input. A banner counts
 * the last minute down (a quarter of the timeout when that is shorter), so a guard at a wall
 * screen can stay signed in with one touch.
 */
function watchIdle(session, idleMs) {
  let lastInput = Date.now();
  const warnMs = Math.min(60_000, idleMs / 4);
  let banner = null;
  const touch = () => {
    lastInput = Date.now();
    if (banner) {
      banner.remove();
      banner = null;
    }
  };
  for (const type of ['pointerdown', 'keydown', 'wheel', 'touchstart']) {
    window.addEventListener(type, touch, { passive: true, capture: true });
  }
  const check = setInterval(
    async () => {
      const left = idleMs - (Date.now() - lastInput);
      if (left > warnMs) return;
      if (left > 0) {
        if (!banner) {
          banner = document.createElement('p');
          banner.id = 'idle-warning';
          banner.className = 'banner idle-warning';
          banner.setAttribute('role', 'alert');
          document.body.prepend(banner);
        }
        const seconds = Math.ceil(left / 1000);
        banner.textContent = `长时间未操作，${seconds} 秒后将退出登录；点击或按任意键继续。 Signing out in ${seconds} s for inactivity — touch, click or press a key to stay.`;
        return;
      }
      clearInterval(check);
      await fetch('/api/v1/auth/logout', {
        method: 'POST',
        headers: { authorization: `Bearer ${session.token}` },
      }).catch(() => undefined);
      endSession('expired', 'idle');
    },
    Math.max(250, Math.min(1000, idleMs / 8)),
  );
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? 'http-error';
    this.issues = body?.error?.issues ?? [];
    this.body = body;
  }
}

/** Calls the API with the session's token. `body` (object) is sent as JSON; `raw` as is. */
export async function api(path, { method = 'GET', body, raw, contentType, as = 'json', signal } = {}) {
  const session = loadSession();
  if (!session) {
    endSession('expired');
    throw new ApiError(401, null);
  }
  const headers = { authorization: `Bearer ${session.token}` };
  let payload;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  } else if (raw !== undefined) {
    headers['content-type'] = contentType ?? 'application/octet-stream';
    payload = raw;
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { method, headers, body: payload, signal });
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    throw new ApiError(0, { error: { code: 'network', message: '无法连接服务器 · Cannot reach the server' } });
  }
  if (response.status === 401) {
    endSession('expired');
    throw new ApiError(401, null);
  }
  if (!response.ok) {
    const errorBody = await response.json().catch(() => null);
    throw new ApiError(response.status, errorBody);
  }
  if (response.status === 204) return null;
  if (as === 'text') return response.text();
  if (as === 'blob') return { blob: await response.blob(), disposition: response.headers.get('content-disposition') };
  return response.json();
}

/** A readable one-line message of a failed call, with the field problems. */
export function describeError(err) {
  if (!(err instanceof ApiError)) return String(err?.message ?? err);
  const issues = err.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  const status = err.status > 0 ? ` (HTTP ${err.status})` : '';
  return issues ? `${err.message}${status} — ${issues}` : `${err.message}${status}`;
}
