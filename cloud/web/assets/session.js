// The signed-in session of a page: the bearer token lives in sessionStorage (gone with the tab),
// every API call sends it, and a 401 sends the user back to the sign-in page.

const KEY = 'anxin.session';

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

/** Ends the page unless a session with one of `roles` exists; fills the header. */
export function requireSession(roles) {
  const session = loadSession();
  if (!session) {
    location.replace('/');
    throw new Error('not signed in');
  }
  if (!roles.includes(session.role)) {
    location.replace(homeOf(session.role));
    throw new Error('wrong page for this role');
  }
  const who = document.getElementById('who');
  if (who) who.textContent = `${session.username} · ${session.role}${session.compound ? ` · ${session.compound}` : ''}`;
  document.getElementById('sign-out')?.addEventListener('click', () => {
    clearSession();
    location.replace('/');
  });
  return session;
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
export async function api(path, { method = 'GET', body, raw, contentType, as = 'json' } = {}) {
  const session = loadSession();
  const headers = { authorization: `Bearer ${session?.token ?? ''}` };
  let payload;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  } else if (raw !== undefined) {
    headers['content-type'] = contentType ?? 'application/octet-stream';
    payload = raw;
  }
  const response = await fetch(`/api/v1${path}`, { method, headers, body: payload });
  if (response.status === 401) {
    clearSession();
    location.replace('/');
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
  return issues ? `${err.message} — ${issues}` : err.message;
}
