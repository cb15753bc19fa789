// `/visit#<token>`: a visitor's pass, from the link a household sent. The token stays in the
// fragment (never sent to a server log) and goes to the cloud in a POST body only.
import { bilingual, dateTime, setTimeZone } from '/assets/format.js';
import { setUpLargeText } from '/me/assets/me-api.js';

const $ = (id) => document.getElementById(id);
const MESSAGES = {
  'visitors-suspended': [
    '小区暂停访客，请联系邀请您的住户',
    'Visitors are suspended at this compound for now — contact the household that invited you',
  ],
  'invitation-revoked': ['邀请已撤销', 'The invitation was withdrawn'],
  'invitation-past': ['邀请已过期', 'The invitation was for an earlier day'],
  'invalid-link': ['链接无效', 'This link is not valid'],
  'too-many-attempts': ['尝试次数过多，请稍后再试', 'Too many attempts, try again later'],
};

setUpLargeText();
const state = $('visit-state');
const token = location.hash.slice(1);
const main = $('visit');

async function load() {
  try {
    const response = await fetch('/api/v1/visits/pass', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      main.dataset.state = body?.error?.code ?? 'failed';
      state.replaceChildren(
        bilingual(MESSAGES[body?.error?.code] ?? ['加载失败', body?.error?.message ?? `HTTP ${response.status}`]),
      );
      return;
    }
    setTimeZone(body.compound.timeZone);
    $('visit-name').textContent = body.maskedName;
    $('visit-compound').textContent = body.compound.name;
    $('visit-qr').src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(body.qrSvg)}`;
    $('visit-when').replaceChildren(
      bilingual([`${body.date} 有效，可通行${body.uses}次`, `Valid on ${body.date} for ${body.uses} passage(s)`]),
      ' ',
      `(${dateTime(body.validFrom)} – ${dateTime(body.validTo)})`,
    );
    $('visit-pass').hidden = false;
    state.hidden = true;
    main.dataset.state = 'ok';
  } catch {
    main.dataset.state = 'failed';
    state.replaceChildren(bilingual(['无法连接服务器', 'Cannot reach the server']));
  }
}
load();
