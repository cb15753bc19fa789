// The device pass panel of `/me` (`#pass-panel`, docs/web.md "The phone pass (`/me/pass`)"): fills
// itself when the page has loaded the resident (the `anxin:me` event with the session's token) with
// what the resident's pass is — printed, a phone pass on this phone, none yet — and the way to the
// full-screen live QR at `/me/pass`.

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children.filter((c) => c !== null));
  return node;
}

document.addEventListener('anxin:me', async (event) => {
  const panel = document.getElementById('pass-panel');
  const token = event.detail?.token;
  if (!panel || !token) return;
  let answer;
  try {
    const res = await fetch('/api/v1/me/pass/device', { headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) return;
    answer = await res.json();
  } catch {
    return;
  }
  const title = el('h2', {}, '我的通行码 ', el('small', {}, 'My pass'));
  if (answer.medium !== 'phone') {
    panel.replaceChildren(
      title,
      el(
        'p',
        { class: 'muted', 'data-medium': 'printed' },
        '您使用纸质通行证。如需手机通行码，请联系物业。',
        el('small', {}, ' You have a printed pass; for a phone pass ask the property office.'),
      ),
    );
  } else {
    const until = answer.devicePass ? new Date(answer.devicePass.expiresAt).toLocaleDateString('zh-CN') : null;
    panel.replaceChildren(
      title,
      el(
        'p',
        { class: 'muted', 'data-medium': 'phone' },
        until ? `手机通行码，有效期至 ${until}。` : '手机通行码尚未在手机上启用。',
        el(
          'small',
          {},
          until ? ` Phone pass, valid until ${until}.` : ' Your phone pass is not set up on a phone yet.',
        ),
      ),
      el(
        'a',
        { href: '/me/pass', class: 'button primary', id: 'pass-open' },
        until ? '出示通行码 ' : '在本机启用 ',
        el('small', {}, until ? 'Show my pass' : 'Use this phone'),
      ),
    );
  }
  panel.hidden = false;
});
