/**
 * The resident side's pages (docs/web.md, "The resident side"): `/me` and `/me/activate` (the
 * resident's phone page: activation, sign-in, household, passages, visitors, return registration,
 * and — only while a supply round is open for the household — supplies, me-supply.js),
 * `/visit` (a visitor's pass) and `/dashboard/resident-side` (the manager's: activation letters and
 * codes, the returns to review, the policy, visitor figures). Static shells: every fact is loaded
 * by the page's module script with the bearer token, nothing inline (the cloud's CSP), no
 * framework and no outside URL. Scripts and the page stylesheet come from `/me/assets/` (a fixed
 * list), the common stylesheet and helpers from `/assets/`.
 */
import { readFile } from 'node:fs/promises';
import { Hono } from 'hono';
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { AppEnv } from '../http/app-env.ts';

/** The files `/me/assets/` serves; other extensions of the page (the device pass panel) add theirs here. */
export const ME_ASSETS: string[] = ['me.js', 'me.css', 'visit.js', 'resident-side.js', 'me-api.js', 'me-supply.js'];

/** Extra module scripts `/me` loads (the device pass panel registers itself through this list). */
export const ME_PAGE_SCRIPTS: string[] = [];

const ASSET_DIR = new URL('./assets/', import.meta.url);
const TYPES: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

function shell(o: {
  titleZh: string;
  titleEn: string;
  page: string;
  scripts: string[];
  body: HtmlEscapedString | Promise<HtmlEscapedString>;
}) {
  return html`<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.titleZh} · ${o.titleEn} — 安心门禁 Anxin Gate</title>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/style.css">
<link rel="stylesheet" href="/me/assets/me.css">
${raw(o.scripts.map((s) => `<script type="module" src="${s}"></script>`).join('\n'))}
</head>
<body data-page="${o.page}">
<header class="topbar me-top">
  <div class="brand"><span class="logo" aria-hidden="true"></span><span>安心门禁 <small>Anxin Gate</small></span></div>
  <h1>${o.titleZh} <small>${o.titleEn}</small></h1>
  <div class="me-tools">
    <button type="button" id="large-text" class="link" aria-pressed="false">大字 <small>Large text</small></button>
    <button type="button" id="sign-out" class="link" hidden>退出 <small>Sign out</small></button>
  </div>
</header>
${o.body}
</body>
</html>`;
}

/** The visitors card of `/me`. */
function visitorSection() {
  return html`    <section id="visitors" class="card">
      <h2>访客 <small>Visitors</small></h2>
      <p id="visitor-note" class="muted"></p>
      <form id="visitor-form">
        <label>访客姓名 <small>Visitor's name</small><input id="visitor-name" required maxlength="32" data-no-draft></label>
        <label>手机尾号4位 <small>Last 4 digits of their phone</small><input id="visitor-phone" required inputmode="numeric" pattern="[0-9]{4}" maxlength="4"></label>
        <label>来访日期 <small>Date of visit</small><input id="visitor-date" type="date" required></label>
        <label>可用次数 <small>Passages allowed</small><select id="visitor-uses">${raw(
          [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
            .map((n) => `<option value="${n}"${n === 2 ? ' selected' : ''}>${n}</option>`)
            .join(''),
        )}</select></label>
        <button type="submit" class="primary">邀请 <small>Invite</small></button>
        <p id="visitor-error" class="error" role="alert"></p>
      </form>
      <div id="visitor-link-box" class="link-box" hidden>
        <p>把这个链接发给访客： <small>Send this link to your visitor:</small></p>
        <input id="visitor-link" readonly>
        <button type="button" id="visitor-copy">复制 <small>Copy</small></button>
      </div>
      <ul id="visitor-list" class="plain"></ul>
    </section>`;
}

/** The return registration card of `/me`. */
function returnSection() {
  return html`    <section id="returns" class="card">
      <h2>返沪登记 <small>Return registration</small></h2>
      <p id="return-note" class="muted"></p>
      <form id="return-form">
        <label>出发地 <small>Coming from</small><input id="return-origin" required maxlength="60"></label>
        <label>返回日期 <small>Date of return</small><input id="return-date" type="date" required></label>
        <label>交通方式 <small>Transport</small><select id="return-transport">
          <option value="train">火车 Train</option><option value="plane">飞机 Plane</option><option value="car">汽车 Car</option>
          <option value="bus">大巴 Bus</option><option value="ship">轮船 Ship</option><option value="other">其他 Other</option>
        </select></label>
        <label>车次/航班（可选） <small>Train, flight or plate (optional)</small><input id="return-detail" maxlength="40"></label>
        <fieldset id="return-members"><legend>同行家庭成员 <small>Who travelled</small></legend></fieldset>
        <button type="submit" class="primary">登记 <small>Register</small></button>
        <p id="return-error" class="error" role="alert"></p>
      </form>
      <ul id="return-list" class="plain"></ul>
    </section>`;
}

export function mePage() {
  return shell({
    titleZh: '我的',
    titleEn: 'My home',
    page: 'me',
    scripts: ['/me/assets/me.js', '/me/assets/me-supply.js', ...ME_PAGE_SCRIPTS],
    body: html`<main class="me" id="me" data-state="loading">
  <p id="me-notice" class="notice" role="status" hidden></p>

  <form id="activate-form" class="card" hidden autocomplete="off">
    <h2>激活账户 <small>Activate your account</small></h2>
    <p class="muted">请输入物业给您的激活码。 <small>Enter the activation code from your letter.</small></p>
    <label>激活码 <small>Activation code</small><input id="activate-code" name="code" required maxlength="40" autocapitalize="characters" spellcheck="false"></label>
    <p id="activate-for" class="for" hidden></p>
    <label>登录名 <small>Sign-in name</small><input id="activate-login" name="login" required minlength="3" maxlength="32" autocomplete="username" autocapitalize="none"></label>
    <label>密码（至少8位） <small>Password (8 or more)</small><input id="activate-password" name="password" type="password" required minlength="8" maxlength="256" autocomplete="new-password"></label>
    <label>再次输入密码 <small>Password again</small><input id="activate-password2" type="password" required minlength="8" maxlength="256" autocomplete="new-password"></label>
    <button type="submit" class="primary">激活并登录 <small>Activate and sign in</small></button>
    <p id="activate-error" class="error" role="alert"></p>
  </form>

  <form id="me-sign-in" class="card" hidden>
    <h2>住户登录 <small>Resident sign-in</small></h2>
    <label>登录名 <small>Sign-in name</small><input id="me-login" name="login" required maxlength="64" autocomplete="username" autocapitalize="none"></label>
    <label>密码 <small>Password</small><input id="me-password" name="password" type="password" required maxlength="256" autocomplete="current-password"></label>
    <button type="submit" class="primary">登录 <small>Sign in</small></button>
    <p id="me-sign-in-error" class="error" role="alert"></p>
    <p class="muted"><a href="/me/activate">第一次使用？输入激活码 <small>First time? Enter your activation code</small></a></p>
  </form>

  <div id="home" hidden>
    <section id="health-card" class="card health-card" data-health="unknown">
      <p class="who"><span id="me-name"></span> · <span id="me-compound"></span></p>
      <p class="health-big" id="me-health"></p>
      <p class="muted" id="me-mode"></p>
    </section>
    <section id="pass-panel" class="card" data-slot="pass" hidden></section>
    <section id="supplies" class="card" data-state="loading" hidden>
      <h2>物资发放 <small>Supplies</small></h2>
      <p id="supplies-state" class="muted" role="status"></p>
      <ul id="supply-rounds" class="plain"></ul>
    </section>
    <section id="household" class="card">
      <h2>家庭成员 <small>Household</small></h2>
      <ul id="members" class="plain"></ul>
    </section>
    <section id="passages" class="card">
      <h2>近14天通行 <small>My passages, 14 days</small></h2>
      <p id="passages-state" class="muted" data-state="loading">加载中… <small>Loading…</small></p>
      <ol id="passage-list" class="plain passages"></ol>
    </section>
    ${visitorSection()}
    ${returnSection()}
  </div>
  <p id="idle-banner" class="notice" role="status" hidden></p>
</main>`,
  });
}

export function visitPage() {
  return shell({
    titleZh: '访客通行证',
    titleEn: 'Visitor pass',
    page: 'visit',
    scripts: ['/me/assets/visit.js'],
    body: html`<main class="me visit" id="visit" data-state="loading">
  <section class="card pass-card">
    <p id="visit-state" class="muted">加载中… <small>Loading…</small></p>
    <div id="visit-pass" hidden>
      <p class="who"><span id="visit-name"></span> · <span id="visit-compound"></span></p>
      <img id="visit-qr" alt="访客二维码 Visitor QR code" width="280" height="280">
      <p id="visit-when"></p>
      <p class="muted">请在闸机扫描此码，门卫会核对手机尾号。 <small>Scan this at the gate; the guard checks your phone's last digits.</small></p>
    </div>
  </section>
</main>`,
  });
}

export function residentSideManagerPage() {
  return shell({
    titleZh: '住户端管理',
    titleEn: 'Resident side',
    page: 'resident-side',
    scripts: ['/me/assets/resident-side.js'],
    body: html`<main class="me manage" id="manage" data-state="loading">
  <p class="muted"><a href="/dashboard">← 管理后台 <small>Dashboard</small></a> · <span id="manage-compound"></span></p>
  <section id="activation" class="card">
    <h2>激活码 <small>Activation codes</small></h2>
    <form id="issue-form">
      <label>户号 <small>Household</small><input id="issue-household" maxlength="64" placeholder="h-101"></label>
      <label>或人员编号（逗号分隔） <small>or person ids, comma-separated</small><input id="issue-persons" maxlength="4000"></label>
      <button type="submit" class="primary">生成并打印 <small>Issue and print</small></button>
      <button type="button" id="issue-csv">导出CSV <small>Export CSV</small></button>
      <p id="issue-error" class="error" role="alert"></p>
    </form>
    <div id="letters" class="letters"></div>
    <h3>已发激活码 <small>Issued codes</small></h3>
    <p id="codes-state" class="muted"></p>
    <table id="codes" class="scroll"><thead><tr><th>姓名 Name</th><th>人员 Person</th><th>状态 State</th><th>到期 Expires</th><th></th></tr></thead><tbody></tbody></table>
  </section>
  <section id="review" class="card">
    <h2>返沪登记审核 <small>Returns to review</small></h2>
    <p id="returns-state" class="muted"></p>
    <ul id="returns-list" class="plain"></ul>
  </section>
  <section id="policy" class="card">
    <h2>住户端规则 <small>Policy</small></h2>
    <form id="policy-form">
      <label>每户访客邀请数 <small>Invitations per household</small><input id="policy-quota" type="number" min="0" max="100" required></label>
      <label>统计天数 <small>… per this many days</small><input id="policy-quota-days" type="number" min="1" max="31" required></label>
      <label><input id="policy-controlled" type="checkbox"> 管控模式允许访客 <small>Visitors in controlled mode</small></label>
      <label><input id="policy-normal" type="checkbox"> 正常模式允许访客 <small>Visitors in normal mode</small></label>
      <label>返沪黄码天数 <small>Days yellow after a return</small><input id="policy-days" type="number" min="0" max="60" required></label>
      <label>解除方式 <small>Release</small><select id="policy-release"><option value="after-days">到期自动 After the days</option><option value="after-review">须经审核 Only after review</option></select></label>
      <button type="submit" class="primary">保存 <small>Save</small></button>
      <p id="policy-state" class="muted" role="status"></p>
    </form>
  </section>
  <section id="visitor-stats" class="card">
    <h2>近7天访客 <small>Visitors, last 7 days</small></h2>
    <p id="visitor-stats-text" class="muted"></p>
  </section>
</main>`,
  });
}

export function residentSidePages(): Hono<AppEnv> {
  const cache = new Map<string, Promise<Buffer>>();
  const asset = (name: string) => {
    let body = cache.get(name);
    if (!body) {
      body = readFile(new URL(name, ASSET_DIR));
      cache.set(name, body);
    }
    return body;
  };
  const noCache = { 'cache-control': 'no-cache' };
  return new Hono<AppEnv>()
    .get('/me', async (c) => c.html(await mePage(), 200, noCache))
    .get('/me/activate', async (c) => c.html(await mePage(), 200, noCache))
    .get('/visit', async (c) => c.html(await visitPage(), 200, noCache))
    .get('/dashboard/resident-side', async (c) => c.html(await residentSideManagerPage(), 200, noCache))
    .get('/me/assets/:name', async (c) => {
      const name = c.req.param('name');
      if (!ME_ASSETS.includes(name)) return c.notFound();
      const type = TYPES[name.slice(name.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
      return c.body(new Uint8Array(await asset(name)), 200, { 'content-type': type, ...noCache });
    });
}
