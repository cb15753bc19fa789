// The live link's state on the guard console: the header, a banner in words once it is not live
// (with the time of the last data), every gate card and the title.
import { clock, el } from './format.js';
import { $, gates, updateTitle, view } from './console-common.js';
import { updateCard } from './console-gates.js';

const LINK_TEXT = {
  connecting: ['连接中', 'Connecting'],
  open: ['实时', 'Live'],
  stale: ['数据停滞', 'Stale'],
  closed: ['已断开', 'Disconnected'],
  offline: ['网络断开', 'Offline'],
};

export function renderLink() {
  const header = $('live-state');
  header.dataset.state = view.link;
  const since = view.lastDataAt ? ` · ${clock(view.lastDataAt)}` : '';
  header.textContent = `${LINK_TEXT[view.link].join(' ')}${view.link === 'open' ? '' : since}`;
  const banner = $('link-banner');
  // The first connect is not a failure; anything after it is said in words.
  banner.hidden = view.link === 'open' || (view.link === 'connecting' && view.lastDataAt === null);
  if (!banner.hidden) {
    banner.dataset.state = view.link;
    const lastZh = view.lastDataAt ? `，最后收到数据 ${clock(view.lastDataAt)}` : '';
    const lastEn = view.lastDataAt ? `; last data at ${clock(view.lastDataAt)}` : '';
    banner.replaceChildren(
      el('b', {}, `${LINK_TEXT[view.link][0]}：以下状态可能已过期${lastZh}。`),
      ' ',
      el('small', {}, `${LINK_TEXT[view.link][1]}: what is shown may be out of date${lastEn}. Reconnecting…`),
    );
  }
  for (const entry of gates.values()) if (entry.card) updateCard(entry);
  updateTitle();
}
