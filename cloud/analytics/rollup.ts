/**
 * Statistics rollups, pure: what a batch of newly stored events adds to the hourly counters and
 * the per-day tables (docs/tracing.md, "Statistics rollups"). The writer (rollup-writer.ts) adds
 * these deltas to SQLite inside the ingest transaction, so a statistics query reads counters
 * whose number grows with hours and gates, never with passages.
 */
import type { Direction, Method, Reason, Result } from '../../shared/enums.ts';
import { isCrossing } from './passage.ts';
import { type LocalHour, localHourOf } from './time-zone.ts';

/** One hourly counter: the key is every field but `count`. */
export interface HourlyCount {
  compoundId: string;
  /** UTC epoch ms of the local hour's start (time-zone.ts). */
  bucketStart: number;
  label: string;
  day: string;
  gateId: string;
  direction: Direction;
  method: Method;
  result: Result;
  reason: Reason;
  /** The event is a physical crossing (passage.ts, `isCrossing`). */
  crossed: boolean;
  /** The person was flagged elderly when the event was stored. */
  elderly: boolean;
  count: number;
}

/** The same counter without the gate: what the compound-wide summary and hourly series read. */
export type CompoundHourlyCount = Omit<HourlyCount, 'gateId'>;

/** The compound-wide counter of a whole local day (the `day` of its hours): long windows read these. */
export type CompoundDailyCount = Omit<CompoundHourlyCount, 'bucketStart' | 'label'>;

/**
 * The first and last hour bucket counted under a compound's local day. A statistics window uses a
 * day's daily counters only when the whole span lies inside it (analytics-store.ts `outcomeTotals`).
 */
export interface DaySpan {
  compoundId: string;
  day: string;
  firstBucket: number;
  lastBucket: number;
}

/** The persons who crossed a gate of the compound on that local day (each once). */
export interface DailyPersons {
  compoundId: string;
  day: string;
  personIds: Set<string>;
}

/** Crossings in and out per compound and local day (for the occupancy estimate). */
export interface DailyFlow {
  compoundId: string;
  day: string;
  crossedIn: number;
  crossedOut: number;
}

export interface RollupDelta {
  hourly: HourlyCount[];
  compoundHourly: CompoundHourlyCount[];
  persons: DailyPersons[];
  flows: DailyFlow[];
}

export interface RollupEvent {
  gateId: string;
  ts: number;
  direction: Direction;
  method: Method;
  result: Result;
  reason: Reason;
  passed: boolean | null;
  personId?: string | undefined;
}

export interface RollupContext {
  compoundOf: (gateId: string) => string;
  timeZoneOf: (compoundId: string) => string;
  isElderly: (personId: string) => boolean;
}

/**
 * Local hours by 15-minute slot of UTC: every zone offset and every change of one is a multiple of
 * 15 minutes, so all instants of a slot share their local hour. A batch spans a few slots.
 */
class HourBySlot {
  private readonly hours = new Map<string, Map<number, LocalHour>>();

  of(ts: number, timeZone: string): LocalHour {
    let zone = this.hours.get(timeZone);
    if (!zone) {
      zone = new Map();
      this.hours.set(timeZone, zone);
    }
    const slot = Math.floor(ts / 900_000);
    let hour = zone.get(slot);
    if (!hour) {
      hour = localHourOf(ts, timeZone);
      zone.set(slot, hour);
    }
    return hour;
  }
}

/**
 * Folds a batch into counter deltas; one row per distinct key. The hot loop of the rollup hook (it
 * runs for every stored passage): keys are built as one template string, local hours come from a
 * slot cache, a gate's compound and zone are looked up again only when the gate changes.
 */
export function rollupDelta(events: readonly RollupEvent[], context: RollupContext): RollupDelta {
  const hourly = new Map<string, HourlyCount>();
  const persons = new Map<string, DailyPersons>();
  const flows = new Map<string, DailyFlow>();
  const hours = new HourBySlot();
  let gateId = '';
  let compoundId = '';
  let zone = '';
  for (const e of events) {
    if (e.gateId !== gateId) {
      gateId = e.gateId;
      compoundId = context.compoundOf(gateId);
      zone = context.timeZoneOf(compoundId);
    }
    const hour = hours.of(e.ts, zone);
    const crossed = isCrossing(e);
    const elderly = e.personId !== undefined && context.isElderly(e.personId);
    const key = `${compoundId}\u0000${hour.start}\u0000${gateId}\u0000${e.direction}\u0000${e.method}\u0000${e.result}\u0000${e.reason}\u0000${crossed ? 1 : 0}${elderly ? 1 : 0}`;
    const row = hourly.get(key);
    if (row) {
      row.count += 1;
    } else {
      hourly.set(key, {
        compoundId,
        bucketStart: hour.start,
        label: hour.label,
        day: hour.day,
        gateId,
        direction: e.direction,
        method: e.method,
        result: e.result,
        reason: e.reason,
        crossed,
        elderly,
        count: 1,
      });
    }
    if (!crossed) continue;
    const dayKey = `${compoundId}\u0000${hour.day}`;
    let flow = flows.get(dayKey);
    if (!flow) {
      flow = { compoundId, day: hour.day, crossedIn: 0, crossedOut: 0 };
      flows.set(dayKey, flow);
    }
    if (e.direction === 'in') flow.crossedIn += 1;
    else flow.crossedOut += 1;
    if (e.personId !== undefined) {
      let day = persons.get(dayKey);
      if (!day) {
        day = { compoundId, day: hour.day, personIds: new Set() };
        persons.set(dayKey, day);
      }
      day.personIds.add(e.personId);
    }
  }
  return {
    hourly: [...hourly.values()],
    compoundHourly: compoundHourlyOf(hourly.values()),
    persons: [...persons.values()],
    flows: [...flows.values()],
  };
}

/** The per-gate counters summed over the gates of their compound. */
function compoundHourlyOf(hourly: Iterable<HourlyCount>): CompoundHourlyCount[] {
  const compoundHourly = new Map<string, CompoundHourlyCount>();
  for (const { gateId: _gate, ...row } of hourly) {
    const key = [
      row.compoundId,
      row.bucketStart,
      row.direction,
      row.method,
      row.result,
      row.reason,
      row.crossed,
      row.elderly,
    ].join('\u0000');
    const existing = compoundHourly.get(key);
    if (existing) existing.count += row.count;
    else compoundHourly.set(key, { ...row });
  }
  return [...compoundHourly.values()];
}

/**
 * The compound's daily counters and day spans that a set of compound-hourly counters adds. The
 * writer passes each hour with the `day` its stored row carries: an hour first counted under
 * another time zone keeps that day, and its daily counter must follow it, so the days always sum
 * their hours exactly (analytics migration 3 derives them the same way).
 */
export function dailyCountersOf(rows: readonly CompoundHourlyCount[]): {
  compoundDaily: CompoundDailyCount[];
  spans: DaySpan[];
} {
  const compoundDaily = new Map<string, CompoundDailyCount>();
  const spans = new Map<string, DaySpan>();
  for (const { bucketStart, label: _label, ...row } of rows) {
    const dayKey = `${row.compoundId}\u0000${row.day}`;
    const key = [dayKey, row.direction, row.method, row.result, row.reason, row.crossed, row.elderly].join('\u0000');
    const existing = compoundDaily.get(key);
    if (existing) existing.count += row.count;
    else compoundDaily.set(key, { ...row });
    const span = spans.get(dayKey);
    if (!span) {
      spans.set(dayKey, {
        compoundId: row.compoundId,
        day: row.day,
        firstBucket: bucketStart,
        lastBucket: bucketStart,
      });
    } else {
      span.firstBucket = Math.min(span.firstBucket, bucketStart);
      span.lastBucket = Math.max(span.lastBucket, bucketStart);
    }
  }
  return { compoundDaily: [...compoundDaily.values()], spans: [...spans.values()] };
}

/**
 * Retention of the day person sets: the last local day whose persons may be forgotten when the
 * passages before `beforeMs` are. A day is dropped only once it ended before the horizon in every
 * time zone (UTC+14 at the latest), so no kept passage loses its row.
 */
export function lastDayToForget(beforeMs: number): string {
  return new Date(beforeMs - 2 * 86_400_000).toISOString().slice(0, 10);
}
