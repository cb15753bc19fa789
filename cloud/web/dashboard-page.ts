/**
 * `/dashboard`: the manager dashboard. Statistics of a compound and period
 * (preset or custom range, per gate, CSV export, refreshed on their own), contact tracing (find a
 * person by masked name, household, phone tail or person id → timeline → ranked contacts → CSV),
 * the compound's mode switch (confirmation + reason), residents (server-side pages, add, edit,
 * deactivate, delete, health, CSV import with a template and bilingual errors), QR passes (issue,
 * show, print; every pass of a person with revoke), the crisis supplies (/assets/supplies.js,
 * docs/supplies.md) and the audit log. Filled by
 * /assets/dashboard.js and its parts (dashboard-*.js) through the API; times are
 * the compound's, and say so.
 */
import { html } from 'hono/html';
import { renderPage } from './page-layout.ts';

const statsSection = html`<section id="stats" class="panel" data-state="loading">
  <h2>统计 <small>Statistics</small> <span id="stats-window" class="muted"></span></h2>
  <div id="stats-status" class="load-state" role="status"></div>
  <div class="kpis">
    <div class="kpi"><span>通行次数 <small>Passages</small></span><b id="kpi-passages">–</b></div>
    <div class="kpi"><span>进 / 出 <small>Crossings in / out</small></span><b id="kpi-crossings">–</b></div>
    <div class="kpi"><span>允许 / 拒绝 <small>Granted / denied</small></span><b id="kpi-decisions">–</b></div>
    <div class="kpi"><span title="按整个自然日统计 · counted over whole local days">独立人数/日 <small>Unique persons per day (whole days)</small></span><b id="kpi-persons">–</b></div>
    <div class="kpi"><span>高峰时段 <small>Peak hour</small></span><b id="kpi-peak">–</b></div>
    <div class="kpi"><span>在内人数估计 <small>Occupancy (est.)</small></span><b id="kpi-occupancy">–</b></div>
  </div>
  <figure class="chart-box">
    <figcaption>每小时通行 <small>Crossings per hour</small>
      <button type="button" id="export-hourly" class="small">导出 CSV <small>Export CSV</small></button></figcaption>
    <div id="hourly-chart" class="chart"></div>
  </figure>
  <div class="columns">
    <div><h3>通行方式 <small>Method split</small></h3><div id="method-split" class="bars"></div></div>
    <div><h3>允许（按原因） <small>Granted by reason</small></h3><table class="compact"><tbody id="granted-reasons"></tbody></table></div>
    <div><h3>拒绝（按原因） <small>Denied by reason</small></h3><table class="compact"><tbody id="denied-reasons"></tbody></table></div>
  </div>
  <h3>各闸机 <small>Per gate</small>
    <button type="button" id="export-stats" class="small">导出 CSV <small>Export CSV</small></button></h3>
  <div class="scroll-x"><table class="compact" id="gate-stats-table">
    <thead><tr><th>闸机 <small>Gate</small></th><th>进 <small>In</small></th><th>出 <small>Out</small></th><th>允许 <small>Granted</small></th><th>拒绝 <small>Denied</small></th><th>在线率 <small>Uptime</small></th><th>现状 <small>Now</small></th></tr></thead>
    <tbody id="gate-stats"></tbody></table></div>
</section>`;

const traceSection = html`<section id="trace" class="panel">
  <h2>追踪 <small>Contact tracing</small></h2>
  <p class="muted">每次追踪都会记录审计日志 <small>Every trace is written to the audit log with its reason.</small></p>
  <form id="find-form" class="inline-form">
    <label class="grow">查找人员：脱敏姓名、户号、手机尾号或人员编号 <small>Find a person by masked name (张*明), household, phone tail (last 4 digits) or person id</small>
      <input id="find-q" name="q" required maxlength="64" placeholder="张*明 / h-0101 / 1234 / p-000123"></label>
    <button type="submit" class="primary">查找 <small>Find</small></button>
  </form>
  <p id="find-error" class="error" role="alert"></p>
  <div class="scroll-x"><table class="compact" id="find-table" hidden>
    <thead><tr><th>姓名 <small>Name</small></th><th>户 <small>Household</small></th><th>手机尾号 <small>Phone tail</small></th><th>健康 <small>Health</small></th><th>匹配 <small>Matched by</small></th><th></th></tr></thead>
    <tbody id="find-rows"></tbody>
  </table></div>
  <form id="trace-form" class="inline-form">
    <label>人员编号 <small>Person id</small><input id="trace-person-id" name="personId" required maxlength="64"></label>
    <label class="grow">原因（必填） <small>Reason (required)</small><input id="trace-reason" name="reason" required maxlength="200"></label>
    <label>起 <small>From</small><input id="trace-from" name="from" type="datetime-local" required></label>
    <label>止 <small>To</small><input id="trace-to" name="to" type="datetime-local" required></label>
    <label>时间窗（分钟） <small>Window (min)</small><input id="trace-window" name="windowMin" type="number" min="0" max="1440" value="15"></label>
    <button type="submit" class="primary" id="trace-submit">追踪 <small>Trace</small></button>
  </form>
  <p id="trace-error" class="error" role="alert"></p>
  <div id="trace-result" hidden>
    <h3>轨迹 <small>Timeline</small> — <span id="trace-person"></span>
      <button type="button" id="export-timeline" class="small">导出 CSV <small>Export CSV</small></button></h3>
    <div class="scroll-x"><table class="compact"><thead><tr><th>时间 <small>Time</small></th><th>闸机 <small>Gate</small></th><th>方向 <small>Dir.</small></th><th>方式 <small>Method</small></th><th>结果 <small>Result</small></th><th>原因 <small>Reason</small></th></tr></thead>
      <tbody id="trace-timeline"></tbody></table></div>
    <h3>密接（按排名） <small>Contacts, ranked</small>
      <button type="button" id="export-contacts" class="small">导出 CSV <small>Export CSV</small></button></h3>
    <div class="scroll-x"><table class="compact"><thead><tr><th>#</th><th>姓名 <small>Name</small></th><th>共同通行 <small>Shared passages</small></th><th>最近间隔 <small>Closest</small></th><th>同户 <small>Household</small></th></tr></thead>
      <tbody id="trace-contacts"></tbody></table></div>
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
    <label class="grow">原因（必填） <small>Reason (required)</small><input id="mode-reason" name="reason" required maxlength="200"></label>
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
    <label class="grow">搜索：脱敏姓名、户号、手机尾号或人员编号 <small>Search: masked name, household, phone tail or person id</small>
      <input id="resident-search" type="search" maxlength="64" placeholder="张*明 / h-0101 / 1234 / p-000123"></label>
    <label>状态 <small>Status</small><select id="resident-status">
      <option value="all">全部 All</option><option value="active">有效 Active</option><option value="inactive">已停用 Inactive</option>
    </select></label>
    <button type="button" id="resident-add" class="primary">新增住户 <small>Add resident</small></button>
  </div>
  <p id="residents-error" class="error" role="alert"></p>
  <p id="residents-note" class="muted" role="status"></p>
  <div class="scroll-x"><table class="compact residents-table"><thead><tr><th>编号 <small>Person id</small></th><th>姓名 <small>Name</small></th><th>证件 <small>ID</small></th><th>户 <small>Household</small></th><th>类别 <small>Kind</small></th><th>健康 <small>Health</small></th><th>状态 <small>Status</small></th><th>操作 <small>Actions</small></th></tr></thead>
    <tbody id="resident-rows"></tbody></table></div>
  <div class="pager">
    <button type="button" id="residents-prev" class="small">上一页 <small>Previous</small></button>
    <span id="residents-page" class="muted"></span>
    <button type="button" id="residents-next" class="small">下一页 <small>Next</small></button>
  </div>
  <details class="import-box">
    <summary>批量导入 CSV <small>Import a CSV</small></summary>
    <p>先下载模板，按下表填写，UTF-8 编码保存后导入。出错时一行也不导入，并列出每个问题。
      <small>Download the template, fill it in as below, save as UTF-8 and import it. On any error nothing is imported and every problem is listed.</small></p>
    <p><a id="template-link" href="/assets/residents-template.csv" download="residents-template.csv">下载模板 <small>Download the template</small></a></p>
    <div class="scroll-x"><table class="compact column-help">
      <thead><tr><th>列 <small>Column</small></th><th>必填 <small>Required</small></th><th>说明 <small>What to write</small></th></tr></thead>
      <tbody>
        <tr><td>name</td><td>是 yes</td><td>姓名，最多 64 字 <small>full name, up to 64 characters (kept in the cloud only; guards see it masked)</small></td></tr>
        <tr><td>compoundId</td><td>是 yes</td><td>小区编号，例如 <span class="compound-example">sunny-garden</span> <small>the compound's id</small></td></tr>
        <tr><td>idNumber</td><td></td><td>18 位身份证号（校验位会检查） <small>18-character national ID number; the check character is verified</small></td></tr>
        <tr><td>householdId</td><td></td><td>户号，小写字母、数字和 - <small>household id: a–z, 0–9 and -</small></td></tr>
        <tr><td>kind</td><td></td><td>resident 住户 / staff 员工 / visitor 访客（默认 resident）</td></tr>
        <tr><td>phone</td><td></td><td>手机号，6–15 位数字 <small>phone, 6–15 digits, optional +</small></td></tr>
        <tr><td>elderly</td><td></td><td>true/false：老人刷身份证通行 <small>elderly residents pass by ID card</small></td></tr>
        <tr><td>personId</td><td></td><td>人员编号；留空自动生成，填写则更新该人 <small>empty: a new id; given: that person is updated</small></td></tr>
        <tr><td>cards</td><td></td><td>门禁卡，写成 设施码:卡号，如 90:324，多张用 ; 分隔 <small>cards as facility:number, e.g. 90:324, separated by ;</small></td></tr>
        <tr><td>validFrom / validTo</td><td></td><td>有效期，如 2026-01-31T00:00:00+08:00 <small>validity, ISO time with offset or epoch ms</small></td></tr>
      </tbody></table></div>
    <div class="inline-form">
      <label>CSV 文件 <small>CSV file</small><input id="resident-csv" type="file" accept=".csv,text/csv"></label>
      <button type="button" id="resident-import" class="primary">导入 <small>Import</small></button>
    </div>
    <div id="import-report" class="report" hidden></div>
  </details>
</section>
<dialog id="resident-dialog" class="dialog">
  <form id="resident-form" method="dialog">
    <h2 id="resident-form-title">新增住户 <small>Add resident</small></h2>
    <p id="resident-form-hint" class="muted" hidden>姓名和证件号留空则不变（当前为脱敏显示）。 <small>Leave name and ID number empty to keep them (shown masked).</small></p>
    <label>姓名 <small>Full name</small><input id="rf-name" name="name" maxlength="64" autocomplete="off" data-no-draft></label>
    <label>身份证号 <small>ID number</small><input id="rf-id" name="idNumber" maxlength="18" autocomplete="off" data-no-draft></label>
    <label>户号 <small>Household</small><input id="rf-household" name="householdId" maxlength="64"></label>
    <label>类别 <small>Kind</small><select id="rf-kind" name="kind">
      <option value="resident">住户 Resident</option><option value="staff">员工 Staff</option><option value="visitor">访客 Visitor</option>
    </select></label>
    <label>手机 <small>Phone</small><input id="rf-phone" name="phone" maxlength="16" inputmode="tel" data-no-draft></label>
    <label class="check"><input id="rf-elderly" name="elderly" type="checkbox"> 老人（刷身份证） <small>Elderly (passes by ID card)</small></label>
    <p id="resident-form-error" class="error" role="alert"></p>
    <div class="actions">
      <button type="button" id="resident-cancel">取消 <small>Cancel</small></button>
      <button type="submit" class="primary" id="resident-save">保存 <small>Save</small></button>
    </div>
  </form>
</dialog>
<dialog id="reveal-dialog" class="dialog">
  <form id="reveal-form" method="dialog">
    <h2>查看身份 <small>Reveal identity</small> — <span id="reveal-who"></span></h2>
    <p class="muted">完整姓名、身份证号和手机号仅在此显示，关闭即清除；每次查看都记入审计日志。 <small>The full name, ID number and phone are shown here only and cleared on closing; every reveal is written to the audit log with its reason.</small></p>
    <label>原因（必填） <small>Reason (required)</small><input id="reveal-reason" required maxlength="200" data-no-draft></label>
    <dl id="reveal-result" class="reveal-result" hidden>
      <dt>姓名 <small>Name</small></dt><dd id="reveal-name"></dd>
      <dt>身份证号 <small>ID number</small></dt><dd id="reveal-id"></dd>
      <dt>手机 <small>Phone</small></dt><dd id="reveal-phone"></dd>
    </dl>
    <p id="reveal-error" class="error" role="alert"></p>
    <div class="actions">
      <button type="button" id="reveal-close">关闭 <small>Close</small></button>
      <button type="submit" class="danger" id="reveal-submit">查看 <small>Reveal</small></button>
    </div>
  </form>
</dialog>
<dialog id="medium-dialog" class="dialog">
  <form id="medium-form" method="dialog" data-state="loading">
    <h2>通行方式 <small>Pass medium</small> — <span id="medium-who"></span></h2>
    <p id="medium-current" class="muted" role="status"></p>
    <fieldset id="medium-choice">
      <legend>选择 <small>Choose</small></legend>
      <label class="check"><input type="radio" name="medium" value="printed" id="medium-printed"> 纸质通行证 <small>Printed pass — for those without a phone, printed by the office</small></label>
      <label class="check"><input type="radio" name="medium" value="phone" id="medium-phone"> 手机通行码 <small>Phone pass — bound to one phone, the QR changes every 10 s</small></label>
    </fieldset>
    <p id="medium-warning" class="error" hidden>改为纸质将立即在所有闸机吊销其手机通行码。 <small>Switching to printed revokes the pass on their phone at every gate at once.</small></p>
    <p id="medium-error" class="error" role="alert"></p>
    <div class="actions">
      <button type="button" id="medium-cancel">取消 <small>Cancel</small></button>
      <button type="submit" class="primary" id="medium-save">保存 <small>Save</small></button>
    </div>
  </form>
</dialog>
<dialog id="confirm-dialog" class="dialog">
  <form method="dialog">
    <h2 id="confirm-title"></h2>
    <p id="confirm-text"></p>
    <div class="actions">
      <button value="cancel">取消 <small>Cancel</small></button>
      <button value="confirm" id="confirm-ok" class="danger">确认 <small>Confirm</small></button>
    </div>
  </form>
</dialog>`;

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
    <button type="button" id="pass-list-button">查看此人通行证 <small>Passes of this person</small></button>
  </form>
  <p id="pass-error" class="error" role="alert"></p>
  <div id="person-passes-box" hidden>
    <h3>已签发 <small>Issued passes</small> — <span id="person-passes-who"></span></h3>
    <div class="scroll-x"><table class="compact"><thead><tr><th>编号 <small>Pass id</small></th><th>类别 <small>Kind</small></th><th>有效期 <small>Valid</small></th><th>次数 <small>Uses</small></th><th>签发 <small>Issued</small></th><th>状态 <small>State</small></th><th></th></tr></thead>
      <tbody id="person-passes"></tbody></table></div>
  </div>
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

const suppliesSection = html`<section id="supplies" class="panel" data-state="loading">
  <h2>物资发放 <small>Supplies</small> <span id="supplies-status" class="muted" role="status"></span></h2>
  <p id="supplies-asleep" class="banner info" hidden></p>
  <div class="scroll-x"><table class="compact">
    <thead><tr><th>批次 <small>Round</small></th><th>方式 <small>Form</small></th><th>时间 <small>Window</small></th>
    <th>范围 <small>Eligible</small></th><th>已领 <small>Served</small></th><th>未领 <small>Remaining</small></th>
    <th>库存 <small>Stock left</small></th><th></th></tr></thead>
    <tbody id="rounds-body"></tbody>
  </table></div>
  <form id="round-form" class="form-grid">
    <label>名称 <small>Name</small><input id="round-name" required maxlength="80"></label>
    <label>物资（每行：名称, 单位, 每户数量[, 库存]） <small>Items (name, unit, per household[, stock])</small>
      <textarea id="round-items" rows="3" required placeholder="大米, kg, 5, 1000"></textarea></label>
    <label>方式 <small>Form</small><select id="round-form-kind"><option value="pickup">自提 Pick-up</option>
      <option value="delivery">送货上门 Door delivery</option></select></label>
    <label>开始 <small>From</small><input id="round-from" type="datetime-local" required></label>
    <label>结束 <small>To</small><input id="round-to" type="datetime-local" required></label>
    <label>范围 <small>Eligible</small><select id="round-eligibility"><option value="all">全部住户 All households</option>
      <option value="applicants">申请户 Applicants</option></select></label>
    <label>供应商 <small>Providers</small><input id="round-providers" placeholder="veg-co"></label>
    <label id="round-wake-box" hidden><input id="round-wake" type="checkbox"> 非管控期间开放 <small>Open although not in controlled/lockdown mode</small></label>
    <p id="round-error" class="banner error" role="alert" hidden></p>
    <button type="submit">新建批次 <small>Create round</small></button>
  </form>
</section>
<script type="module" src="/assets/supplies.js"></script>`;

const auditSection = html`<section id="audit" class="panel">
  <h2>审计日志 <small>Audit log</small></h2>
  <form id="audit-form" class="inline-form">
    <label>操作 <small>Action</small><select id="audit-action">
      <option value="">全部 All</option>
      <option value="trace.person">追踪轨迹 trace.person</option><option value="trace.contacts">追踪密接 trace.contacts</option>
      <option value="trace.gate">闸机追踪 trace.gate</option><option value="trace.search">查找人员 trace.search</option>
      <option value="identity.reveal">查看身份 identity.reveal</option><option value="gate.open">远程开门 gate.open</option>
      <option value="mode.change">切换模式 mode.change</option><option value="alarm.ack">确认告警 alarm.ack</option>
      <option value="resident.create">新增住户 resident.create</option><option value="resident.update">修改住户 resident.update</option>
      <option value="resident.delete">删除住户 resident.delete</option><option value="resident.import">导入 resident.import</option>
      <option value="health.update">健康码 health.update</option><option value="pass.issue">签发 pass.issue</option>
      <option value="pass.revoke">作废 pass.revoke</option>
    </select></label>
    <label>用户 <small>User</small><input id="audit-actor" maxlength="64"></label>
    <button type="submit" class="primary">查询 <small>Show</small></button>
  </form>
  <p id="audit-error" class="error" role="alert"></p>
  <div class="scroll-x"><table class="compact"><thead><tr><th>时间 <small>Time</small></th><th>用户 <small>User</small></th><th>操作 <small>Action</small></th><th>对象 <small>Target</small></th><th>原因 / 详情 <small>Reason / detail</small></th></tr></thead>
    <tbody id="audit-rows"></tbody></table></div>
  <button type="button" id="audit-more" class="small" hidden>更多 <small>More</small></button>
</section>`;

/**
 * Every module dashboard.js imports, directly or not: one per part of the page
 * (cloud/web/assets/dashboard-*.js) and the shared ones. Preloaded by the page; each must also be
 * in `WEB_ASSETS` (test/web/web-api.test.ts walks the imports and checks both).
 */
const DASHBOARD_MODULES = [
  'session.js',
  'format.js',
  'labels.js',
  'hourly-chart.js',
  'import-errors.js',
  'dashboard-common.js',
  'dashboard-stats.js',
  'dashboard-mode.js',
  'dashboard-residents.js',
  'dashboard-reveal.js',
  'dashboard-import.js',
  'dashboard-passes.js',
  'dashboard-pass-medium.js',
  'dashboard-trace.js',
  'dashboard-audit.js',
] as const;

export function dashboardPage() {
  return renderPage({
    titleZh: '管理看板',
    titleEn: 'Manager dashboard',
    script: 'dashboard.js',
    modules: DASHBOARD_MODULES,
    page: 'dashboard',
    signedIn: true,
    body: html`<nav class="toolbar no-print">
  <label>小区 <small>Compound</small><select id="compound"></select></label>
  <label>时段 <small>Period</small><select id="period">
    <option value="today">今天 Today</option><option value="24h">最近24小时 Last 24 h</option>
    <option value="7d">最近7天 Last 7 days</option><option value="30d">最近30天 Last 30 days</option>
    <option value="custom">自定义 Custom</option>
  </select></label>
  <label id="custom-from-box" hidden>从 <small>From</small><input id="stats-from" type="date"></label>
  <label id="custom-to-box" hidden>到（含） <small>To (incl.)</small><input id="stats-to" type="date"></label>
  <span class="toolbar-info"><span id="zone-label" class="muted"></span> <span id="stats-updated" class="muted"></span></span>
  <span class="links"><a href="#stats">统计 <small>Stats</small></a><a href="#trace">追踪 <small>Trace</small></a>
  <a href="#mode">模式 <small>Mode</small></a><a href="#residents">住户 <small>Residents</small></a>
  <a href="#passes">通行证 <small>Passes</small></a><a href="#supplies">物资 <small>Supplies</small></a><a href="#audit">审计 <small>Audit</small></a><a href="/console">控制台 <small>Console</small></a>
  <a href="/dashboard/resident-side" id="resident-side-link">住户端 <small>Resident side</small></a></span>
</nav>
<p id="restored-note" class="banner info" role="status" hidden>已恢复您登录过期前输入的内容。 <small>What you typed before the session ended has been put back.</small></p>
<main class="dashboard">
${statsSection}
${traceSection}
${modeSection}
${residentsSection}
${passesSection}
${suppliesSection}
${auditSection}
</main>`,
  });
}
