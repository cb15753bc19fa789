// `/dashboard/resident-side` (manager): activation letters (issue, print — one letter per page with
// the code and its QR link — or CSV), the issued codes with revoke, the return registrations to
// review, the compound's resident-side policy, and the week's visitor figures.
import { bilingual, dateTime, el, setTimeZone } from '/assets/format.js';
import { HEALTH_LABELS, labelOf } from '/assets/labels.js';
import { api, describeError, requireSession } from '/assets/session.js';

const $ = (id) => document.getElementById(id);
const session = await requireSession(['manager', 'admin']);
$('sign-out').hidden = false;
const TRANSPORTS = {
  train: '火车 Train',
  plane: '飞机 Plane',
  car: '汽车 Car',
  bus: '大巴 Bus',
  ship: '轮船 Ship',
  other: '其他 Other',
};
const CODE_STATES = {
  open: ['有效', 'Open'],
  used: ['已使用', 'Used'],
  revoked: ['已作废', 'Revoked'],
  expired: ['已过期', 'Expired'],
};

let compoundId = session.compound ?? new URLSearchParams(location.search).get('compound');

async function start() {
  if (!compoundId) {
    const compounds = await api('/compounds');
    compoundId = (compounds.compounds ?? compounds)[0]?.id;
  }
  const compound = await api(`/compounds/${compoundId}`);
  setTimeZone(compound.timeZone);
  $('manage-compound').textContent = `${compound.name} (${compound.id})`;
  $('manage').dataset.state = 'ok';
  await Promise.all([loadCodes(), loadReturns(), loadPolicy(), loadVisitorStats()]);
}

// ---- activation letters ---------------------------------------------------------------------------

function issueBody() {
  const household = $('issue-household').value.trim();
  const persons = $('issue-persons')
    .value.split(/[\s,，]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  return persons.length > 0 ? { personIds: persons } : { householdId: household, compoundId };
}

function letter(code, compoundName) {
  return el(
    'article',
    { class: 'letter', 'data-person': code.personId },
    el('h3', {}, `${compoundName} · 住户端激活通知 `, el('small', {}, 'Your resident account')),
    el('p', {}, `${code.maskedName}（${code.householdId ?? '—'}）您好：`),
    el(
      'p',
      {},
      '请用手机扫描二维码，设置登录名和密码。 ',
      el('small', {}, 'Scan the code with your phone and choose a sign-in name and password.'),
    ),
    el('img', {
      class: 'letter-qr',
      alt: 'QR',
      src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(code.qrSvg)}`,
    }),
    el('p', { class: 'letter-code' }, '激活码 ', el('small', {}, 'Activation code'), ' ', el('strong', {}, code.code)),
    el('p', { class: 'muted' }, `有效期至 Valid until ${dateTime(code.expiresAt)}；仅可使用一次 · single use`),
  );
}

$('issue-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('issue-error').textContent = '';
  try {
    const { codes } = await api('/activations', { method: 'POST', body: issueBody() });
    const name = $('manage-compound').textContent;
    $('letters').replaceChildren(
      el(
        'p',
        { class: 'no-print' },
        bilingual([`已生成 ${codes.length} 封激活信`, `${codes.length} letter(s) ready`]),
        ' ',
        el(
          'button',
          { type: 'button', class: 'primary', onclick: () => window.print() },
          '打印 ',
          el('small', {}, 'Print'),
        ),
      ),
      ...codes.map((c) => letter(c, name)),
    );
    await loadCodes();
  } catch (err) {
    $('issue-error').textContent = describeError(err);
  }
});

$('issue-csv').addEventListener('click', async () => {
  $('issue-error').textContent = '';
  try {
    const { blob } = await api('/activations?format=csv', { method: 'POST', body: issueBody(), as: 'blob' });
    const a = el('a', { href: URL.createObjectURL(blob), download: 'activation-codes.csv' });
    document.body.append(a);
    a.click();
    a.remove();
    await loadCodes();
  } catch (err) {
    $('issue-error').textContent = describeError(err);
  }
});

async function loadCodes() {
  const state = $('codes-state');
  try {
    const { codes } = await api(`/activations?compound=${compoundId}&status=all`);
    $('codes').tBodies[0].replaceChildren(
      ...codes
        .slice(0, 200)
        .map((c) =>
          el(
            'tr',
            { 'data-code': c.codeId, 'data-state': c.state },
            el('td', {}, c.maskedName ?? '—'),
            el('td', {}, c.personId),
            el(
              'td',
              {},
              bilingual(CODE_STATES[c.state] ?? [c.state, c.state]),
              c.activated ? el('small', {}, ' ✓') : null,
            ),
            el('td', {}, dateTime(c.expiresAt)),
            el(
              'td',
              {},
              c.state === 'open'
                ? el(
                    'button',
                    { type: 'button', class: 'link', onclick: () => revokeCode(c.codeId) },
                    '作废 ',
                    el('small', {}, 'Revoke'),
                  )
                : null,
            ),
          ),
        ),
    );
    state.textContent = codes.length === 0 ? '尚无激活码 · No codes yet' : '';
  } catch (err) {
    state.textContent = `加载失败 · Failed to load: ${describeError(err)}`;
  }
}

async function revokeCode(codeId) {
  try {
    await api(`/activations/${codeId}`, { method: 'DELETE' });
  } catch (err) {
    $('codes-state').textContent = describeError(err);
  }
  await loadCodes();
}

// ---- returns to review ------------------------------------------------------------------------------

async function loadReturns() {
  const state = $('returns-state');
  state.dataset.state = 'loading';
  try {
    const { returns } = await api(`/returns?compound=${compoundId}&status=pending`);
    $('returns-list').replaceChildren(
      ...returns.map((r) => {
        const note = el('input', { class: 'review-note', maxlength: 200, placeholder: '备注 Note' });
        const review = async (decision) => {
          try {
            await api(`/returns/${r.returnId}/review`, {
              method: 'POST',
              body: { decision, ...(note.value.trim() ? { note: note.value.trim() } : {}) },
            });
            await loadReturns();
          } catch (err) {
            state.textContent = describeError(err);
          }
        };
        return el(
          'li',
          { class: 'return-row', 'data-return': r.returnId },
          el(
            'p',
            {},
            el('strong', {}, r.origin),
            ` · ${r.returnDate} · ${TRANSPORTS[r.transport] ?? r.transport}${r.transportDetail ? ` ${r.transportDetail}` : ''}`,
          ),
          el(
            'p',
            {},
            `${r.householdId ?? '—'} · `,
            r.members
              .map((m) => `${m.maskedName}${m.madeYellow ? '' : `（${labelOf(HEALTH_LABELS, m.previousColour)[0]}）`}`)
              .join('、'),
            r.yellowUntil
              ? el('small', {}, ` · 黄码至 yellow until ${dateTime(r.yellowUntil)}`)
              : el('small', {}, ' · 待审核 until reviewed'),
          ),
          note,
          el(
            'button',
            { type: 'button', class: 'primary clear', onclick: () => review('clear') },
            '解除黄码 ',
            el('small', {}, 'Clear'),
          ),
          el(
            'button',
            { type: 'button', class: 'keep', onclick: () => review('keep') },
            '保留 ',
            el('small', {}, 'Keep'),
          ),
        );
      }),
    );
    state.dataset.state = 'ok';
    state.textContent =
      returns.length === 0 ? '没有待审核的登记 · Nothing to review' : `${returns.length} 条待审核 · to review`;
  } catch (err) {
    state.dataset.state = 'failed';
    state.textContent = `加载失败 · Failed to load: ${describeError(err)}`;
  }
}

// ---- policy and figures -------------------------------------------------------------------------------

async function loadPolicy() {
  const p = await api(`/compounds/${compoundId}/resident-policy`);
  $('policy-quota').value = p.visitorQuota;
  $('policy-quota-days').value = p.visitorQuotaDays;
  $('policy-normal').checked = p.visitorModes.includes('normal');
  $('policy-controlled').checked = p.visitorModes.includes('controlled');
  $('policy-days').value = p.returnYellowDays;
  $('policy-release').value = p.returnRelease;
}

$('policy-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    await api(`/compounds/${compoundId}/resident-policy`, {
      method: 'PUT',
      body: {
        visitorQuota: Number($('policy-quota').value),
        visitorQuotaDays: Number($('policy-quota-days').value),
        visitorModes: [
          ...($('policy-normal').checked ? ['normal'] : []),
          ...($('policy-controlled').checked ? ['controlled'] : []),
        ],
        returnYellowDays: Number($('policy-days').value),
        returnRelease: $('policy-release').value,
      },
    });
    $('policy-state').textContent = '已保存 · Saved';
  } catch (err) {
    $('policy-state').textContent = describeError(err);
  }
});

async function loadVisitorStats() {
  const to = Date.now();
  try {
    const s = await api(`/stats/visitors?compound=${compoundId}&from=${to - 7 * 86_400_000}&to=${to}`);
    $('visitor-stats-text').textContent =
      `邀请 ${s.invitations} 次，访客 ${s.visitors} 人，通行 ${s.passages} 次（允许 ${s.granted}） · ${s.invitations} invitations, ${s.visitors} visitors, ${s.passages} passages (${s.granted} granted)`;
  } catch (err) {
    $('visitor-stats-text').textContent = describeError(err);
  }
}

start().catch((err) => {
  $('manage').dataset.state = 'failed';
  $('returns-state').textContent = `加载失败 · Failed to load: ${describeError(err)}`;
});
