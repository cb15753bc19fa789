import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatLocalIso,
  formatOffset,
  InvalidTimeZoneError,
  isValidTimeZone,
  localDayOf,
  localDaysBetween,
  localHourOf,
  localHoursBetween,
  zoneOffsetMs,
} from '../../../cloud/analytics/time-zone.ts';

const H = 3_600_000;
const at = (iso: string) => Date.parse(iso);

describe('zoneOffsetMs', () => {
  it('knows fixed, DST and half/quarter-hour zones', () => {
    expect(zoneOffsetMs(at('2026-01-15T00:00:00Z'), 'Asia/Shanghai')).toBe(8 * H);
    expect(zoneOffsetMs(at('2026-01-15T00:00:00Z'), 'America/New_York')).toBe(-5 * H);
    expect(zoneOffsetMs(at('2026-07-15T00:00:00Z'), 'America/New_York')).toBe(-4 * H);
    expect(zoneOffsetMs(at('2026-07-15T00:00:00Z'), 'Asia/Kolkata')).toBe(5.5 * H);
    expect(zoneOffsetMs(at('2026-07-15T00:00:00Z'), 'Asia/Kathmandu')).toBe(5.75 * H);
    expect(zoneOffsetMs(at('2026-07-15T00:00:00Z'), 'UTC')).toBe(0);
  });

  it('switches exactly at the New York DST instants of 2026', () => {
    // Spring forward: 2026-03-08 02:00 EST = 07:00Z; fall back: 2026-11-01 02:00 EDT = 06:00Z.
    expect(zoneOffsetMs(at('2026-03-08T06:59:59.999Z'), 'America/New_York')).toBe(-5 * H);
    expect(zoneOffsetMs(at('2026-03-08T07:00:00Z'), 'America/New_York')).toBe(-4 * H);
    expect(zoneOffsetMs(at('2026-11-01T05:59:59.999Z'), 'America/New_York')).toBe(-4 * H);
    expect(zoneOffsetMs(at('2026-11-01T06:00:00Z'), 'America/New_York')).toBe(-5 * H);
  });

  it('rejects an unknown zone with a typed error', () => {
    expect(() => zoneOffsetMs(0, 'Mars/Olympus')).toThrow(InvalidTimeZoneError);
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
    expect(isValidTimeZone('Asia/Shanghai')).toBe(true);
  });
});

describe('formatOffset / formatLocalIso', () => {
  it('writes signed hh:mm', () => {
    expect(formatOffset(8 * H)).toBe('+08:00');
    expect(formatOffset(-4 * H)).toBe('-04:00');
    expect(formatOffset(5.75 * H)).toBe('+05:45');
    expect(formatOffset(-3.5 * H)).toBe('-03:30');
    expect(formatOffset(0)).toBe('+00:00');
  });

  it('round-trips through Date.parse', () => {
    const ts = at('2026-03-01T00:00:00.123Z');
    expect(formatLocalIso(ts, 'Asia/Shanghai')).toBe('2026-03-01T08:00:00.123+08:00');
    expect(Date.parse(formatLocalIso(ts, 'America/New_York'))).toBe(ts);
  });
});

describe('localHourOf', () => {
  it('Asia/Shanghai: local hour start and label', () => {
    const h = localHourOf(at('2026-03-01T08:59:59.999+08:00'), 'Asia/Shanghai');
    expect(h).toEqual({ start: at('2026-03-01T08:00:00+08:00'), label: '2026-03-01T08:00+08:00', day: '2026-03-01' });
    // Local midnight belongs to the new day even though it is the previous day in UTC.
    expect(localHourOf(at('2026-03-01T16:00:00Z'), 'Asia/Shanghai').label).toBe('2026-03-02T00:00+08:00');
  });

  it('half-hour zone: the local hour starts at :30 UTC', () => {
    const h = localHourOf(at('2026-03-01T10:10:00Z'), 'Asia/Kolkata');
    expect(h.start).toBe(at('2026-03-01T09:30:00Z'));
    expect(h.label).toBe('2026-03-01T15:00+05:30');
  });

  it('New York spring forward: 01:xx EST is followed by 03:00 EDT, 02:00 has no bucket', () => {
    const hours = localHoursBetween(at('2026-03-08T05:00:00Z'), at('2026-03-08T09:00:00Z'), 'America/New_York');
    expect(hours.map((h) => h.label)).toEqual([
      '2026-03-08T00:00-05:00',
      '2026-03-08T01:00-05:00',
      '2026-03-08T03:00-04:00',
      '2026-03-08T04:00-04:00',
    ]);
    expect(hours.map((h) => h.start)).toEqual([5, 6, 7, 8].map((hh) => at(`2026-03-08T0${hh}:00:00Z`)));
  });

  it('New York fall back: 01:00 appears twice with two starts and two labels', () => {
    const hours = localHoursBetween(at('2026-11-01T04:00:00Z'), at('2026-11-01T08:00:00Z'), 'America/New_York');
    expect(hours.map((h) => h.label)).toEqual([
      '2026-11-01T00:00-04:00',
      '2026-11-01T01:00-04:00',
      '2026-11-01T01:00-05:00',
      '2026-11-01T02:00-05:00',
    ]);
    expect(new Set(hours.map((h) => h.start)).size).toBe(4);
    expect(hours.every((h) => h.day === '2026-11-01')).toBe(true);
  });

  it('Lord Howe (30-minute DST change) still walks forward hour by hour', () => {
    // DST ends 2026-04-05 02:00 +11:00 → 01:30 +10:30.
    const hours = localHoursBetween(at('2026-04-04T13:00:00Z'), at('2026-04-04T17:00:00Z'), 'Australia/Lord_Howe');
    for (let i = 1; i < hours.length; i++) expect(hours[i]!.start).toBeGreaterThan(hours[i - 1]!.start);
    expect(hours.map((h) => h.label)).toContain('2026-04-05T01:00+10:30');
  });

  it('property: the bucket contains the instant, starts on a local whole hour, and is stable', () => {
    const zones = ['Asia/Shanghai', 'America/New_York', 'Asia/Kolkata', 'Asia/Kathmandu', 'Europe/London', 'UTC'];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.constantFrom(...zones), (ts, zone) => {
        const h = localHourOf(ts, zone);
        expect(h.start).toBeLessThanOrEqual(ts);
        expect(ts - h.start).toBeLessThan(H);
        expect(localHourOf(h.start, zone)).toEqual(h);
        expect(Date.parse(h.label)).toBe(h.start);
        expect(localDayOf(ts, zone)).toBe(h.day);
      }),
    );
  });
});

describe('localHoursBetween / localDaysBetween', () => {
  it('an empty or inverted window has no hours and no days', () => {
    expect(localHoursBetween(10, 10, 'UTC')).toEqual([]);
    expect(localDaysBetween(10, 5, 'UTC')).toEqual([]);
  });

  it('a window ending exactly on an hour excludes that hour', () => {
    const hours = localHoursBetween(at('2026-03-01T08:30:00+08:00'), at('2026-03-01T10:00:00+08:00'), 'Asia/Shanghai');
    expect(hours.map((h) => h.label)).toEqual(['2026-03-01T08:00+08:00', '2026-03-01T09:00+08:00']);
  });

  it('counts 23 and 25 hours on New York DST days', () => {
    const spring = localHoursBetween(
      at('2026-03-08T00:00:00-05:00'),
      at('2026-03-09T00:00:00-04:00'),
      'America/New_York',
    );
    const autumn = localHoursBetween(
      at('2026-11-01T00:00:00-04:00'),
      at('2026-11-02T00:00:00-05:00'),
      'America/New_York',
    );
    expect(spring).toHaveLength(23);
    expect(autumn).toHaveLength(25);
  });

  it('lists local days across month ends', () => {
    expect(localDaysBetween(at('2026-02-27T12:00:00+08:00'), at('2026-03-02T00:00:00+08:00'), 'Asia/Shanghai')).toEqual(
      ['2026-02-27', '2026-02-28', '2026-03-01'],
    );
  });
});
