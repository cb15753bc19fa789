// `/dashboard`: the manager dashboard. Statistics, tracing, the mode switch, residents and passes
// of the chosen compound, all through the API with the session's bearer token.
import { bilingual, dateTime, duration, el, localInputValue } from './format.js';
import { renderHourlyChart } from './hourly-chart.js';
import {
  DIRECTION_LABELS,
  HEALTH_LABELS,
  KIND_LABELS,
  labelOf,
  METHOD_LABELS,
  MODE_LABELS,
  PASS_KIND_LABELS,
  REASON_LABELS,
  RESULT_LABELS,
} from './labels.js';
import { api, describeError, requireSession } from './session.js';

const session = requireSession(['manager', 'admin']);
const $ = (id) => document.getElementById(id);
const DAY_MS = 86_400_000;

let compounds = [];
let compoundId = null;

const currentCompound = () => compounds.find((c) => c.id === compoundId);
const inCompound = () => `compound=${encodeURIComponent(compoundId)}`;

function periodWindow() {
  const now = Date.now();
  switch ($('period').value) {
    case '24h':
      return { from: now - DAY_MS, to: now };
    case '7d':
      return { from: now - 7 * DAY_MS, to: now };
    case '30d':
      return { from: now - 30 * DAY_MS, to: now };
    default: {
      // "Today" is the compound's day (its statistics are bucketed in its zone), not the browser's.
      const midnight = midnightIn(now, currentCompound()?.timeZone);
      return { from: midnight, to: Math.max(now, midnight + 1) };
    }
  }
}

/** Hours, minutes and seconds of the wall clock in `timeZone` at `t`. */
function wallClock(t, timeZone) {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hourCycle: 'h23',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(t);
  const part = (type) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return { hour: part('hour'), minute: part('minute'), second: part('second') };
}

/** The last local midnight in `timeZone` (the browser's zone when unknown), as epoch ms. */
function midnightIn(now, timeZone) {
  const zone = timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  const since = (t) => {
    const { hour, minute, second } = wallClock(t, zone);
    return ((hour * 60 + minute) * 60 + second) * 1000 + (t % 1000);
  };
  let t = now - since(now);
  // A DST change earlier today shifts the wall clock by an hour: correct once.
  const off = since(t);
  if (off !== 0) t -= off > DAY_MS / 2 ? off - DAY_MS : off;
  return t;
}

/** Saves a blob under a name through a temporary link (the CSV exports). */
function saveBlob(blob, fileName) {
  const url = URL.createObjectURL(blob);
  const link = el('a', { href: url, download: fileName, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function fileNameOf(disposition, fallback) {
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition ?? '');
  if (star) return decodeURIComponent(star[1]);
  const plain = /filename="?([^";]+)"?/i.exec(disposition ?? '');
  return plain ? plain[1] : fallback;
}

// ---- statistics -----------------------------------------------------------------------------

function reasonRows(byReason) {
  const entries = Object.entries(byReason).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return [el('tr', {}, el('td', { class: 'muted' }, '—'))];
  return entries.map(([reason, n]) =>
    el('tr', {}, el('td', {}, bilingual(labelOf(REASON_LABELS, reason))), el('td', { class: 'n' }, String(n))),
  );
}

function methodBars(granted, denied) {
  const of = (m) => (granted.byMethod[m] ?? 0) + (denied.byMethod[m] ?? 0);
  const groups = [
    [labelOf(METHOD_LABELS, 'qr'), of('qr')],
    [labelOf(METHOD_LABELS, 'idcard'), of('idcard')],
    [['其他', 'Other'], of('card') + of('manual') + of('free')],
  ];
  const total = groups.reduce((s, [, n]) => s + n, 0);
  return groups.map(([label, n]) => {
    const share = total === 0 ? 0 : n / total;
    return el(
      'div',
      { class: 'bar', 'data-method': label[1] },
      bilingual(label),
      el('div', { class: 'track' }, el('div', { class: 'fill', style: `width:${(share * 100).toFixed(1)}%` })),
      el('span', { class: 'n' }, `${n} · ${Math.round(share * 100)}%`),
    );
  });
}

async function loadStats() {
  const { from, to } = periodWindow();
  const q = `${inCompound()}&from=${from}&to=${to}`;
  const [summary, hourly] = await Promise.all([api(`/stats/summary?${q}`), api(`/stats/hourly?${q}`)]);
  $('stats-window').textContent =
    `${summary.fromLabel.slice(0, 16).replace('T', ' ')} → ${summary.toLabel.slice(0, 16).replace('T', ' ')} (${summary.timeZone})`;
  $('kpi-passages').textContent = String(summary.passages.total);
  $('kpi-crossings').textContent = `${summary.crossings.in} / ${summary.crossings.out}`;
  $('kpi-decisions').textContent = `${summary.granted.total} / ${summary.denied.total}`;
  const perDay = summary.uniquePersonsPerDay;
  $('kpi-persons').textContent =
    perDay.length <= 1
      ? String(perDay[0]?.persons ?? 0)
      : `${Math.max(...perDay.map((d) => d.persons))} / 日 day (max)`;
  $('kpi-peak').textContent = summary.peakHour
    ? `${summary.peakHour.label.slice(11, 16)} · ${summary.peakHour.crossings}`
    : '—';
  $('kpi-occupancy').textContent =
    `${summary.occupancy.estimate} (${summary.occupancy.netChange >= 0 ? '+' : ''}${summary.occupancy.netChange})`;
  $('hourly-chart').innerHTML = renderHourlyChart(hourly.hours); // our own SVG text, labels escaped
  $('method-split').replaceChildren(...methodBars(summary.granted, summary.denied));
  $('granted-reasons').replaceChildren(...reasonRows(summary.granted.byReason));
  $('denied-reasons').replaceChildren(...reasonRows(summary.denied.byReason));
}

// ---- mode -----------------------------------------------------------------------------------

function renderMode() {
  const compound = currentCompound();
  if (!compound) return;
  const badge = $('mode-current');
  badge.dataset.mode = compound.mode;
  badge.replaceChildren(bilingual(labelOf(MODE_LABELS, compound.mode)));
  $('mode-since').textContent = compound.modeChangedAt
    ? `${dateTime(compound.modeChangedAt)} · ${compound.modeReason ?? ''}`
    : '';
  $('mode-select').value = compound.mode;
}

$('mode-form').addEventListener('submit', (event) => {
  event.preventDefault();
  $('mode-error').textContent = '';
  const mode = $('mode-select').value;
  const reason = $('mode-reason').value.trim();
  if (!reason) {
    $('mode-error').textContent = '请填写原因 · A reason is required';
    return;
  }
  const [zh, en] = labelOf(MODE_LABELS, mode);
  $('mode-confirm-text').textContent =
    `将 ${currentCompound()?.name ?? compoundId} 切换为「${zh}」，所有闸机立即生效。 Switch ${compoundId} to "${en}"? Every gate applies it at once. 原因 Reason: ${reason}`;
  $('mode-dialog').showModal();
});

$('mode-dialog').addEventListener('close', async () => {
  if ($('mode-dialog').returnValue !== 'confirm') return;
  try {
    const updated = await api(`/compounds/${encodeURIComponent(compoundId)}/mode`, {
      method: 'PUT',
      body: { mode: $('mode-select').value, reason: $('mode-reason').value.trim() },
    });
    compounds = compounds.map((c) => (c.id === updated.id ? updated : c));
    $('mode-reason').value = '';
    renderMode();
  } catch (err) {
    $('mode-error').textContent = describeError(err);
  }
});

// ---- residents ------------------------------------------------------------------------------

let residents = [];
const RESIDENT_ROWS_SHOWN = 200;

function renderResidents() {
  const needle = $('resident-search').value.trim().toLowerCase();
  const matches = needle
    ? residents.filter((r) =>
        [r.maskedName, r.personId, r.householdId ?? '', r.maskedIdNumber ?? ''].some((v) =>
          v.toLowerCase().includes(needle),
        ),
      )
    : residents;
  $('residents-count').textContent = `${matches.length} / ${residents.length}`;
  $('resident-rows').replaceChildren(
    ...matches.slice(0, RESIDENT_ROWS_SHOWN).map((r) =>
      el(
        'tr',
        { 'data-person-id': r.personId },
        el('td', {}, r.personId),
        el('td', {}, r.maskedName),
        el('td', {}, r.maskedIdNumber ?? '—'),
        el('td', {}, r.householdId ?? '—'),
        el('td', {}, bilingual(labelOf(KIND_LABELS, r.kind))),
        el('td', {}, el('span', { class: `health ${r.health}` }, labelOf(HEALTH_LABELS, r.health)[0])),
        el(
          'td',
          {},
          el(
            'button',
            {
              type: 'button',
              class: 'small',
              onclick: () => {
                $('pass-person').value = r.personId;
                location.hash = '#passes';
              },
            },
            '通行证 ',
            el('small', {}, 'Pass'),
          ),
        ),
      ),
    ),
  );
}

async function loadResidents() {
  const all = [];
  let cursor = null;
  do {
    const page = await api(`/residents?${inCompound()}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    all.push(...page.residents);
    cursor = page.nextCursor;
  } while (cursor && all.length < 20_000);
  residents = all;
  renderResidents();
}

$('resident-search').addEventListener('input', renderResidents);

$('resident-import').addEventListener('click', async () => {
  const file = $('resident-csv').files[0];
  const report = $('import-report');
  if (!file) return;
  report.hidden = false;
  report.className = 'report';
  report.replaceChildren(bilingual(['导入中…', 'Importing…']));
  try {
    const result = await api('/residents/import', { method: 'POST', raw: await file.text(), contentType: 'text/csv' });
    report.className = 'report ok';
    report.replaceChildren(
      el('b', {}, `已导入 ${result.imported} 人（新增 ${result.created}，更新 ${result.updated}）`),
      el('small', {}, ` Imported ${result.imported} (created ${result.created}, updated ${result.updated})`),
    );
    await loadResidents();
  } catch (err) {
    report.className = 'report failed';
    const rows = err.body?.error?.rows ?? [];
    report.replaceChildren(
      el('p', {}, el('b', {}, '未导入任何数据 · Nothing was imported: '), describeError({ message: err.message })),
      rows.length
        ? el(
            'table',
            { class: 'compact', id: 'import-errors' },
            el(
              'thead',
              {},
              el('tr', {}, el('th', {}, '行 Row'), el('th', {}, '列 Column'), el('th', {}, '问题 Problem')),
            ),
            el(
              'tbody',
              {},
              rows.map((e) =>
                el('tr', {}, el('td', {}, String(e.row)), el('td', {}, e.column ?? '—'), el('td', {}, e.message)),
              ),
            ),
          )
        : null,
    );
  }
});

// ---- passes ---------------------------------------------------------------------------------

$('pass-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('pass-error').textContent = '';
  const validTo = new Date(`${$('pass-valid-to').value}T23:59:59`).getTime();
  const uses = $('pass-uses').value;
  try {
    const pass = await api('/passes', {
      method: 'POST',
      body: {
        personId: $('pass-person').value.trim(),
        kind: $('pass-kind').value,
        validTo,
        ...(uses ? { useLimit: Number(uses) } : {}),
      },
    });
    const svg = await api(`/passes/${pass.passId}/qr.svg`, { as: 'text' });
    const img = $('pass-qr');
    if (img.src.startsWith('blob:')) URL.revokeObjectURL(img.src);
    // As an image, never as inline markup: an SVG shown through <img> cannot run script.
    img.src = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
    const resident = residents.find((r) => r.personId === pass.personId);
    $('pass-card-person').textContent = resident ? `${resident.maskedName} (${pass.personId})` : pass.personId;
    $('pass-card-kind').replaceChildren(bilingual(labelOf(PASS_KIND_LABELS, pass.kind)));
    $('pass-card-valid').textContent =
      `${dateTime(pass.notBefore)} → ${dateTime(pass.expiresAt)}${pass.useLimit ? ` · ${pass.useLimit}×` : ''}`;
    $('pass-card-id').textContent = pass.passId;
    $('pass-card').hidden = false;
  } catch (err) {
    $('pass-error').textContent = describeError(err);
  }
});
$('pass-print').addEventListener('click', () => window.print());

// ---- tracing --------------------------------------------------------------------------------

let traced = null;

function traceParams(extra = {}) {
  const from = new Date($('trace-from').value).getTime();
  const to = new Date($('trace-to').value).getTime();
  return new URLSearchParams({ from: String(from), to: String(to), reason: $('trace-reason').value.trim(), ...extra });
}

$('trace-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('trace-error').textContent = '';
  $('trace-result').hidden = true;
  const params = new URLSearchParams({ q: $('trace-q').value.trim(), reason: $('trace-reason').value.trim() });
  if (compoundId) params.set('compound', compoundId);
  try {
    const { persons } = await api(`/trace/search?${params}`);
    $('trace-matches-table').hidden = false;
    $('trace-matches').replaceChildren(
      ...(persons.length === 0
        ? [el('tr', {}, el('td', { colspan: 5, class: 'muted' }, bilingual(['查无此人', 'Nobody found'])))]
        : persons.map((p) =>
            el(
              'tr',
              { 'data-person-id': p.personId },
              el('td', {}, p.name, ' ', el('small', {}, p.personId)),
              el('td', {}, p.maskedIdNumber ?? '—'),
              el('td', {}, p.householdId ?? '—'),
              el('td', {}, el('span', { class: `health ${p.health}` }, labelOf(HEALTH_LABELS, p.health)[0])),
              el(
                'td',
                {},
                el(
                  'button',
                  { type: 'button', class: 'small primary trace-person', onclick: () => runTrace(p) },
                  '追踪 ',
                  el('small', {}, 'Trace'),
                ),
              ),
            ),
          )),
    );
  } catch (err) {
    $('trace-error').textContent = describeError(err);
  }
});

async function runTrace(person) {
  $('trace-error').textContent = '';
  try {
    const id = encodeURIComponent(person.personId);
    const windowMin = $('trace-window').value || '15';
    const [timeline, contacts] = await Promise.all([
      api(`/trace/person/${id}?${traceParams()}`),
      api(`/trace/contacts/${id}?${traceParams({ windowMin })}`),
    ]);
    traced = { person, windowMin };
    $('trace-person').textContent = `${person.name} (${person.personId})`;
    $('trace-timeline').replaceChildren(
      ...timeline.passages.map((p) =>
        el(
          'tr',
          {},
          el('td', {}, dateTime(p.ts)),
          el('td', {}, p.gateName ?? p.gateId),
          el('td', {}, bilingual(labelOf(DIRECTION_LABELS, p.direction))),
          el('td', {}, bilingual(labelOf(METHOD_LABELS, p.method))),
          el('td', {}, el('span', { class: `result ${p.result}` }, labelOf(RESULT_LABELS, p.result)[0])),
          el('td', {}, bilingual(labelOf(REASON_LABELS, p.reason))),
        ),
      ),
    );
    $('trace-contacts').replaceChildren(
      ...(contacts.contacts.length === 0
        ? [el('tr', {}, el('td', { colspan: 5, class: 'muted' }, bilingual(['无密接', 'No contacts'])))]
        : contacts.contacts.map((c) =>
            el(
              'tr',
              { 'data-person-id': c.personId },
              el('td', {}, String(c.rank)),
              el('td', {}, c.maskedName ?? c.personId, ' ', el('small', {}, c.personId)),
              el('td', {}, String(c.sharedPassages.length)),
              el('td', {}, c.closestGapMs === null ? '—' : duration(c.closestGapMs)),
              el('td', {}, c.household ? '是 yes' : ''),
            ),
          )),
    );
    $('trace-result').hidden = false;
  } catch (err) {
    $('trace-error').textContent = describeError(err);
  }
}

async function exportCsv(kind) {
  if (!traced) return;
  const id = encodeURIComponent(traced.person.personId);
  const path =
    kind === 'contacts'
      ? `/trace/contacts/${id}?${traceParams({ windowMin: traced.windowMin, format: 'csv' })}`
      : `/trace/person/${id}?${traceParams({ format: 'csv' })}`;
  try {
    const { blob, disposition } = await api(path, { as: 'blob' });
    saveBlob(blob, fileNameOf(disposition, `${kind}-${traced.person.personId}.csv`));
  } catch (err) {
    $('trace-error').textContent = describeError(err);
  }
}
$('export-contacts').addEventListener('click', () => exportCsv('contacts'));
$('export-timeline').addEventListener('click', () => exportCsv('timeline'));

// ---- start ----------------------------------------------------------------------------------

async function selectCompound(id) {
  compoundId = id;
  renderMode();
  await Promise.all([loadStats(), loadResidents()]).catch((err) => console.error(err));
}

const now = Date.now();
$('trace-from').value = localInputValue(now - 14 * DAY_MS);
$('trace-to').value = localInputValue(now + 60_000);
const defaultValidTo = new Date(now + 30 * DAY_MS);
$('pass-valid-to').value = localInputValue(defaultValidTo.getTime()).slice(0, 10);

({ compounds } = await api('/compounds'));
$('compound').replaceChildren(...compounds.map((c) => el('option', { value: c.id }, `${c.name} (${c.id})`)));
const initial = session.compound ?? compounds[0]?.id;
if (initial) {
  $('compound').value = initial;
  await selectCompound(initial);
}
$('compound').addEventListener('change', () => selectCompound($('compound').value));
$('period').addEventListener('change', () => loadStats().catch((err) => console.error(err)));
document.body.dataset.ready = 'true';
