/**
 * Statistics rollups, pure: what a batch of newly stored events adds to the hourly counters and
 * the per-day tables (docs/tracing.md, "Statistics rollups"). The writer (rollup-writer.ts) adds
 * these deltas to SQLite inside the ingest transaction, so a statistics query reads counters
 * whose number grows with hours and gates, never with passages.
 */
import {
  DIRECTIONS,
  type Direction,
  METHODS,
  type Method,
  REASONS,
  type Reason,
  RESULTS,
  type Result,
} from '../../shared/enums.ts';
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

/** Small integer codes of the enum fields: the fold's counter key is a number, not a string. */
const codesOf = (values: readonly string[]) => new Map(values.map((value, i) => [value, i]));
const DIRECTION_CODES = codesOf(DIRECTIONS);
const METHOD_CODES = codesOf(METHODS);
const RESULT_CODES = codesOf(RESULTS);
const REASON_CODES = codesOf(REASONS);

/**
 * The key of an event's counter among the counters of its gate and hour: its outcome fields as one
 * small integer. A value outside the enums (an old row read back by a rebuild) gets a string key.
 */
function outcomeKey(e: RollupEvent, crossed: boolean, elderly: boolean): number | string {
  const direction = DIRECTION_CODES.get(e.direction);
  const method = METHOD_CODES.get(e.method);
  const result = RESULT_CODES.get(e.result);
  const reason = REASON_CODES.get(e.reason);
  if (direction === undefined || method === undefined || result === undefined || reason === undefined) {
    return `${e.direction}\u0000${e.method}\u0000${e.result}\u0000${e.reason}\u0000${crossed ? 1 : 0}${elderly ? 1 : 0}`;
  }
  return (
    ((((reason * METHODS.length + method) * RESULTS.length + result) * DIRECTIONS.length + direction) * 2 +
      (crossed ? 1 : 0)) *
      2 +
    (elderly ? 1 : 0)
  );
}

/** What a compound's local day adds, created at its first crossing. */
interface DayTotals {
  flow: DailyFlow | undefined;
  persons: DailyPersons | undefined;
}

/** A local hour of a compound, and the day it belongs to. */
interface CompoundHour {
  hour: LocalHour;
  day: DayTotals;
}

/**
 * A compound in the fold: its zone, and its local hours by 15-minute slot of UTC — every zone
 * offset and every change of one is a multiple of 15 minutes, so all instants of a slot share their
 * local hour. A batch spans a few slots.
 */
class CompoundFold {
  private readonly slots = new Map<number, CompoundHour>();
  private readonly days = new Map<string, DayTotals>();

  constructor(
    readonly compoundId: string,
    private readonly zone: string,
  ) {}

  hourOf(slot: number): CompoundHour {
    let hour = this.slots.get(slot);
    if (!hour) {
      const local = localHourOf(slot * SLOT_MS, this.zone);
      let day = this.days.get(local.day);
      if (!day) {
        day = { flow: undefined, persons: undefined };
        this.days.set(local.day, day);
      }
      hour = { hour: local, day };
      this.slots.set(slot, hour);
    }
    return hour;
  }
}

/** A gate's counters of one local hour, by outcome key. */
interface GateHour {
  compound: CompoundHour;
  counters: Map<number | string, HourlyCount>;
}

/** A gate in the fold: its compound, and its hours by slot (two slots of one hour share theirs). */
interface GateFold {
  compound: CompoundFold;
  slots: Map<number, GateHour>;
  hours: Map<number, GateHour>;
}

const SLOT_MS = 900_000;

/** A gate seen first in this batch, with its compound (one per compound, shared by its gates). */
function newGateFold(
  gates: Map<string, GateFold>,
  compounds: Map<string, CompoundFold>,
  gateId: string,
  context: RollupContext,
): GateFold {
  const compoundId = context.compoundOf(gateId);
  let compound = compounds.get(compoundId);
  if (!compound) {
    compound = new CompoundFold(compoundId, context.timeZoneOf(compoundId));
    compounds.set(compoundId, compound);
  }
  const gate: GateFold = { compound, slots: new Map(), hours: new Map() };
  gates.set(gateId, gate);
  return gate;
}

/** The gate's counters of the hour of `slot`, a slot of the gate seen first now. */
function gateHourOf(gate: GateFold, slot: number): GateHour {
  const compoundHour = gate.compound.hourOf(slot);
  let gateHour = gate.hours.get(compoundHour.hour.start);
  if (!gateHour) {
    gateHour = { compound: compoundHour, counters: new Map() };
    gate.hours.set(compoundHour.hour.start, gateHour);
  }
  gate.slots.set(slot, gateHour);
  return gateHour;
}

/**
 * Folds a batch into counter deltas; one row per distinct key, in the order of their first event.
 * The hot loop of the rollup hook (it runs for every stored passage): per event, a look-up of its
 * gate (none when it is the previous event's), of its 15-minute slot among the gate's, and of its
 * outcome among the counters of that gate and hour — keyed by a small integer, no string is built.
 */
export function rollupDelta(events: readonly RollupEvent[], context: RollupContext): RollupDelta {
  const hourly: HourlyCount[] = [];
  const persons: DailyPersons[] = [];
  const flows: DailyFlow[] = [];
  const gates = new Map<string, GateFold>();
  const compounds = new Map<string, CompoundFold>();
  let gateId = '';
  let gate: GateFold | undefined;
  for (const e of events) {
    if (e.gateId !== gateId || gate === undefined) {
      gateId = e.gateId;
      gate = gates.get(gateId) ?? newGateFold(gates, compounds, gateId, context);
    }
    const slot = Math.floor(e.ts / SLOT_MS);
    const gateHour = gate.slots.get(slot) ?? gateHourOf(gate, slot);
    const crossed = isCrossing(e);
    const elderly = e.personId !== undefined && context.isElderly(e.personId);
    const key = outcomeKey(e, crossed, elderly);
    const row = gateHour.counters.get(key);
    if (row) {
      row.count += 1;
    } else {
      const { hour } = gateHour.compound;
      const counter: HourlyCount = {
        compoundId: gate.compound.compoundId,
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
      };
      gateHour.counters.set(key, counter);
      hourly.push(counter);
    }
    if (!crossed) continue;
    const { day, hour } = gateHour.compound;
    let flow = day.flow;
    if (!flow) {
      flow = { compoundId: gate.compound.compoundId, day: hour.day, crossedIn: 0, crossedOut: 0 };
      day.flow = flow;
      flows.push(flow);
    }
    if (e.direction === 'in') flow.crossedIn += 1;
    else flow.crossedOut += 1;
    if (e.personId !== undefined) {
      let dayPersons = day.persons;
      if (!dayPersons) {
        dayPersons = { compoundId: gate.compound.compoundId, day: hour.day, personIds: new Set() };
        day.persons = dayPersons;
        persons.push(dayPersons);
      }
      dayPersons.personIds.add(e.personId);
    }
  }
  return { hourly, compoundHourly: compoundHourlyOf(hourly), persons, flows };
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
