/**
 * The registry's label keys (cloud/metrics/metrics-registry.ts): one label is keyed without a sort
 * and its value escaped only when it needs it, several are keyed in sorted order — every way of
 * writing the same labels counts on the same sample, and the exposition escapes `\`, `"` and
 * newlines in every case.
 */
import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../../cloud/metrics/metrics-registry.ts';

describe('metrics registry labels', () => {
  it('counts the same labels on one sample whatever their order, and escapes values that need it', () => {
    const registry = new MetricsRegistry();
    const counter = registry.counter('anxin_test_total', 'test');
    counter.inc();
    counter.inc({ reason: 'plain' });
    counter.inc({ reason: 'plain' }, 2);
    counter.inc({ kind: 'events', reason: 'x' });
    counter.inc({ reason: 'x', kind: 'events' });
    counter.inc({ reason: 'a"b\\c\nd' });
    expect(counter.get()).toBe(1);
    expect(counter.get({ reason: 'plain' })).toBe(3);
    expect(counter.get({ kind: 'events', reason: 'x' })).toBe(2);
    expect(counter.get({ reason: 'a"b\\c\nd' })).toBe(1);
    const text = registry.render();
    expect(text).toContain('anxin_test_total 1');
    expect(text).toContain('anxin_test_total{reason="plain"} 3');
    expect(text).toContain('anxin_test_total{kind="events",reason="x"} 2');
    expect(text).toContain('anxin_test_total{reason="a\\"b\\\\c\\nd"} 1');
  });
});
