// A tiny SVG bar chart of passages per hour, drawn in the browser (no chart library, no CDN).
// Pure: data in, SVG text out, so it is unit-tested in Node (test/web/hourly-chart.test.ts).

const WIDTH = 960;
const HEIGHT = 260;
const MARGIN = { top: 16, right: 12, bottom: 42, left: 44 };
const SERIES = [
  { key: 'crossingsIn', colour: '#1456b8', zh: '进', en: 'in' },
  { key: 'crossingsOut', colour: '#2e9e57', zh: '出', en: 'out' },
  { key: 'denied', colour: '#d9534f', zh: '拒绝', en: 'denied' },
];

const escapeXml = (text) =>
  String(text).replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c],
  );

/** A round axis maximum ≥ `max` (1, 2, 5 × 10^n) and its tick step. */
export function niceScale(max) {
  if (!(max > 0)) return { top: 1, step: 1 };
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const factor of [1, 2, 5, 10]) {
    const top = factor * magnitude;
    if (top >= max) {
      const step = top / (factor === 1 || factor === 10 ? 5 : factor === 2 ? 4 : 5);
      return { top, step: Math.max(step, 1) };
    }
  }
  return { top: 10 * magnitude, step: 2 * magnitude };
}

/**
 * @param {{ start: number, label: string, crossingsIn: number, crossingsOut: number, denied: number }[]} hours
 *   points as `GET /api/v1/stats/hourly` returns them; `label` is local ISO (`2026-01-01T08:00+08:00`).
 * @returns {string} an `<svg>` element
 */
export function renderHourlyChart(hours) {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const totals = hours.map((h) => SERIES.reduce((sum, s) => sum + (h[s.key] ?? 0), 0));
  const { top, step } = niceScale(Math.max(0, ...totals));
  const y = (value) => MARGIN.top + plotH - (value / top) * plotH;
  const slot = hours.length > 0 ? plotW / hours.length : plotW;
  const barW = Math.max(1, slot * 0.72);
  const parts = [];

  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="每小时通行 Crossings per hour" font-size="11" font-family="inherit">`,
  );
  for (let v = 0; v <= top + 1e-9; v += step) {
    const gy = y(v).toFixed(1);
    parts.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${gy}" y2="${gy}" stroke="#e3e8ee"/>`);
    parts.push(
      `<text x="${MARGIN.left - 6}" y="${gy}" dy="0.32em" text-anchor="end" fill="#66788a">${Math.round(v)}</text>`,
    );
  }
  // Label every hour when they fit, else every 2nd, 3rd, 6th, 12th or 24th.
  const every = [1, 2, 3, 6, 12, 24].find((n) => slot * n >= 28) ?? 24;
  hours.forEach((h, i) => {
    const x = MARGIN.left + i * slot + (slot - barW) / 2;
    let base = 0;
    for (const s of SERIES) {
      const value = h[s.key] ?? 0;
      if (value <= 0) continue;
      const y0 = y(base);
      const y1 = y(base + value);
      parts.push(
        `<rect class="bar-${s.en}" x="${x.toFixed(1)}" y="${y1.toFixed(1)}" width="${barW.toFixed(1)}" height="${(y0 - y1).toFixed(1)}" fill="${s.colour}"><title>${escapeXml(`${h.label} ${s.zh} ${s.en}: ${value}`)}</title></rect>`,
      );
      base += value;
    }
    const hour = String(h.label).slice(11, 13);
    if (i % every === 0) {
      const cx = (MARGIN.left + i * slot + slot / 2).toFixed(1);
      parts.push(
        `<text x="${cx}" y="${HEIGHT - MARGIN.bottom + 14}" text-anchor="middle" fill="#66788a">${escapeXml(hour)}</text>`,
      );
      if (i === 0 || hour === '00') {
        parts.push(
          `<text x="${cx}" y="${HEIGHT - MARGIN.bottom + 28}" text-anchor="middle" fill="#1f2933">${escapeXml(String(h.label).slice(5, 10))}</text>`,
        );
      }
    }
  });
  parts.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(0)}" y2="${y(0)}" stroke="#9aa7b4"/>`);
  SERIES.forEach((s, i) => {
    const lx = WIDTH - MARGIN.right - (SERIES.length - i) * 92;
    parts.push(`<rect x="${lx}" y="${HEIGHT - 12}" width="10" height="10" fill="${s.colour}"/>`);
    parts.push(`<text x="${lx + 14}" y="${HEIGHT - 3}" fill="#1f2933">${s.zh} ${s.en}</text>`);
  });
  if (hours.length === 0 || totals.every((t) => t === 0)) {
    parts.push(
      `<text x="${WIDTH / 2}" y="${MARGIN.top + plotH / 2}" text-anchor="middle" fill="#66788a" font-size="14">无数据 No passages in this period</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('');
}
