// The dashboard's choice of pass per resident (docs/passes.md, "Device passes"): a printed static
// pass (for those without a phone — the elderly) or a phone pass bound to one phone whose QR
// changes every 10 s. *通行方式 Pass medium* on a resident's row opens a dialog that reads the
// current choice and the resident's phone pass (`GET /residents/:id/pass-medium`) and saves the new
// one (`PUT`, audited `pass.medium`). Going back to printed revokes the phone pass at every gate,
// so the dialog says so before it is saved.
import { bilingual, dateTime, el } from './format.js';
import { api, describeError } from './session.js';
import { $ } from './dashboard-common.js';

const MEDIA = { printed: ['纸质通行证', 'Printed pass'], phone: ['手机通行码', 'Phone pass'] };
let current = null;
let loadSeq = 0;

function describe(answer) {
  const words = MEDIA[answer.medium] ?? [answer.medium, answer.medium];
  const pass = answer.devicePass;
  return [
    el('span', { class: 'medium-now' }, '现为 ', el('b', {}, words[0]), ' ', el('small', {}, `now: ${words[1]}`)),
    ' — ',
    pass
      ? bilingual([
          `已绑定手机，有效至 ${dateTime(pass.expiresAt)}`,
          `bound to a phone${pass.label ? ` (${pass.label})` : ''}, valid until ${dateTime(pass.expiresAt)}`,
        ])
      : answer.medium === 'phone'
        ? bilingual(['尚未在手机上启用', 'not yet enabled on a phone (the resident opens /me/pass)'])
        : bilingual(['由物业打印', 'printed by the property office']),
  ];
}

function showWarning() {
  const chosen = $('medium-form').elements.medium.value;
  // Back to printed takes the phone pass away at once: say so before saving.
  $('medium-warning').hidden = !(chosen === 'printed' && current?.devicePass);
}

export async function openPassMedium(resident) {
  const seq = ++loadSeq;
  current = null;
  const form = $('medium-form');
  form.reset();
  form.dataset.personId = resident.personId;
  form.dataset.state = 'loading';
  $('medium-who').textContent = `${resident.maskedName} (${resident.personId})`;
  $('medium-current').replaceChildren(bilingual(['加载中…', 'Loading…']));
  $('medium-error').textContent = '';
  $('medium-warning').hidden = true;
  $('medium-save').disabled = true;
  $('medium-dialog').showModal();
  try {
    const answer = await api(`/residents/${encodeURIComponent(resident.personId)}/pass-medium`);
    if (seq !== loadSeq) return;
    current = answer;
    form.elements.medium.value = answer.medium;
    form.dataset.medium = answer.medium;
    form.dataset.state = 'ok';
    $('medium-current').replaceChildren(...describe(answer));
    $('medium-save').disabled = false;
  } catch (err) {
    if (seq !== loadSeq) return;
    form.dataset.state = 'failed';
    $('medium-current').replaceChildren();
    $('medium-error').textContent = `通行方式加载失败 · Could not load the pass medium: ${describeError(err)}`;
  }
}

$('medium-form').addEventListener('change', showWarning);
$('medium-cancel').addEventListener('click', () => $('medium-dialog').close());
$('medium-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = $('medium-form');
  const medium = form.elements.medium.value;
  if (!current || !medium) return;
  $('medium-error').textContent = '';
  $('medium-save').disabled = true;
  try {
    const answer = await api(`/residents/${encodeURIComponent(form.dataset.personId)}/pass-medium`, {
      method: 'PUT',
      body: { medium },
    });
    current = answer;
    form.dataset.medium = answer.medium;
    $('medium-current').replaceChildren(...describe(answer));
    $('medium-dialog').close();
    $('residents-note').replaceChildren(
      bilingual([
        `${$('medium-who').textContent}：已改为${MEDIA[answer.medium][0]}`,
        `${form.dataset.personId}: now ${MEDIA[answer.medium][1]}`,
      ]),
    );
  } catch (err) {
    $('medium-error').textContent = `未保存 · Not saved: ${describeError(err)}`;
  } finally {
    $('medium-save').disabled = false;
  }
});
