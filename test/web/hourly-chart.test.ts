/** The dashboard's hand-written SVG chart (a browser module, pure, so it runs in Node too). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { niceScale, renderHourlyChart } from '../../cloud/web/assets/hourly-chart.js';

const hour = (i: number, crossingsIn: number, crossingsOut = 0, denied = 0) => ({
  start: Date.UTC(2026, 0, 1, i),
  label: `2026-01-01T${String(i).padStart(2, '0')}:00+08:00`,
  crossingsIn,
  crossingsOut,
  denied,
});

describe('niceScale', () => {
  it('rounds the axis up to 1, 2 or 5 × 10^n', () => {
    expect(niceScale(0)).toEqual({ top: 1, step: 1 });
    expect(niceScale(3).top).toBe(5);
    expect(niceScale(17).top).toBe(20);
    expect(niceScale(430).top).toBe(500);
  });

  it('always covers the maximum with at most a handful of ticks', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), (max) => {
        const { top, step } = niceScale(max);
        expect(top).toBeGreaterThanOrEqual(max);
        expect(top).toBeLessThan(max * 5.01);
        expect(top / step).toBeLessThanOrEqual(10);
      }),
    );
  });
});

describe('renderHourlyChart', () => {
  it('draws one stacked bar segment per non-zero series with a tooltip', () => {
    const svg = renderHourlyChart([hour(8, 3, 1, 2), hour(9, 0)]);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/class="bar-in"/g)).toHaveLength(1);
    expect(svg.match(/class="bar-out"/g)).toHaveLength(1);
    expect(svg.match(/class="bar-denied"/g)).toHaveLength(1);
    expect(svg).toContain('<title>2026-01-01T08:00+08:00 进 in: 3</title>');
    expect(svg).not.toContain('No passages');
  });

  it('says so when the period has no passages', () => {
    expect(renderHourlyChart([])).toContain('No passages in this period');
    expect(renderHourlyChart([hour(0, 0)])).toContain('No passages in this period');
  });

  it('escapes labels', () => {
    const svg = renderHourlyChart([{ ...hour(1, 1), label: '<script>&' }]);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;&amp;');
  });
});
