/**
 * The terminal's two pages. Neither has inline script or style (the CSP forbids both): the code
 * is in `assets/screen.js` and `assets/guard.js`, the look in `assets/terminal.css`, all served by
 * the gate itself (it may be offline; no CDN, no web fonts).
 *
 * - `SCREEN_PAGE` (`/`): the public result screen for the person at the gate — a full-screen result
 *   per lane, landscape or portrait kiosk, nothing a stranger should not see.
 * - `GUARD_PAGE` (`/guard`): the guard's sign-in, then the gate's state, the role switch, the claim
 *   for a household member without a card, the last scans, alarms and the manual open.
 */
const HEAD = `<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="stylesheet" href="/assets/terminal.css">`;

export const SCREEN_PAGE = `<!doctype html>
<html lang="zh-CN">
<head>
${HEAD}
<title>安心门 Anxin Gate</title>
<script type="module" src="/assets/screen.js"></script>
</head>
<body class="screen">
<div id="banners">
  <div id="distribution" class="banner" data-round="none"></div>
  <div id="offline" class="banner">离线，数据可能过期 · Offline: data may be out of date</div>
  <div id="fire" class="banner">火警：自由通行 · Fire alarm: free passage</div>
  <div id="turnstile-fault" class="banner">闸机故障，请找门卫 · Turnstile out of order, please see the guard</div>
</div>
<main id="lanes" data-count="1">
  <section class="lane idle" data-lane="in" data-state="idle">
    <div class="lane-label"></div>
    <div class="icon" aria-hidden="true"></div>
    <div class="zh">请刷码或刷身份证</div>
    <div class="en">Scan your pass or ID card</div>
    <ul class="items"></ul>
    <div class="name"></div>
    <div class="next"><div class="next-zh"></div><div class="next-en"></div></div>
    <div class="health"><span class="dot"></span><span class="health-text"></span></div>
    <div class="when"></div>
  </section>
</main>
</body>
</html>
`;

export const GUARD_PAGE = `<!doctype html>
<html lang="zh-CN">
<head>
${HEAD}
<title>门卫 Guard · 安心门 Anxin Gate</title>
<script type="module" src="/assets/guard.js"></script>
</head>
<body class="guard">
<header>
  <h1>门卫面板 Guard panel</h1>
  <span id="who"></span>
  <button id="sign-out" type="button" hidden>退出 Sign out</button>
</header>
<section id="sign-in-view">
  <form id="sign-in">
    <label>门卫编号 Guard id <input name="guardId" autocomplete="username" required maxlength="64"></label>
    <label>PIN <input name="pin" type="password" inputmode="numeric" autocomplete="current-password" required maxlength="12" pattern="[0-9]{4,12}"></label>
    <button type="submit">登录 Sign in</button>
    <div id="sign-in-result" role="status"></div>
  </form>
</section>
<section id="panel-view" hidden>
  <div class="kv">
    <span>闸机 Gate</span><b id="gate">…</b>
    <span>模式 Mode</span><b id="mode">…</b>
    <span>连接 Cloud</span><b id="online">…</b>
    <span>状态 Health</span><b id="health">…</b>
    <span>待上传 Journal</span><b id="depth">…</b>
    <span>数据版本 Rev</span><b id="rev">…</b>
    <span>设备 Devices</span><b id="devices">…</b>
    <span>时钟 Clock</span><b id="clock">…</b>
    <span>角色 Role</span><b id="role">…</b>
  </div>
  <h2>角色切换 Role switch</h2>
  <form id="role-form" data-switchable="false">
    <p id="role-rule"></p>
    <select name="role"><option value="entry">通行 Passage</option><option value="distribution">物资发放 Distribution</option></select>
    <input name="reason" placeholder="原因 Reason (required)" required maxlength="200">
    <button type="submit">切换 Switch</button>
    <div id="role-result" role="status"></div>
  </form>
  <table><tbody id="role-log"></tbody></table>
  <h2>物资代领 Claim for a member without a card</h2>
  <form id="household-form">
    <input name="household" placeholder="户号 Household" required maxlength="64">
    <button type="submit">查询 Look up</button>
  </form>
  <form id="claim-form" hidden>
    <p id="household"></p>
    <select name="personId" aria-label="成员 Member"></select>
    <input name="reason" placeholder="原因 Reason (required)" required maxlength="200">
    <button type="submit">登记领取 Record the claim</button>
  </form>
  <div id="claim-result" role="status" data-outcome=""></div>
  <h2>人工放行 Manual open</h2>
  <form id="open">
    <select name="direction"><option value="in">进 In</option><option value="out">出 Out</option></select>
    <input name="reason" placeholder="原因 Reason (required)" required maxlength="200">
    <button type="submit">放行 Open</button>
    <div id="open-result" role="status"></div>
  </form>
  <h2>最近通行 Last scans</h2>
  <table><tbody id="scans"></tbody></table>
  <h2>报警 Alarms</h2>
  <table><tbody id="alarms"></tbody></table>
</section>
</body>
</html>
`;
