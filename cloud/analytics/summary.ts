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

/** A compound-wide counter summed over the hours of a window: one per outcome. */
export type OutcomeTotal = Omit<HourlyRow, 'bucketStart' | 'label' | 'day'>;

/**
 * What the summary needs of the window's counters, aggregated (by the store in SQL, or by
 * `outcomeTotalsOf`/`peakHourOf` from the hourly rows).
 */
export interface SummaryTotals {
  totals: readonly OutcomeTotal[];
  peakHour: PeakHour | null;
  uniquePersonsPerDay: readonly { day: string; persons: number }[];
  /** crossings in − out stored before the window. */
  netBefore: number;
}

export interface SummaryInput {
  rows: readonly HourlyRow[];
  uniquePersonsPerDay: readonly { day: string; persons: number }[];
  /** crossings in − out stored before the window. */
  netBefore: number;
}

const outcomeKey = (r: OutcomeTotal) =>
  `${r.direction}\u0000${r.method}\u0000${r.result}\u0000${r.reason}\u0000${r.crossed}\u0000${r.elderly}`;

/** The hourly rows summed over their hours, one total per outcome (what the SQL `GROUP BY` answers). */
export function outcomeTotalsOf(rows: readonly HourlyRow[]): OutcomeTotal[] {
  const totals = new Map<string, OutcomeTotal>();
  for (const row of rows) {
    const key = outcomeKey(row);
    const total = totals.get(key);
    if (total) {
      total.count += row.count;
    } else {
      const { direction, method, result, reason, crossed, elderly, count } = row;
      totals.set(key, { direction, method, result, reason, crossed, elderly, count });
    }
  }
  return [...totals.values()];
}

/** The hour with the most crossings, the earliest on a tie; its label is the one of its first crossed row. */
export function peakHourOf(rows: readonly HourlyRow[]): PeakHour | null {
  const perHour = new Map<number, PeakHour>();
  for (const row of rows) {
    if (!row.crossed) continue;
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
  return peakHour;
}

/** The summary from the hourly rows (folded here); `summarizeTotals` is the same from aggregated totals. */
export function summarize(input: SummaryInput): StatsSummary {
  return summarizeTotals({
    totals: outcomeTotalsOf(input.rows),
    peakHour: peakHourOf(input.rows),
    uniquePersonsPerDay: input.uniquePersonsPerDay,
    netBefore: input.netBefore,
  });
}

export function summarizeTotals(input: SummaryTotals): StatsSummary {
  const passages = { total: 0, in: 0, out: 0 };
  const crossings = { in: 0, out: 0 };
  const granted = emptyCounts();
  const denied = emptyCounts();
  let elderlyIdcard = 0;
  let idcard = 0;
  for (const row of input.totals) {
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
  }
  const all = crossings.in + crossings.out;
  const netChange = crossings.in - crossings.out;
  return {
    passages,
    crossings,
    granted: sortedReasons(granted),
    denied: sortedReasons(denied),
    uniquePersonsPerDay: [...input.uniquePersonsPerDay].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0)),
    peakHour: input.peakHour,
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

/**
 * The hourly rows summed per hour that has any (what the SQL `GROUP BY bucket_start` answers); an
 * hour's label is the one of its first row.
 */
export function hourTotalsOf(rows: readonly HourlyRow[]): HourlyPoint[] {
  const points = new Map<number, HourlyPoint>();
  for (const row of rows) {
    let p = points.get(row.bucketStart);
    if (!p) {
      p = { start: row.bucketStart, label: row.label, crossingsIn: 0, crossingsOut: 0, granted: 0, denied: 0 };
      points.set(row.bucketStart, p);
    }
    p[row.result] += row.count;
    if (row.crossed) {
      if (row.direction === 'in') p.crossingsIn += row.count;
      else p.crossingsOut += row.count;
    }
  }
  return [...points.values()].sort((a, b) => a.start - b.start);
}

/** One point per local hour of the window (zeros included), plus any counted hour outside the list. */
export function hourlySeries(hours: readonly LocalHour[], rows: readonly HourlyRow[]): HourlyPoint[] {
  return hourlySeriesOfTotals(hours, hourTotalsOf(rows));
}

/** `hourlySeries` from the per-hour totals: the window's labels win, the totals' only for hours outside it. */
export function hourlySeriesOfTotals(hours: readonly LocalHour[], totals: readonly HourlyPoint[]): HourlyPoint[] {
  const points = new Map<number, HourlyPoint>();
  for (const h of hours) {
    points.set(h.start, { start: h.start, label: h.label, crossingsIn: 0, crossingsOut: 0, granted: 0, denied: 0 });
  }
  for (const t of totals) {
    const p = points.get(t.start);
    if (!p) {
      points.set(t.start, { ...t });
      continue;
    }
    p.crossingsIn += t.crossingsIn;
    p.crossingsOut += t.crossingsOut;
    p.granted += t.granted;
    p.denied += t.denied;
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
