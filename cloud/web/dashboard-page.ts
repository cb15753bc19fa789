/**
 * `/dashboard`: the manager dashboard. Statistics of a compound and period with an
 * hourly chart, contact tracing (search → timeline → ranked contacts → CSV), the compound's mode
 * switch (confirmation + reason), residents (list, search, CSV import with its error report) and
 * QR passes (issue, show, print). Filled by /assets/dashboard.js through the API.
 */
import { html } from 'hono/html';
import { renderPage } from './page-layout.ts';

const statsSection = html`<section id="stats" class="panel">
  <h2>统计 <small>Statistics</small> <span id="stats-window" class="muted"></span></h2>
  <div class="kpis">
    <div class="kpi"><span>通行次数 <small>Passages</small></span><b id="kpi-passages">–</b></div>
    <div class="kpi"><span>进 / 出 <small>Crossings in / out</small></span><b id="kpi-crossings">–</b></div>
    <div class="kpi"><span>允许 / 拒绝 <small>Granted / denied</small></span><b id="kpi-decisions">–</b></div>
    <div class="kpi"><span title="按整个自然日统计 · counted over whole local days">独立人数/日 <small>Unique persons per day (whole days)</small></span><b id="kpi-persons">–</b></div>
    <div class="kpi"><span>高峰时段 <small>Peak hour</small></span><b id="kpi-peak">–</b></div>
    <div class="kpi"><span>在内人数估计 <small>Occupancy (est.)</small></span><b id="kpi-occupancy">–</b></div>
  </div>
  <figure class="chart-box">
    <figcaption>每小时通行 <small>Crossings per hour</small></figcaption>
    <div id="hourly-chart" class="chart"></div>
  </figure>
  <div class="columns">
    <div><h3>通行方式 <small>Method split</small></h3><div id="method-split" class="bars"></div></div>
    <div><h3>允许（按原因） <small>Granted by reason</small></h3><table class="compact"><tbody id="granted-reasons"></tbody></table></div>
    <div><h3>拒绝（按原因） <small>Denied by reason</small></h3><table class="compact"><tbody id="denied-reasons"></tbody></table></div>
  </div>
</section>`;

const traceSection = html`<section id="trace" class="panel">
  <h2>追踪 <small>Contact tracing</small></h2>
  <p class="muted">每次查询都会记录审计日志 <small>Every search is written to the audit log with its reason.</small></p>
  <form id="trace-form" class="inline-form">
    <label>姓名或身份证号 <small>Name or ID number</small><input id="trace-q" name="q" required maxlength="64"></label>
    <label>原因（必填） <small>Reason (required)</small><input id="trace-reason" name="reason" required maxlength="200"></label>
    <label>起 <small>From</small><input id="trace-from" name="from" type="datetime-local" required></label>
    <label>止 <small>To</small><input id="trace-to" name="to" type="datetime-local" required></label>
    <label>时间窗（分钟） <small>Window (min)</small><input id="trace-window" name="windowMin" type="number" min="0" max="1440" value="15"></label>
    <button type="submit" class="primary">查找 <small>Search</small></button>
  </form>
  <p id="trace-error" class="error" role="alert"></p>
  <table class="compact" id="trace-matches-table" hidden>
    <thead><tr><th>姓名 <small>Name</small></th><th>证件 <small>ID</small></th><th>户 <small>Household</small></th><th>健康 <small>Health</small></th><th></th></tr></thead>
    <tbody id="trace-matches"></tbody>
  </table>
  <div id="trace-result" hidden>
    <h3>轨迹 <small>Timeline</small> — <span id="trace-person"></span>
      <button type="button" id="export-timeline" class="small">导出 CSV <small>Export CSV</small></button></h3>
    <table class="compact"><thead><tr><th>时间 <small>Time</small></th><th>闸机 <small>Gate</small></th><th>方向 <small>Dir.</small></th><th>方式 <small>Method</small></th><th>结果 <small>Result</small></th><th>原因 <small>Reason</small></th></tr></thead>
      <tbody id="trace-timeline"></tbody></table>
    <h3>密接（按排名） <small>Contacts, ranked</small>
      <button type="button" id="export-contacts" class="small">导出 CSV <small>Export CSV</small></button></h3>
    <table class="compact"><thead><tr><th>#</th><th>姓名 <small>Name</small></th><th>共同通行 <small>Shared passages</small></th><th>最近间隔 <small>Closest</small></th><th>同户 <small>Household</small></th></tr></thead>
      <tbody id="trace-contacts"></tbody></table>
  </div>
</section>`;

const modeSection = html`<section id="mode" class="panel">
  <h2>小区模式 <small>Compound mode</small></h2>
  <p>当前模式 <small>Current mode</small>: <b id="mode-current" class="mode-badge">–</b> <span id="mode-since" class="muted"></span></p>
  <form id="mode-form" class="inline-form">
    <label>新模式 <small>New mode</small><select id="mode-select" name="mode">
      <option value="normal">正常 Normal</option><option value="controlled">管控 Controlled</option>
      <option value="lockdown">封控 Lockdown</option><option value="emergency-open">紧急开放 Emergency open</option>
    </select></label>
    <label>原因（必填） <small>Reason (required)</small><input id="mode-reason" name="reason" required maxlength="200"></label>
    <button type="submit" class="danger">切换模式 <small>Switch mode</small></button>
  </form>
  <p id="mode-error" class="error" role="alert"></p>
</section>
<dialog id="mode-dialog" class="dialog">
  <form method="dialog">
    <h2>确认切换模式 <small>Confirm mode switch</small></h2>
    <p id="mode-confirm-text"></p>
    <div class="actions">
      <button value="cancel" id="mode-cancel">取消 <small>Cancel</small></button>
      <button value="confirm" id="mode-confirm" class="danger">确认 <small>Confirm</small></button>
    </div>
  </form>
</dialog>`;

const residentsSection = html`<section id="residents" class="panel">
  <h2>住户 <small>Residents</small> <span id="residents-count" class="muted"></span></h2>
  <div class="inline-form">
    <label>搜索 <small>Search</small><input id="resident-search" type="search" placeholder="张*明 / person id"></label>
    <label>导入 CSV <small>Import CSV</small><input id="resident-csv" type="file" accept=".csv,text/csv"></label>
    <button type="button" id="resident-import" class="primary">导入 <small>Import</small></button>
  </div>
  <div id="import-report" class="report" hidden></div>
  <table class="compact"><thead><tr><th>编号 <small>Person id</small></th><th>姓名 <small>Name</small></th><th>证件 <small>ID</small></th><th>户 <small>Household</small></th><th>类别 <small>Kind</small></th><th>健康 <small>Health</small></th><th></th></tr></thead>
    <tbody id="resident-rows"></tbody></table>
</section>`;

const passesSection = html`<section id="passes" class="panel">
  <h2>通行证 <small>QR passes</small></h2>
  <form id="pass-form" class="inline-form">
    <label>人员编号 <small>Person id</small><input id="pass-person" name="personId" required maxlength="64"></label>
    <label>类别 <small>Kind</small><select id="pass-kind" name="kind">
      <option value="resident">住户 Resident</option><option value="visitor">访客 Visitor</option><option value="exit-permit">出门证 Exit permit</option>
    </select></label>
    <label>有效期至 <small>Valid to</small><input id="pass-valid-to" name="validTo" type="date" required></label>
    <label>次数 <small>Uses</small><input id="pass-uses" name="useLimit" type="number" min="1" max="255" placeholder="∞"></label>
    <button type="submit" class="primary">签发 <small>Issue</small></button>
  </form>
  <p id="pass-error" class="error" role="alert"></p>
  <article id="pass-card" class="pass-card" hidden>
    <h3>安心门禁通行证 <small>Anxin Gate pass</small></h3>
    <img id="pass-qr" alt="QR pass" width="240" height="240">
    <dl>
      <dt>人员 <small>Person</small></dt><dd id="pass-card-person"></dd>
      <dt>类别 <small>Kind</small></dt><dd id="pass-card-kind"></dd>
      <dt>有效期 <small>Valid</small></dt><dd id="pass-card-valid"></dd>
      <dt>编号 <small>Pass id</small></dt><dd id="pass-card-id"></dd>
    </dl>
    <button type="button" id="pass-print" class="no-print">打印 <small>Print</small></button>
  </article>
</section>`;

export function dashboardPage() {
  return renderPage({
    titleZh: '管理看板',
    titleEn: 'Manager dashboard',
    script: 'dashboard.js',
    page: 'dashboard',
    signedIn: true,
    body: html`<nav class="toolbar no-print">
  <label>小区 <small>Compound</small><select id="compound"></select></label>
  <label>时段 <small>Period</small><select id="period">
    <option value="today">今天 Today</option><option value="24h">最近24小时 Last 24 h</option>
    <option value="7d">最近7天 Last 7 days</option><option value="30d">最近30天 Last 30 days</option>
  </select></label>
  <a href="#stats">统计 <small>Stats</small></a><a href="#trace">追踪 <small>Trace</small></a>
  <a href="#mode">模式 <small>Mode</small></a><a href="#residents">住户 <small>Residents</small></a>
  <a href="#passes">通行证 <small>Passes</small></a><a href="/console">控制台 <small>Console</small></a>
</nav>
<main class="dashboard">
${statsSection}
${traceSection}
${modeSection}
${residentsSection}
${passesSection}
</main>`,
  });
}
