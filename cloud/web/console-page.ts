/**
 * `/console`: the guard console. Every gate of the compound with its live state, the
 * alarms that wait for an acknowledgement, the live feed of passages, and remote open with a
 * required reason. Filled and kept current by /assets/console.js over `/api/v1/live`.
 */
import { html } from 'hono/html';
import { renderPage } from './page-layout.ts';

export function consolePage() {
  return renderPage({
    titleZh: '门卫控制台',
    titleEn: 'Guard console',
    script: 'console.js',
    page: 'console',
    signedIn: true,
    body: html`<main class="console">
  <section class="panel gates-panel" aria-labelledby="gates-title">
    <h2 id="gates-title">闸机 <small>Gates</small></h2>
    <div id="gates" class="gates"><p class="empty">加载中… <small>Loading…</small></p></div>
  </section>
  <section class="panel alarms-panel" aria-labelledby="alarms-title">
    <h2 id="alarms-title">告警 <small>Alarms</small> <span id="alarm-count" class="count">0</span></h2>
    <ul id="alarms" class="alarms"></ul>
    <p id="alarms-empty" class="empty">无待处理告警 <small>No open alarms</small></p>
  </section>
  <section class="panel feed-panel" aria-labelledby="feed-title">
    <h2 id="feed-title">实时通行 <small>Live passages</small></h2>
    <table class="feed">
      <thead><tr>
        <th>时间 <small>Time</small></th><th>闸机 <small>Gate</small></th><th>方向 <small>Dir.</small></th>
        <th>方式 <small>Method</small></th><th>健康 <small>Health</small></th><th>姓名 <small>Name</small></th>
        <th>结果 <small>Result</small></th><th>原因 <small>Reason</small></th>
      </tr></thead>
      <tbody id="feed"></tbody>
    </table>
  </section>
</main>
<dialog id="open-dialog" class="dialog">
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
</dialog>`,
  });
}
