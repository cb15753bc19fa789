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

// ---- time: one rule for every page — the compound's time zone, shown next to the times ----------

/** The compound's IANA zone once the page knows it; until then (or if unknown) the browser's. */
let zone;
let wallFormat;

/** Every time shown from now on is in `timeZone` (the compound's; statistics are bucketed in it). */
export function setTimeZone(timeZone) {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone }).format(0);
    zone = timeZone;
  } catch {
    zone = undefined;
  }
  wallFormat = undefined;
}

/** The zone times are shown in: the compound's, or the browser's before it is known. */
export function timeZone() {
  return zone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** Wall-clock fields of `ts` in the shown zone. */
export function wall(ts) {
  wallFormat ??= new Intl.DateTimeFormat('en-GB', {
    timeZone: timeZone(),
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  const fields = {};
  for (const part of wallFormat.formatToParts(new Date(ts))) fields[part.type] = Number(part.value);
  return {
    year: fields.year,
    month: fields.month,
    day: fields.day,
    hour: fields.hour,
    minute: fields.minute,
    second: fields.second,
  };
}

/** `Asia/Shanghai UTC+8`: what the pages print beside their times. */
export function zoneLabel(ts = Date.now()) {
  const offsetMin = Math.round((wallAsUtc(ts) - (ts - (ts % 1000))) / 60_000);
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${timeZone()} UTC${sign}${Math.floor(abs / 60)}${abs % 60 ? `:${pad(abs % 60)}` : ''}`;
}

function wallAsUtc(ts) {
  const w = wall(ts);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
}

/** `HH:MM:SS` in the compound's zone. */
export function clock(ts) {
  const w = wall(ts);
  return `${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`;
}

/** `YYYY-MM-DD HH:MM` in the compound's zone. */
export function dateTime(ts) {
  const w = wall(ts);
  return `${w.year}-${pad(w.month)}-${pad(w.day)} ${pad(w.hour)}:${pad(w.minute)}`;
}

/** The value of a `datetime-local` input for an instant, in the compound's zone. */
export function localInputValue(ts) {
  return dateTime(ts).replace(' ', 'T');
}

/**
 * The instant a `datetime-local` (`YYYY-MM-DDTHH:MM`) or `date` value names in the compound's
 * zone; NaN when empty or malformed. A wall time a DST change skips resolves to a neighbouring instant.
 */
export function fromLocalInput(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?$/.exec(value ?? '');
  if (!m) return Number.NaN;
  const asUtc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] ?? 0), Number(m[5] ?? 0));
  let t = asUtc;
  for (let i = 0; i < 2; i++) t = asUtc - (wallAsUtc(t) - t);
  return t;
}

/** The last midnight in the compound's zone at or before `now`, as epoch ms. */
export function midnightOf(now) {
  const w = wall(now);
  return fromLocalInput(`${w.year}-${pad(w.month)}-${pad(w.day)}`);
}

/** A duration in words: `2 min`, `35 s`. */
export function duration(ms) {
  const s = Math.round(ms / 1000);
  return s >= 120 ? `${Math.round(s / 60)} min` : `${s} s`;
}
