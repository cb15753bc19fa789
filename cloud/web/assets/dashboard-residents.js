// The dashboard's residents: server-side pages (search, status filter, 50 a page), each row with
// its health colour and actions (trace, passes, pass medium, edit, reveal, (de)activate, delete), and the
// add / edit dialog. Names are masked here; the full identity only through dashboard-reveal.js.
import { bilingual, el } from './format.js';
import { HEALTH_LABELS, KIND_LABELS, labelOf } from './labels.js';
import { api, describeError } from './session.js';
import { $, actionButton, confirmAction, healthBadge, residentsView, view } from './dashboard-common.js';
import { openPassMedium } from './dashboard-pass-medium.js';
import { showPassesOf } from './dashboard-passes.js';
import { askReveal } from './dashboard-reveal.js';
import { pickForTrace } from './dashboard-trace.js';

const PAGE_SIZE = 50;

let residentsSeq = 0;

export async function loadResidents() {
  if (!view.compoundId) return;
  const seq = ++residentsSeq;
  $('residents-error').textContent = '';
  const params = new URLSearchParams({
    compound: view.compoundId,
    q: $('resident-search').value.trim(),
    status: $('resident-status').value,
    offset: String(residentsView.offset),
    limit: String(PAGE_SIZE),
  });
  try {
    const page = await api(`/web/residents?${params}`);
    if (seq !== residentsSeq) return;
    residentsView.total = page.total;
    residentsView.rows = page.residents;
    renderResidents();
  } catch (err) {
    if (seq !== residentsSeq) return;
    residentsView.rows = [];
    $('resident-rows').replaceChildren();
    $('residents-count').textContent = '';
    $('residents-page').textContent = '';
    $('residents-error').textContent = `住户加载失败 · Residents failed to load: ${describeError(err)}`;
  }
}

function renderResidents() {
  const { offset, total, rows } = residentsView;
  $('residents-count').textContent = `${total}`;
  $('residents-page').textContent = total === 0 ? '0 / 0' : `${offset + 1}–${offset + rows.length} / ${total}`;
  $('residents-prev').disabled = offset === 0;
  $('residents-next').disabled = offset + rows.length >= total;
  if (rows.length === 0) {
    $('resident-rows').replaceChildren(
      el('tr', {}, el('td', { colspan: 8, class: 'muted' }, bilingual(['没有符合条件的住户', 'No residents match']))),
    );
    return;
  }
  $('resident-rows').replaceChildren(...rows.map(residentRow));
}

function residentRow(r) {
  const health = el(
    'select',
    { class: 'health-select', 'aria-label': `健康码 Health ${r.personId}`, 'data-no-draft': true },
    ...['green', 'yellow', 'red', 'unknown'].map((c) =>
      el('option', { value: c, selected: c === r.health }, labelOf(HEALTH_LABELS, c).join(' ')),
    ),
  );
  health.addEventListener('change', () => setHealth(r, health.value));
  return el(
    'tr',
    { 'data-person-id': r.personId, 'data-active': String(r.active) },
    el('td', { 'data-label': '编号 Id' }, r.personId),
    el('td', { 'data-label': '姓名 Name' }, r.maskedName),
    el('td', { 'data-label': '证件 ID' }, r.maskedIdNumber ?? '—'),
    el('td', { 'data-label': '户 Household' }, r.householdId ?? '—'),
    el('td', { 'data-label': '类别 Kind' }, bilingual(labelOf(KIND_LABELS, r.kind))),
    el('td', { 'data-label': '健康 Health' }, healthBadge(r.health), ' ', health),
    el('td', { 'data-label': '状态 Status' }, bilingual(r.active ? ['有效', 'Active'] : ['已停用', 'Inactive'])),
    el(
      'td',
      { class: 'row-actions' },
      actionButton(['追踪', 'Trace'], () => pickForTrace(r), 'primary trace-resident'),
      actionButton(['通行证', 'Passes'], () => showPassesOf(r.personId), 'passes-resident'),
      r.kind === 'visitor'
        ? null
        : actionButton(['通行方式', 'Pass medium'], () => openPassMedium(r), 'medium-resident'),
      actionButton(['编辑', 'Edit'], () => openResidentForm(r), 'edit-resident'),
      actionButton(['查看身份', 'Reveal'], () => askReveal(r), 'reveal-resident'),
      actionButton(
        r.active ? ['停用', 'Deactivate'] : ['启用', 'Activate'],
        () => setActive(r, !r.active),
        'toggle-resident',
      ),
      actionButton(['删除', 'Delete'], () => deleteResident(r), 'danger delete-resident'),
    ),
  );
}

async function setHealth(r, colour) {
  $('residents-error').textContent = '';
  try {
    await api('/health', { method: 'PUT', body: [{ personId: r.personId, colour, ts: Date.now() }] });
    await loadResidents();
  } catch (err) {
    $('residents-error').textContent = `健康码未更新 · Health not updated: ${describeError(err)}`;
    await loadResidents();
  }
}

async function setActive(r, active) {
  $('residents-error').textContent = '';
  if (!active) {
    const ok = await confirmAction(
      '停用住户 Deactivate resident',
      `${r.maskedName} (${r.personId}) 将无法通行，记录保留。 ${r.personId} can no longer pass; the record is kept.`,
    );
    if (!ok) return;
  }
  try {
    await api(`/residents/${encodeURIComponent(r.personId)}`, { method: 'PATCH', body: { active } });
    await loadResidents();
  } catch (err) {
    $('residents-error').textContent = describeError(err);
  }
}

async function deleteResident(r) {
  $('residents-error').textContent = '';
  const ok = await confirmAction(
    '删除住户 Delete resident',
    `永久删除 ${r.maskedName} (${r.personId})？闸机将不再认识此人。 Delete ${r.personId} for good? Gates will no longer know this person.`,
  );
  if (!ok) return;
  try {
    await api(`/residents/${encodeURIComponent(r.personId)}`, { method: 'DELETE' });
    await loadResidents();
  } catch (err) {
    $('residents-error').textContent = describeError(err);
  }
}

let searchTimer = null;
$('resident-search').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    residentsView.offset = 0;
    loadResidents();
  }, 250);
});
$('resident-status').addEventListener('change', () => {
  residentsView.offset = 0;
  loadResidents();
});
$('residents-prev').addEventListener('click', () => {
  residentsView.offset = Math.max(0, residentsView.offset - PAGE_SIZE);
  loadResidents();
});
$('residents-next').addEventListener('click', () => {
  residentsView.offset += PAGE_SIZE;
  loadResidents();
});

// ---- add / edit ------------------------------------------------------------------------------

let editing = null;

function openResidentForm(resident) {
  editing = resident ?? null;
  const form = $('resident-form');
  form.reset();
  $('resident-form-error').textContent = '';
  $('resident-form-title').replaceChildren(
    ...(editing
      ? [`编辑 ${editing.maskedName} `, el('small', {}, `Edit ${editing.personId}`)]
      : ['新增住户 ', el('small', {}, 'Add resident')]),
  );
  $('resident-form-hint').hidden = !editing;
  $('rf-name').required = !editing;
  $('rf-name').placeholder = editing ? editing.maskedName : '';
  $('rf-id').placeholder = editing?.maskedIdNumber ?? '';
  $('rf-phone').placeholder = editing?.phoneTail ? `…${editing.phoneTail}` : '';
  if (editing) {
    $('rf-household').value = editing.householdId ?? '';
    $('rf-kind').value = editing.kind;
    $('rf-elderly').checked = editing.elderly;
  }
  $('resident-dialog').showModal();
  $('rf-name').focus();
}

$('resident-add').addEventListener('click', () => openResidentForm(null));
$('resident-cancel').addEventListener('click', () => $('resident-dialog').close());
$('resident-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const value = (id) => $(id).value.trim();
  const body = {};
  if (value('rf-name')) body.name = value('rf-name');
  if (value('rf-id')) body.idNumber = value('rf-id').toUpperCase();
  if (value('rf-phone')) body.phone = value('rf-phone');
  body.householdId = value('rf-household') || null;
  body.kind = $('rf-kind').value;
  body.elderly = $('rf-elderly').checked;
  try {
    if (editing) {
      await api(`/residents/${encodeURIComponent(editing.personId)}`, { method: 'PATCH', body });
    } else {
      await api('/residents', { method: 'POST', body: { ...body, compoundId: view.compoundId } });
    }
    $('resident-dialog').close();
    await loadResidents();
  } catch (err) {
    $('resident-form-error').textContent = describeError(err);
  }
});
