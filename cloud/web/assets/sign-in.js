// `/`: sign in, keep the token for this tab, go to the page of the role — or back to where an
// expired session left off (session.js keeps the place and what was typed).
import { landingAfterSignIn, loadSession, pendingResume, saveSession } from './session.js';

const existing = loadSession();
if (existing) location.replace(landingAfterSignIn(existing.role, existing.username));

const form = document.getElementById('sign-in-form');
const error = document.getElementById('sign-in-error');
const resume = pendingResume();
if (new URLSearchParams(location.search).has('expired') || resume) {
  const note = document.getElementById('expired-note');
  note.hidden = false;
  if (resume?.why === 'idle') {
    note.replaceChildren(
      '因长时间未操作已退出登录，请重新登录。 ',
      Object.assign(document.createElement('small'), {
        textContent: 'You were signed out after a while without use — sign in again to continue where you were.',
      }),
    );
  }
  if (resume?.username) form.username.value = resume.username;
  if (resume?.drafts && Object.keys(resume.drafts).length > 0) document.getElementById('kept-note').hidden = false;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.textContent = '';
  const username = form.username.value.trim();
  const password = form.password.value;
  try {
    const response = await fetch('/api/v1/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      error.textContent =
        response.status === 401
          ? '用户名或密码错误 · Wrong username or password'
          : response.status === 429
            ? `尝试次数过多，请稍后再试 · Too many attempts, try again later (${response.headers.get('retry-after') ?? '?'} s)`
            : (body?.error?.message ?? `HTTP ${response.status}`);
      return;
    }
    saveSession({ ...body, username });
    location.replace(landingAfterSignIn(body.role, username));
  } catch (err) {
    error.textContent = `无法连接服务器 · Cannot reach the server (${err.message})`;
  }
});
