// Reveal: a resident's full identity, only with a reason (the cloud audits it), never left on the
// page — it is cleared however the dialog closes.
import { api, describeError } from './session.js';
import { $ } from './dashboard-common.js';

let revealing = null;

function clearReveal() {
  for (const id of ['reveal-name', 'reveal-id', 'reveal-phone']) $(id).textContent = '';
  $('reveal-result').hidden = true;
}

export function askReveal(resident) {
  revealing = resident;
  clearReveal();
  $('reveal-form').reset();
  $('reveal-error').textContent = '';
  $('reveal-who').textContent = `${resident.maskedName} (${resident.personId})`;
  $('reveal-submit').hidden = false;
  $('reveal-dialog').showModal();
  $('reveal-reason').focus();
}

$('reveal-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const reason = $('reveal-reason').value.trim();
  if (!reason) {
    $('reveal-error').textContent = '请填写原因 · A reason is required';
    return;
  }
  try {
    const params = new URLSearchParams({ reveal: 'true', reason });
    const identity = await api(`/residents/${encodeURIComponent(revealing.personId)}?${params}`);
    $('reveal-name').textContent = identity.name ?? '—';
    $('reveal-id').textContent = identity.idNumber ?? '—';
    $('reveal-phone').textContent = identity.phone ?? '—';
    $('reveal-result').hidden = false;
    $('reveal-submit').hidden = true;
  } catch (err) {
    $('reveal-error').textContent = describeError(err);
  }
});
$('reveal-close').addEventListener('click', () => {
  // Cleared at once: the dialog's 'close' event comes a task later.
  clearReveal();
  $('reveal-dialog').close();
});
// However the dialog closes (button, Esc), the identity leaves the page with it.
$('reveal-dialog').addEventListener('close', clearReveal);
