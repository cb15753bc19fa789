/** `/`: username and password → bearer token, then on to the page of the user's role. */
import { html } from 'hono/html';
import { renderPage } from './page-layout.ts';

export function signInPage() {
  return renderPage({
    titleZh: '登录',
    titleEn: 'Sign in',
    script: 'sign-in.js',
    modules: ['session.js'],
    page: 'sign-in',
    signedIn: false,
    body: html`<main class="sign-in">
  <form id="sign-in-form" class="card" autocomplete="on">
    <h2>登录 <small>Sign in</small></h2>
    <p id="expired-note" class="notice" role="status" hidden>登录已过期，请重新登录。 <small>Your session has ended — sign in again to continue where you were.</small></p>
    <p id="kept-note" class="muted" hidden>您输入的内容已保留，登录后恢复。 <small>What you typed is kept and comes back after signing in.</small></p>
    <label>用户名 <small>Username</small><input name="username" id="username" required autocomplete="username" maxlength="64"></label>
    <label>密码 <small>Password</small><input name="password" id="password" type="password" required autocomplete="current-password" maxlength="256"></label>
    <button type="submit" class="primary">登录 <small>Sign in</small></button>
    <p id="sign-in-error" class="error" role="alert"></p>
  </form>
</main>`,
  });
}
