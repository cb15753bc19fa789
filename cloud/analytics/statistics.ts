/**
 * The manager's statistics (docs/contract.md, `GET /stats/*`), read from the rollups only: the cost of a
 * query grows with the hours, days and gates of its window, never with the passages stored.
 * A window is widened to whole local hours of the compound's time zone (docs/tracing.md).
 */
import { NotFoundError } from '../cloud-errors.ts';
import type { CloudStore } from '../store/store.ts';
import type { AnalyticsStore } from './analytics-store.ts';
import {
  type GateStats,
  gateTable,
  type HourlyPoint,
  hourlySeriesOfTotals,
  type StatsSummary,
  summarizeTotals,
} from './summary.ts';
import {
  DEFAULT_TIME_ZONE,
  isValidTimeZone,
  type LocalHour,
  localDaysBetween,
  localHourOf,
  localHoursBetween,
} from './time-zone.ts';
import { uptimeOf } from './uptime.ts';

const HOUR_MS = 3_600_000;

export type StatsRegistry = Pick<CloudStore, 'getCompound' | 'listGates' | 'statusHistory' | 'latestStatuses'>;

export interface StatsDeps {
  analytics: AnalyticsStore;
  registry: StatsRegistry;
  now: () => number;
}

export interface StatsWindow {
  compoundId: string;
  timeZone: string;
  /** The requested instants widened to whole local hours: `[from, to)`. */
  from: number;
  to: number;
  fromLabel: string;
  toLabel: string;
}

interface ResolvedWindow {
  window: StatsWindow;
  hours: LocalHour[];
}

async function resolveWindow(deps: StatsDeps, compoundId: string, from: number, to: number): Promise<ResolvedWindow> {
  const compound = await deps.registry.getCompound(compoundId);
  if (!compound) throw new NotFoundError('compound', compoundId);
  const timeZone = isValidTimeZone(compound.timeZone) ? compound.timeZone : DEFAULT_TIME_ZONE;
  const hours = localHoursBetween(from, to, timeZone);
  const first = localHourOf(from, timeZone);
  const end = hours.length > 0 ? localHourOf(hours[hours.length - 1]!.start + HOUR_MS, timeZone) : first;
  return {
    window: { compoundId, timeZone, from: first.start, to: end.start, fromLabel: first.label, toLabel: end.label },
    hours,
  };
}

export async function statsSummary(
  deps: StatsDeps,
  compoundId: string,
  from: number,
  to: number,
): Promise<StatsWindow & StatsSummary> {
  const { window } = await resolveWindow(deps, compoundId, from, to);
  const totals = await deps.analytics.outcomeTotals(compoundId, window.from, window.to);
  const peakHour = await deps.analytics.peakHour(compoundId, window.from, window.to);
  const days = localDaysBetween(window.from, window.to, window.timeZone);
  const persons =
    days.length === 0 ? [] : await deps.analytics.personsPerDay(compoundId, days[0]!, days[days.length - 1]!);
  const netBefore = await deps.analytics.netCrossingsBefore(
    compoundId,
    localHourOf(window.from, window.timeZone).day,
    window.from,
  );
  return { ...window, ...summarizeTotals({ totals, peakHour, uniquePersonsPerDay: persons, netBefore }) };
}

export async function statsHourly(
  deps: StatsDeps,
  compoundId: string,
  from: number,
  to: number,
): Promise<StatsWindow & { hours: HourlyPoint[] }> {
  const { window, hours } = await resolveWindow(deps, compoundId, from, to);
  const totals = await deps.analytics.hourTotals(compoundId, window.from, window.to);
  return { ...window, hours: hourlySeriesOfTotals(hours, totals) };
}

export interface GateStatsView extends GateStats {
  /** The gate's latest reported status; null when it never reported. */
  online: boolean | null;
}

export async function statsGates(
  deps: StatsDeps,
  compoundId: string,
  from: number,
  to: number,
): Promise<StatsWindow & { gates: GateStatsView[] }> {
  const { window } = await resolveWindow(deps, compoundId, from, to);
  const rows = await deps.analytics.gateRows(compoundId, window.from, window.to);
  const gates = await deps.registry.listGates(compoundId);
  const now = deps.now();
  const uptimes = new Map<string, ReturnType<typeof uptimeOf>>();
  for (const gate of gates) {
    // History rows are written only when `online` or the mode changes, so reading from 0 is cheap.
    const history = await deps.registry.statusHistory(gate.id, 0, window.to);
    uptimes.set(gate.id, uptimeOf(history, window.from, window.to, now));
  }
  const latest = new Map((await deps.registry.latestStatuses(compoundId)).map((s) => [s.gateId, s.status.online]));
  const table = gateTable(gates, rows, (gateId) => uptimes.get(gateId)!);
  return { ...window, gates: table.map((g) => ({ ...g, online: latest.get(g.gateId) ?? null })) };
}
