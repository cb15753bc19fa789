// The compound's mode on the dashboard: the current mode and since when, and the switch — a
// reason, then a confirmation naming the compound, the mode and the reason.
import { bilingual, dateTime, zoneLabel } from './format.js';
import { labelOf, MODE_LABELS } from './labels.js';
import { api, describeError } from './session.js';
import { $, currentCompound, view } from './dashboard-common.js';

export function renderMode() {
  const compound = currentCompound();
  if (!compound) return;
  const badge = $('mode-current');
  badge.dataset.mode = compound.mode;
  badge.replaceChildren(bilingual(labelOf(MODE_LABELS, compound.mode)));
  $('mode-since').textContent = compound.modeChangedAt
    ? `${dateTime(compound.modeChangedAt)} (${zoneLabel(compound.modeChangedAt)}) · ${compound.modeReason ?? ''}`
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
    `将 ${currentCompound()?.name ?? view.compoundId} 切换为「${zh}」，所有闸机立即生效。 Switch ${view.compoundId} to "${en}"? Every gate applies it at once. 原因 Reason: ${reason}`;
  $('mode-dialog').showModal();
});

$('mode-dialog').addEventListener('close', async () => {
  if ($('mode-dialog').returnValue !== 'confirm') return;
  try {
    const updated = await api(`/compounds/${encodeURIComponent(view.compoundId)}/mode`, {
      method: 'PUT',
      body: { mode: $('mode-select').value, reason: $('mode-reason').value.trim() },
    });
    view.compounds = view.compounds.map((c) => (c.id === updated.id ? updated : c));
    $('mode-reason').value = '';
    renderMode();
  } catch (err) {
    $('mode-error').textContent = describeError(err);
  }
});
