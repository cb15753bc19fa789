// The resident's session on the phone page: the bearer token in sessionStorage (gone with the tab),
// sent with every call to /api/v1/me/…; a 401 (ended, idle, signed out elsewhere) goes back to the
// sign-in form with a note. Separate from the staff pages' session (session.js): another key,
// another sign-in.

const KEY = 'anxin.me.session';

export function loadMeSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
    return s && typeof s.token === 'string' && s.expiresAt > Date.now() ? s : null;
  } catch {
    return null;
  }
}

export function saveMeSession(session) {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearMeSession() {
  sessionStorage.removeItem(KEY);
}

export class MeApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? (status === 0 ? '无法连接服务器 · Cannot reach the server' : `HTTP ${status}`));
    this.status = status;
    this.code = body?.error?.code ?? 'http-error';
    this.issues = body?.error?.issues ?? [];
  }
}

/** `onEnded` is called once when the server says the session is over. */
let onEnded = () => {};
export function whenSessionEnds(fn) {
  onEnded = fn;
}

/** Calls `/api/v1{path}`; with `auth: false` without the token (activation, sign-in, a visitor's link). */
export async function meApi(path, { method = 'GET', body, auth = true } = {}) {
  const headers = {};
  if (auth) {
    const session = loadMeSession();
    if (!session) {
      onEnded('expired');
      throw new MeApiError(401, null);
    }
    headers.authorization = `Bearer ${session.token}`;
  }
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new MeApiError(0, null);
  }
  if (response.status === 401 && auth) {
    clearMeSession();
    onEnded('expired');
  }
  if (!response.ok) throw new MeApiError(response.status, await response.json().catch(() => null));
  return response.status === 204 ? null : response.json();
}

/** Large text, remembered on this phone. */
export function setUpLargeText() {
  const button = document.getElementById('large-text');
  const apply = (on) => {
    document.body.classList.toggle('large-text', on);
    button?.setAttribute('aria-pressed', String(on));
  };
  apply(localStorage.getItem('anxin.me.large') === '1');
  button?.addEventListener('click', () => {
    const on = !document.body.classList.contains('large-text');
    localStorage.setItem('anxin.me.large', on ? '1' : '0');
    apply(on);
  });
}
