// Contact tracing on the dashboard: find a person by masked name, household, phone tail or person
// id (household members flagged), then their timeline and ranked contacts for a window and a
// reason, both exportable as CSV. No full name reaches this page.
import { bilingual, dateTime, duration, el, fromLocalInput, zoneLabel } from './format.js';
import { DIRECTION_LABELS, labelOf, METHOD_LABELS, REASON_LABELS, RESULT_LABELS } from './labels.js';
import { api, describeError } from './session.js';
import { $, actionButton, fileNameOf, healthBadge, saveBlob, view } from './dashboard-common.js';

const MATCH_LABELS = {
  'person-id': ['人员编号', 'Person id'],
  'masked-name': ['脱敏姓名', 'Masked name'],
  household: ['户号', 'Household'],
  'phone-tail': ['手机尾号', 'Phone tail'],
  'household-member': ['同户成员', 'Same household'],
};
let traced = null;

export function pickForTrace(person) {
  $('trace-person-id').value = person.personId;
  $('trace-person-id').dataset.masked = person.maskedName;
  location.hash = '#trace';
  $('trace-reason').focus();
}

$('find-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('find-error').textContent = '';
  const params = new URLSearchParams({ compound: view.compoundId, q: $('find-q').value.trim(), limit: '50' });
  try {
    const { residents, total } = await api(`/web/residents?${params}`);
    $('find-table').hidden = false;
    $('find-rows').replaceChildren(
      ...(residents.length === 0
        ? [el('tr', {}, el('td', { colspan: 6, class: 'muted' }, bilingual(['查无此人', 'Nobody found'])))]
        : residents.map((p) =>
            el(
              'tr',
              {
                'data-person-id': p.personId,
                'data-matched-by': p.matchedBy ?? '',
                class: p.matchedBy === 'household-member' ? 'household-member' : '',
              },
              el('td', {}, p.maskedName, ' ', el('small', {}, p.personId)),
              el('td', {}, p.householdId ?? '—'),
              el('td', {}, p.phoneTail ? `…${p.phoneTail}` : '—'),
              el('td', {}, healthBadge(p.health)),
              el(
                'td',
                {},
                el('span', { class: `match ${p.matchedBy ?? ''}` }, bilingual(labelOf(MATCH_LABELS, p.matchedBy))),
              ),
              el(
                'td',
                {},
                actionButton(['追踪', 'Trace'], () => pickForTrace(p), 'primary trace-person'),
              ),
            ),
          )),
      ...(total > residents.length
        ? [
            el(
              'tr',
              {},
              el(
                'td',
                { colspan: 6, class: 'muted' },
                `还有 ${total - residents.length} 人，请缩小范围 · ${total - residents.length} more: narrow the search`,
              ),
            ),
          ]
        : []),
    );
  } catch (err) {
    $('find-table').hidden = true;
    $('find-error').textContent = describeError(err);
  }
});

function traceParams(extra = {}) {
  return new URLSearchParams({
    from: String(fromLocalInput($('trace-from').value)),
    to: String(fromLocalInput($('trace-to').value)),
    reason: $('trace-reason').value.trim(),
    ...extra,
  });
}

$('trace-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  await runTrace($('trace-person-id').value.trim());
});

async function runTrace(personId) {
  $('trace-error').textContent = '';
  $('trace-result').hidden = true;
  try {
    const id = encodeURIComponent(personId);
    const windowMin = $('trace-window').value || '15';
    const [timeline, contacts] = await Promise.all([
      api(`/trace/person/${id}?${traceParams()}`),
      api(`/trace/contacts/${id}?${traceParams({ windowMin })}`),
    ]);
    traced = { personId, windowMin };
    $('trace-person').textContent =
      `${timeline.person?.maskedName ?? $('trace-person-id').dataset.masked ?? ''} (${personId}) · ${zoneLabel()}`;
    $('trace-timeline').replaceChildren(
      ...(timeline.passages.length === 0
        ? [
            el(
              'tr',
              {},
              el('td', { colspan: 6, class: 'muted' }, bilingual(['此期间无通行', 'No passages in this window'])),
            ),
          ]
        : timeline.passages.map((p) =>
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
          )),
    );
    $('trace-contacts').replaceChildren(
      ...(contacts.contacts.length === 0
        ? [el('tr', {}, el('td', { colspan: 5, class: 'muted' }, bilingual(['无密接', 'No contacts'])))]
        : contacts.contacts.map((c) =>
            el(
              'tr',
              { 'data-person-id': c.personId, class: c.household ? 'household-member' : '' },
              el('td', {}, String(c.rank)),
              el('td', {}, c.maskedName ?? c.personId, ' ', el('small', {}, c.personId)),
              el('td', {}, String(c.sharedPassages.length)),
              el('td', {}, c.closestGapMs === null ? '—' : duration(c.closestGapMs)),
              el(
                'td',
                {},
                c.household
                  ? el('span', { class: 'match household-member' }, bilingual(['同户', 'Same household']))
                  : '',
              ),
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
  const id = encodeURIComponent(traced.personId);
  const path =
    kind === 'contacts'
      ? `/trace/contacts/${id}?${traceParams({ windowMin: traced.windowMin, format: 'csv' })}`
      : `/trace/person/${id}?${traceParams({ format: 'csv' })}`;
  try {
    const { blob, disposition } = await api(path, { as: 'blob' });
    saveBlob(blob, fileNameOf(disposition, `${kind}-${traced.personId}.csv`));
  } catch (err) {
    $('trace-error').textContent = describeError(err);
  }
}
$('export-contacts').addEventListener('click', () => exportCsv('contacts'));
$('export-timeline').addEventListener('click', () => exportCsv('timeline'));
