// QR passes on the dashboard: issue one (shown as an image and printable as a card), and every
// pass of a person with its state and a revoke.
import { bilingual, dateTime, el, fromLocalInput } from './format.js';
import { labelOf, PASS_KIND_LABELS } from './labels.js';
import { api, describeError } from './session.js';
import { $, actionButton, confirmAction, DAY_MS, residentsView } from './dashboard-common.js';

const passState = (p, now = Date.now()) =>
  p.revokedAt !== null
    ? ['已作废', 'Revoked']
    : p.expiresAt <= now
      ? ['已过期', 'Expired']
      : p.notBefore > now
        ? ['未生效', 'Not yet valid']
        : ['有效', 'Valid'];

export async function showPassesOf(personId) {
  $('pass-person').value = personId;
  location.hash = '#passes';
  await loadPersonPasses();
}

async function loadPersonPasses() {
  const personId = $('pass-person').value.trim();
  $('pass-error').textContent = '';
  if (!personId) {
    $('pass-error').textContent = '请填写人员编号 · Enter a person id';
    return;
  }
  try {
    const { passes } = await api(`/web/passes?person=${encodeURIComponent(personId)}`);
    $('person-passes-who').textContent = personId;
    $('person-passes').replaceChildren(
      ...(passes.length === 0
        ? [el('tr', {}, el('td', { colspan: 7, class: 'muted' }, bilingual(['尚未签发', 'No passes issued'])))]
        : passes.map((p) => {
            const state = passState(p);
            return el(
              'tr',
              { 'data-pass-id': p.passId, 'data-state': state[1].toLowerCase().replaceAll(' ', '-') },
              el('td', { class: 'pass-id' }, p.passId),
              el('td', {}, bilingual(labelOf(PASS_KIND_LABELS, p.kind))),
              el('td', {}, `${dateTime(p.notBefore)} → ${dateTime(p.expiresAt)}`),
              el('td', {}, p.useLimit === null ? '∞' : String(p.useLimit)),
              el('td', {}, `${dateTime(p.issuedAt)} · ${p.issuedBy}`),
              el('td', {}, bilingual(state)),
              el(
                'td',
                {},
                p.revokedAt === null && p.expiresAt > Date.now()
                  ? actionButton(['作废', 'Revoke'], () => revokePass(p), 'danger revoke-pass')
                  : null,
              ),
            );
          })),
    );
    $('person-passes-box').hidden = false;
  } catch (err) {
    $('person-passes-box').hidden = true;
    $('pass-error').textContent = `通行证加载失败 · Passes failed to load: ${describeError(err)}`;
  }
}

async function revokePass(p) {
  const ok = await confirmAction(
    '作废通行证 Revoke pass',
    `作废 ${p.passId}？所有闸机将拒绝此码。 Revoke ${p.passId}? Every gate will refuse it.`,
  );
  if (!ok) return;
  try {
    await api(`/passes/${encodeURIComponent(p.passId)}`, { method: 'DELETE' });
  } catch (err) {
    $('pass-error').textContent = describeError(err);
  }
  await loadPersonPasses();
}

$('pass-list-button').addEventListener('click', () => loadPersonPasses());

$('pass-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('pass-error').textContent = '';
  // The last second of the chosen day in the compound's zone.
  const validTo = fromLocalInput($('pass-valid-to').value) + DAY_MS - 1000;
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
    // As an image, never as inline markup: an SVG shown through <img> cannot run script. A data:
    // URL, which the cloud's Content-Security-Policy allows for images (blob: it does not).
    $('pass-qr').src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
    const resident = residentsView.rows.find((r) => r.personId === pass.personId);
    $('pass-card-person').textContent = resident ? `${resident.maskedName} (${pass.personId})` : pass.personId;
    $('pass-card-kind').replaceChildren(bilingual(labelOf(PASS_KIND_LABELS, pass.kind)));
    $('pass-card-valid').textContent =
      `${dateTime(pass.notBefore)} → ${dateTime(pass.expiresAt)}${pass.useLimit ? ` · ${pass.useLimit}×` : ''}`;
    $('pass-card-id').textContent = pass.passId;
    $('pass-card').hidden = false;
    if (!$('person-passes-box').hidden) await loadPersonPasses();
  } catch (err) {
    $('pass-error').textContent = describeError(err);
  }
});
$('pass-print').addEventListener('click', () => window.print());
