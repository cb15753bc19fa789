/**
 * The guard terminal page: one self-contained HTML document (inline CSS and JS, no CDN — the gate
 * may be offline). The whole screen takes the last scan's health colour, the verdict is written in
 * large Chinese with English below (readable at arm's length by an elderly resident), and a side
 * panel gives the guard the last scans, gate state and a manual-open form that needs a reason.
 */
export const TERMINAL_PAGE = `<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>安心门 Anxin Gate</title>
<style>
  :root { --green:#1b8a3a; --yellow:#d9a400; --red:#c62828; --grey:#5f6368; font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; }
  * { box-sizing: border-box; }
  body { margin:0; height:100vh; display:grid; grid-template-columns: 1fr 24rem; background:#111; color:#fff; }
  #hero { display:flex; flex-direction:column; align-items:center; justify-content:center; text-align:center; padding:2rem; background:var(--grey); transition: background .2s; }
  #hero.green { background:var(--green); } #hero.yellow { background:var(--yellow); color:#111; }
  #hero.red { background:var(--red); } #hero.grey { background:var(--grey); }
  #verdict { font-size: clamp(4rem, 12vw, 10rem); line-height:1; font-weight:800; }
  #zh { font-size: clamp(2.5rem, 6vw, 5.5rem); font-weight:700; margin-top:1rem; }
  #en { font-size: clamp(1.3rem, 2.6vw, 2.4rem); margin-top:.5rem; opacity:.9; }
  #name { font-size: clamp(2rem, 4vw, 3.5rem); margin-top:1.5rem; letter-spacing:.1em; }
  #when { margin-top:1rem; font-size:1.2rem; opacity:.8; }
  .banner { display:none; width:100%; padding:.8rem; font-size:1.6rem; font-weight:700; text-align:center; }
  .banner.on { display:block; }
  .kv b.warn { color:#ffb74d; }
  #offline { background:#000; color:#ffd54f; } #fire { background:#ff6f00; color:#fff; } #full { background:#b71c1c; }
  aside { background:#1e1e1e; padding:1rem; overflow:auto; font-size:.95rem; }
  aside h2 { font-size:1rem; margin:1rem 0 .4rem; color:#bbb; }
  table { width:100%; border-collapse:collapse; } td { padding:.25rem .3rem; border-bottom:1px solid #333; }
  .dot { display:inline-block; width:.8rem; height:.8rem; border-radius:50%; vertical-align:middle; }
  .dot.green{background:var(--green)} .dot.yellow{background:var(--yellow)} .dot.red{background:var(--red)} .dot.grey{background:var(--grey)}
  form { display:grid; gap:.4rem; } input, select, button { font-size:1rem; padding:.45rem; border-radius:.3rem; border:1px solid #555; background:#2a2a2a; color:#fff; }
  button { background:#1565c0; border-color:#1565c0; font-weight:700; cursor:pointer; }
  #openResult { min-height:1.2em; color:#ffd54f; }
  .kv { display:grid; grid-template-columns: 8rem 1fr; gap:.15rem .5rem; }
</style>
</head>
<body>
<main style="display:flex;flex-direction:column">
  <div id="offline" class="banner">离线 / 数据可能过期 — Offline: data may be out of date</div>
  <div id="fire" class="banner">火警 — 自由通行 · Fire alarm: free passage</div>
  <div id="full" class="banner">记录积压 — Journal backlog, call maintenance</div>
  <section id="hero" class="grey" style="flex:1">
    <div id="verdict">—</div>
    <div id="zh">请刷码或刷身份证</div>
    <div id="en">Scan your pass or ID card</div>
    <div id="name"></div>
    <div id="when"></div>
  </section>
</main>
<aside>
  <div class="kv">
    <span>闸机 Gate</span><b id="gate">…</b>
    <span>模式 Mode</span><b id="mode">…</b>
    <span>连接 Cloud</span><b id="online">…</b>
    <span>待上传 Journal</span><b id="depth">…</b>
    <span>数据版本 Rev</span><b id="rev">…</b>
    <span>设备 Devices</span><b id="devices">…</b>
    <span>时钟 Clock</span><b id="clock">…</b>
  </div>
  <h2>最近通行 Last scans</h2>
  <table><tbody id="scans"></tbody></table>
  <h2>报警 Alarms</h2>
  <table><tbody id="alarms"></tbody></table>
  <h2>人工放行 Manual open</h2>
  <form id="open">
    <select name="direction"><option value="in">进 In</option><option value="out">出 Out</option></select>
    <input name="reason" placeholder="原因 Reason (required)" required maxlength="200">
    <input name="guard" placeholder="门卫 Guard name" maxlength="64">
    <button type="submit">放行 Open</button>
    <div id="openResult"></div>
  </form>
</aside>
<script>
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var MODES = { normal: '正常 normal', controlled: '管控 controlled', lockdown: '封控 lockdown', 'emergency-open': '紧急开放 emergency-open' };
  var scans = [];
  var alarms = [];
  function text(el, value) { el.textContent = value; }
  function time(ts) { return new Date(ts).toLocaleTimeString(); }
  var CLOCK_SOURCES = { cloud: '云端校时 cloud', remembered: '记忆校时 remembered', 'remembered-offset': '重启前校时 before reboot', wall: '本机时钟 own clock' };
  function clockText(c) {
    if (!c) return '—';
    if (c.source === 'wall') return CLOCK_SOURCES.wall;
    var skew = c.skewMs / 1000;
    var off = Math.abs(skew) >= 86400 ? (skew / 86400).toFixed(1) + ' d' : Math.abs(skew) >= 60 ? (skew / 60).toFixed(1) + ' min' : skew.toFixed(1) + ' s';
    return (c.skewed ? '⚠ 偏差 skew ' : '偏差 skew ') + (skew > 0 ? '+' : '') + off + ' · ' + (CLOCK_SOURCES[c.source] || c.source);
  }
  function showState(s) {
    text($('gate'), s.gateId + ' (' + s.compoundId + ')');
    text($('mode'), MODES[s.mode] || s.mode);
    text($('online'), s.online ? (s.stale ? '在线·过期 online, stale' : '在线 online') : (s.stale ? '离线·过期 offline, stale' : '离线 offline'));
    text($('depth'), String(s.journalDepth));
    text($('rev'), String(s.rev));
    text($('devices'), 'ID ' + s.devices.idreader + ' · QR ' + s.devices.qr + ' · 闸 ' + s.devices.turnstile);
    text($('clock'), clockText(s.clock));
    $('clock').classList.toggle('warn', !!(s.clock && s.clock.skewed));
    $('offline').classList.toggle('on', !s.online || s.stale);
    $('fire').classList.toggle('on', !!s.fire);
    $('full').classList.toggle('on', !!s.journalFull);
  }
  function showHero(scan) {
    var hero = $('hero');
    hero.className = scan.colour;
    text($('verdict'), scan.result === 'granted' ? '✓' : '✗');
    text($('zh'), scan.zh);
    text($('en'), scan.en);
    text($('name'), scan.maskedName || '');
    var status = scan.waiting ? '请通过 please pass' : scan.passed === true ? '已通过 passed' : scan.passed === false ? '未通过 not passed' : '';
    text($('when'), time(scan.ts) + (status ? ' · ' + status : ''));
  }
  function renderScans() {
    var body = $('scans');
    body.textContent = '';
    scans.slice(0, 12).forEach(function (s) {
      var tr = document.createElement('tr');
      [time(s.ts), s.direction === 'in' ? '进' : '出', s.maskedName || '—', s.zh].forEach(function (v, i) {
        var td = document.createElement('td');
        if (i === 0) { var dot = document.createElement('span'); dot.className = 'dot ' + s.colour; td.appendChild(dot); td.appendChild(document.createTextNode(' ')); }
        td.appendChild(document.createTextNode(v));
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }
  function renderAlarms() {
    var body = $('alarms');
    body.textContent = '';
    alarms.slice(0, 6).forEach(function (a) {
      var tr = document.createElement('tr');
      [time(a.ts), a.kind, a.detail].forEach(function (v) { var td = document.createElement('td'); td.textContent = v; tr.appendChild(td); });
      body.appendChild(tr);
    });
  }
  function onScan(scan) {
    var i = scan.seq === null ? -1 : scans.findIndex(function (s) { return s.seq === scan.seq; });
    if (i >= 0) scans[i] = scan; else scans.unshift(scan);
    scans = scans.slice(0, 50);
    if (i <= 0) showHero(scan);
    renderScans();
  }
  function connect() {
    var source = new EventSource('/api/events');
    source.addEventListener('snapshot', function (e) {
      var s = JSON.parse(e.data);
      showState(s); scans = s.lastScans.slice(); alarms = s.alarms.slice();
      if (scans[0]) showHero(scans[0]);
      renderScans(); renderAlarms();
    });
    source.addEventListener('scan', function (e) { onScan(JSON.parse(e.data).scan); });
    source.addEventListener('state', function (e) { showState(JSON.parse(e.data).state); });
    source.addEventListener('alarm', function (e) { alarms.unshift(JSON.parse(e.data).alarm); alarms = alarms.slice(0, 20); renderAlarms(); });
    source.onerror = function () { $('offline').classList.add('on'); };
  }
  $('open').addEventListener('submit', function (e) {
    e.preventDefault();
    var form = e.target;
    var body = { direction: form.direction.value, reason: form.reason.value };
    if (form.guard.value.trim()) body.guard = form.guard.value.trim();
    fetch('/api/open', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
      .then(function (res) { text($('openResult'), res.ok ? '已放行 opened (#' + res.j.seq + ')' : res.j.error.message); if (res.ok) form.reason.value = ''; })
      .catch(function () { text($('openResult'), '失败 failed'); });
  });
  connect();
})();
</script>
</body>
</html>
`;
