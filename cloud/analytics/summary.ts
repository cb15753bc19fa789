/**
 * Statistics arithmetic, pure: the manager's summary, hourly series and per-gate table from the
 * hourly rollup counters (rollup.ts). Definitions are in docs/tracing.md, "Statistics".
 */
import { METHODS, type Method, type Reason } from '../../shared/enums.ts';
import type { CompoundHourlyCount, HourlyCount } from './rollup.ts';
import type { LocalHour } from './time-zone.ts';
import type { Uptime } from './uptime.ts';

/** A compound-wide hourly counter as read back (the compound is implied). */
export type HourlyRow = Omit<CompoundHourlyCount, 'compoundId'>;

/** A gate's counters summed over a window. */
export type GateRow = Pick<HourlyCount, 'gateId' | 'direction' | 'method' | 'result' | 'reason' | 'crossed' | 'count'>;

export interface DecisionCounts {
  total: number;
  /** Only the reasons that occurred, keys sorted. */
  byReason: Partial<Record<Reason, number>>;
  /** Every method, zero when absent. */
  byMethod: Record<Method, number>;
}

export interface ElderlyIdCardShare {
  /** Crossings by ID card of persons flagged elderly. */
  elderlyIdcardCrossings: number;
  /** Crossings by ID card of anyone. */
  idcardCrossings: number;
  /** Every crossing. */
  allCrossings: number;
  /** elderlyIdcardCrossings / idcardCrossings; null when there was no ID-card crossing. */
  shareOfIdcard: number | null;
  /** elderlyIdcardCrossings / allCrossings; null when there was no crossing. */
  shareOfAll: number | null;
}

export interface PeakHour {
  start: number;
  label: string;
  crossings: number;
}

export interface StatsSummary {
  /** Every decided event (attempts), by direction. */
  passages: { total: number; in: number; out: number };
  /** Granted events that were physical crossings (passage.ts, `isCrossing`). */
  crossings: { in: number; out: number };
  granted: DecisionCounts;
  denied: DecisionCounts;
  uniquePersonsPerDay: { day: string; persons: number }[];
  /** The hour with the most crossings (the earliest on a tie); null without any. */
  peakHour: PeakHour | null;
  occupancy: {
    /** crossings in − out within the window. */
    netChange: number;
    /** crossings in − out of everything stored up to the end of the window. */
    estimate: number;
  };
  elderlyIdCard: ElderlyIdCardShare;
}

function emptyCounts(): DecisionCounts {
  return { total: 0, byReason: {}, byMethod: Object.fromEntries(METHODS.map((m) => [m, 0])) as Record<Method, number> };
}

function sortedReasons(counts: DecisionCounts): DecisionCounts {
  const byReason: Partial<Record<Reason, number>> = {};
  for (const reason of (Object.keys(counts.byReason) as Reason[]).sort()) byReason[reason] = counts.byReason[reason]!;
  return { ...counts, byReason };
}

function ratio(part: number, whole: number): number | null {
  return whole === 0 ? null : part / whole;
}

export interface SummaryInput {
  rows: readonly HourlyRow[];
  uniquePersonsPerDay: readonly { day: string; persons: number }[];
  /** crossings in − out stored before the window. */
  netBefore: number;
}

export function summarize(input: SummaryInput): StatsSummary {
  const passages = { total: 0, in: 0, out: 0 };
  const crossings = { in: 0, out: 0 };
  const granted = emptyCounts();
  const denied = emptyCounts();
  const perHour = new Map<number, PeakHour>();
  let elderlyIdcard = 0;
  let idcard = 0;
  for (const row of input.rows) {
    passages.total += row.count;
    passages[row.direction] += row.count;
    const counts = row.result === 'granted' ? granted : denied;
    counts.total += row.count;
    counts.byReason[row.reason] = (counts.byReason[row.reason] ?? 0) + row.count;
    counts.byMethod[row.method] += row.count;
    if (!row.crossed) continue;
    crossings[row.direction] += row.count;
    if (row.method === 'idcard') {
      idcard += row.count;
      if (row.elderly) elderlyIdcard += row.count;
    }
    const hour = perHour.get(row.bucketStart) ?? { start: row.bucketStart, label: row.label, crossings: 0 };
    hour.crossings += row.count;
    perHour.set(row.bucketStart, hour);
  }
  let peakHour: PeakHour | null = null;
  for (const hour of perHour.values()) {
    if (
      !peakHour ||
      hour.crossings > peakHour.crossings ||
      (hour.crossings === peakHour.crossings && hour.start < peakHour.start)
    ) {
      peakHour = hour;
    }
  }
  const all = crossings.in + crossings.out;
  const netChange = crossings.in - crossings.out;
  return {
    passages,
    crossings,
    granted: sortedReasons(granted),
    denied: sortedReasons(denied),
    uniquePersonsPerDay: [...input.uniquePersonsPerDay].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0)),
    peakHour,
    occupancy: { netChange, estimate: input.netBefore + netChange },
    elderlyIdCard: {
      elderlyIdcardCrossings: elderlyIdcard,
      idcardCrossings: idcard,
      allCrossings: all,
      shareOfIdcard: ratio(elderlyIdcard, idcard),
      shareOfAll: ratio(elderlyIdcard, all),
    },
  };
}

export interface HourlyPoint {
  start: number;
  label: string;
  crossingsIn: number;
  crossingsOut: number;
  granted: number;
  denied: number;
}

/** One point per local hour of the window (zeros included), plus any counted hour outside the list. */
export function hourlySeries(hours: readonly LocalHour[], rows: readonly HourlyRow[]): HourlyPoint[] {
  const points = new Map<number, HourlyPoint>();
  const pointOf = (start: number, label: string) => {
    let p = points.get(start);
    if (!p) {
      p = { start, label, crossingsIn: 0, crossingsOut: 0, granted: 0, denied: 0 };
      points.set(start, p);
    }
    return p;
  };
  for (const h of hours) pointOf(h.start, h.label);
  for (const row of rows) {
    const p = pointOf(row.bucketStart, row.label);
    p[row.result] += row.count;
    if (row.crossed) {
      if (row.direction === 'in') p.crossingsIn += row.count;
      else p.crossingsOut += row.count;
    }
  }
  return [...points.values()].sort((a, b) => a.start - b.start);
}

export interface GateStats {
  gateId: string;
  name: string;
  crossings: { in: number; out: number };
  granted: DecisionCounts;
  denied: DecisionCounts;
  uptime: Uptime;
}

/** Per gate of the compound (gates without traffic included), in the order given. */
export function gateTable(
  gates: readonly { id: string; name: string }[],
  rows: readonly GateRow[],
  uptimeOfGate: (gateId: string) => Uptime,
): GateStats[] {
  const stats = new Map<string, GateStats>();
  for (const gate of gates) {
    stats.set(gate.id, {
      gateId: gate.id,
      name: gate.name,
      crossings: { in: 0, out: 0 },
      granted: emptyCounts(),
      denied: emptyCounts(),
      uptime: uptimeOfGate(gate.id),
    });
  }
  for (const row of rows) {
    const s = stats.get(row.gateId);
    if (!s) continue;
    const counts = row.result === 'granted' ? s.granted : s.denied;
    counts.total += row.count;
    counts.byReason[row.reason] = (counts.byReason[row.reason] ?? 0) + row.count;
    counts.byMethod[row.method] += row.count;
    if (row.crossed) s.crossings[row.direction] += row.count;
  }
  return [...stats.values()].map((s) => ({ ...s, granted: sortedReasons(s.granted), denied: sortedReasons(s.denied) }));
}
