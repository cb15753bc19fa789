// `/`: sign in, keep the token for this tab, go to the page of the role.
import { homeOf, loadSession, saveSession } from './session.js';

const existing = loadSession();
if (existing) location.replace(homeOf(existing.role));

const form = document.getElementById('sign-in-form');
const error = document.getElementById('sign-in-error');

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
          : (body?.error?.message ?? `HTTP ${response.status}`);
      return;
    }
    saveSession({ ...body, username });
    location.replace(homeOf(body.role));
  } catch (err) {
    error.textContent = `无法连接服务器 · Cannot reach the server (${err.message})`;
  }
});
