/**
 * `/console`: the guard console. Every gate of the compound with its live state,
 * the alarms that wait for an acknowledgement (with a note), the live feed of passages (pause,
 * filter), and remote open with a required reason. Filled and kept current by /assets/console.js
 * and its parts (console-*.js) over `/api/v1/live`; every state it shows is honest: a failed load
 * is shown as a failure with a retry, a stalled stream as stale, a lost network as offline
 * (docs/web.md).
 */
import { html } from 'hono/html';
import { renderPage } from './page-layout.ts';

/**
 * Every module console.js imports, directly or not: one per part of the page
 * (cloud/web/assets/console-*.js), the live stream and the shared ones. Preloaded by the page; each
 * must also be in `WEB_ASSETS` (test/web/web-api.test.ts walks the imports and checks both).
 */
const CONSOLE_MODULES = [
  'session.js',
  'format.js',
  'labels.js',
  'live-stream.js',
  'console-common.js',
  'console-gates.js',
  'console-alarms.js',
  'console-alerts.js',
  'console-feed.js',
  'console-link.js',
] as const;

/** Remote open (a reason required) and the acknowledgement of an alarm (with a note). */
const dialogs = html`<dialog id="open-dialog" class="dialog">
  <form id="open-form" method="dialog">
    <h2>远程开门 <small>Remote open</small></h2>
    <p>闸机 <small>Gate</small>: <b id="open-gate-name"></b></p>
    <fieldset class="choice">
      <legend>方向 <small>Direction</small></legend>
      <label><input type="radio" name="direction" value="in" checked> 进 <small>In</small></label>
      <label><input type="radio" name="direction" value="out"> 出 <small>Out</small></label>
    </fieldset>
    <label>原因（必填） <small>Reason (required)</small>
      <input id="open-reason" name="reason" required maxlength="200" placeholder="例如：快递员送药 / e.g. courier with medicine"></label>
    <p id="open-error" class="error" role="alert"></p>
    <div class="actions">
      <button type="button" id="open-cancel">取消 <small>Cancel</small></button>
      <button type="submit" class="primary" id="open-submit">开门 <small>Open</small></button>
    </div>
  </form>
</dialog>
<dialog id="ack-dialog" class="dialog">
  <form id="ack-form" method="dialog">
    <h2>确认告警 <small>Acknowledge alarm</small></h2>
    <p id="ack-what"></p>
    <label>处理说明 <small>Note: what was found or done</small>
      <input id="ack-note" name="note" maxlength="200" placeholder="例如：已到场查看，误报 / e.g. checked on site, false alarm"></label>
    <p id="ack-error" class="error" role="alert"></p>
    <div class="actions">
      <button type="button" id="ack-cancel">取消 <small>Cancel</small></button>
      <button type="submit" class="primary" id="ack-submit">确认 <small>Acknowledge</small></button>
    </div>
  </form>
</dialog>`;

export function consolePage() {
  return renderPage({
    titleZh: '门卫控制台',
    titleEn: 'Guard console',
    script: 'console.js',
    modules: CONSOLE_MODULES,
    page: 'console',
    signedIn: true,
    body: html`<div class="console-bar" role="toolbar" aria-label="控制台设置 Console settings">
  <span id="zone-label" class="muted zone-label"></span>
  <span class="spacer"></span>
  <button type="button" id="wall-toggle" aria-pressed="false">大屏 <small>Wall mode</small></button>
  <button type="button" id="sound-toggle" aria-pressed="true" data-played="0">声音开 <small>Sound on</small></button>
  <button type="button" id="notify-toggle" aria-pressed="false">桌面通知 <small>Notifications</small></button>
</div>
<p id="link-banner" class="banner" role="alert" hidden></p>
<main class="console">
  <section class="panel gates-panel" aria-labelledby="gates-title">
    <h2 id="gates-title">闸机 <small>Gates</small></h2>
    <div id="gates-state" class="load-state" data-state="loading" role="status">加载中… <small>Loading…</small></div>
    <div id="gates" class="gates"></div>
  </section>
  <section class="panel alarms-panel" aria-labelledby="alarms-title">
    <h2 id="alarms-title">告警 <small>Alarms</small> <span id="alarm-count" class="count" data-zero="true">0</span></h2>
    <div id="alarms-state" class="load-state" data-state="loading" role="status">加载中… <small>Loading…</small></div>
    <ul id="alarms" class="alarms"></ul>
    <p id="alarms-empty" class="empty" hidden>无待处理告警 <small>No open alarms</small></p>
  </section>
  <section class="panel feed-panel" aria-labelledby="feed-title">
    <h2 id="feed-title">实时通行 <small>Live passages</small></h2>
    <div class="feed-tools">
      <button type="button" id="feed-pause" aria-pressed="false">暂停 <small>Pause</small></button>
      <span id="feed-queued" class="queued" hidden></span>
      <label class="inline">结果 <small>Result</small>
        <select id="feed-result"><option value="">全部 All</option><option value="denied">仅拒绝 Refusals only</option></select></label>
      <label class="inline">闸机 <small>Gate</small>
        <select id="feed-gate"><option value="">全部 All gates</option></select></label>
    </div>
    <div id="feed-state" class="load-state" data-state="loading" role="status">加载中… <small>Loading…</small></div>
    <table class="feed">
      <thead><tr>
        <th>时间 <small>Time</small></th><th>闸机 <small>Gate</small></th><th>方向 <small>Dir.</small></th>
        <th>方式 <small>Method</small></th><th>健康 <small>Health</small></th><th>姓名 <small>Name</small></th>
        <th>结果 <small>Result</small></th><th>原因 <small>Reason</small></th>
      </tr></thead>
      <tbody id="feed"></tbody>
    </table>
    <p id="feed-filtered-empty" class="empty" hidden>没有符合筛选的通行 <small>No passages match the filter</small></p>
  </section>
</main>
${dialogs}`,
  });
}
