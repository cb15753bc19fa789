/**
 * Local hours and days of a compound's IANA time zone, from UTC epoch ms (docs/tracing.md,
 * "Time zones"). Offsets come from `Intl.DateTimeFormat`, so zones with daylight saving time
 * (America/New_York) and with half- or quarter-hour offsets (Asia/Kolkata, Asia/Kathmandu) are
 * handled by the platform's tz database, not by arithmetic of our own.
 *
 * An hour bucket is identified by the UTC epoch ms of the local hour's start. When clocks fall
 * back, the repeated local hour 01:00 appears twice with two different starts and two labels that
 * differ in their offset (`…T01:00-04:00`, `…T01:00-05:00`); when they spring forward, the skipped
 * local hour simply has no bucket.
 */
import { AnxinError } from '../../shared/errors.ts';

export class InvalidTimeZoneError extends AnxinError {
  constructor(timeZone: string) {
    super('invalid-time-zone', `unknown IANA time zone ${JSON.stringify(timeZone)}`);
  }
}

export const DEFAULT_TIME_ZONE = 'Asia/Shanghai';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Every zone offset in use since 1970 is a multiple of 15 minutes, and so are the instants of its changes. */
const OFFSET_SLOT_MS = 900_000;
const OFFSET_CACHE_LIMIT = 50_000;

interface ZoneCache {
  format: Intl.DateTimeFormat;
  offsets: Map<number, number>;
}

const zones = new Map<string, ZoneCache>();

function zoneOf(timeZone: string): ZoneCache {
  let zone = zones.get(timeZone);
  if (zone) return zone;
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  } catch {
    throw new InvalidTimeZoneError(timeZone);
  }
  zone = { format, offsets: new Map() };
  zones.set(timeZone, zone);
  return zone;
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    zoneOf(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** Local wall time minus UTC at the instant `ts`, in ms (e.g. +8 h for Asia/Shanghai). */
export function zoneOffsetMs(ts: number, timeZone: string): number {
  const zone = zoneOf(timeZone);
  const slot = Math.floor(ts / OFFSET_SLOT_MS);
  const cached = zone.offsets.get(slot);
  if (cached !== undefined) return cached;
  const fields: Record<string, number> = {};
  for (const part of zone.format.formatToParts(new Date(slot * OFFSET_SLOT_MS))) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  const wall = Date.UTC(
    fields.year ?? 1970,
    (fields.month ?? 1) - 1,
    fields.day ?? 1,
    fields.hour ?? 0,
    fields.minute ?? 0,
    fields.second ?? 0,
  );
  const offset = wall - slot * OFFSET_SLOT_MS;
  if (zone.offsets.size >= OFFSET_CACHE_LIMIT) zone.offsets.clear();
  zone.offsets.set(slot, offset);
  return offset;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `+08:00`, `-04:00`, `+05:45`. */
export function formatOffset(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+';
  const minutes = Math.round(Math.abs(offsetMs) / 60_000);
  return `${sign}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}

export interface LocalHour {
  /** UTC epoch ms of the start of the local hour that contains the instant. */
  start: number;
  /** The local hour in ISO 8601 with its offset, e.g. `2026-03-08T03:00-04:00`. */
  label: string;
  /** The local calendar day, `YYYY-MM-DD`. */
  day: string;
}

/** The local hour containing `ts` in `timeZone`. */
export function localHourOf(ts: number, timeZone: string): LocalHour {
  const offset = zoneOffsetMs(ts, timeZone);
  const wall = ts + offset;
  const wallHourStart = wall - (((wall % HOUR_MS) + HOUR_MS) % HOUR_MS);
  const date = new Date(wallHourStart);
  const day = `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
  return {
    start: wallHourStart - offset,
    label: `${day}T${pad(date.getUTCHours())}:00${formatOffset(offset)}`,
    day,
  };
}

/** The local calendar day (`YYYY-MM-DD`) containing `ts`. */
export function localDayOf(ts: number, timeZone: string): string {
  const wall = new Date(ts + zoneOffsetMs(ts, timeZone));
  return `${pad(wall.getUTCFullYear(), 4)}-${pad(wall.getUTCMonth() + 1)}-${pad(wall.getUTCDate())}`;
}

/** `ts` as ISO 8601 in the zone's wall time with its offset: `2026-03-01T08:00:00.000+08:00`. */
export function formatLocalIso(ts: number, timeZone: string): string {
  const offset = zoneOffsetMs(ts, timeZone);
  return new Date(ts + offset).toISOString().slice(0, 23) + formatOffset(offset);
}

/**
 * The local hours that overlap `[from, to)`, in order: the first is the hour containing `from`.
 * Stepping from a bucket start by one hour of UTC and re-anchoring to the local hour keeps the
 * walk correct across DST changes, including the 30-minute ones of Australia/Lord_Howe.
 */
export function localHoursBetween(from: number, to: number, timeZone: string): LocalHour[] {
  const hours: LocalHour[] = [];
  if (to <= from) return hours;
  let hour = localHourOf(from, timeZone);
  while (hour.start < to) {
    hours.push(hour);
    hour = localHourOf(hour.start + HOUR_MS, timeZone);
  }
  return hours;
}

/** The local days (`YYYY-MM-DD`) that overlap `[from, to)`, in order. */
export function localDaysBetween(from: number, to: number, timeZone: string): string[] {
  const days: string[] = [];
  if (to <= from) return days;
  const last = localDayOf(to - 1, timeZone);
  let day = localDayOf(from, timeZone);
  days.push(day);
  // Calendar days are walked on the wall-clock calendar, which has no DST.
  while (day < last) {
    day = new Date(Date.parse(`${day}T00:00:00Z`) + DAY_MS).toISOString().slice(0, 10);
    days.push(day);
  }
  return days;
}
