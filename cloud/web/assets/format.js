// DOM building without innerHTML (every text goes through textContent) and time formatting.

/** `el('td', { class: 'x' }, 'text', child)`: attributes, then children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    // Through the CSSOM: the Content-Security-Policy refuses style attributes in markup.
    else if (name === 'style') node.style.cssText = String(value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A bilingual label: `张 <small>en</small>`. */
export function bilingual([zh, en]) {
  const span = el('span', {}, zh, ' ', el('small', {}, en));
  return span;
}

const pad = (n) => String(n).padStart(2, '0');

/** `HH:MM:SS` in the browser's time zone. */
export function clock(ts) {
  const d = new Date(ts);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `YYYY-MM-DD HH:MM` in the browser's time zone. */
export function dateTime(ts) {
  const d = new Date(ts);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The value of a `datetime-local` input for an instant. */
export function localInputValue(ts) {
  return dateTime(ts).replace(' ', 'T');
}

/** A duration in words: `2 min`, `35 s`. */
export function duration(ms) {
  const s = Math.round(ms / 1000);
  return s >= 120 ? `${Math.round(s / 60)} min` : `${s} s`;
}
