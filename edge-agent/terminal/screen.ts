/**
 * The public result screen's view of the gate (`GET /api/screen`, `GET /api/screen/events`): the
 * one result a person in front of the gate needs, and the banners. No list of scans, no alarms,
 * no devices, no journal: those are the guard panel's (terminal-app.ts).
 *
 * The browser holds each result at least `holdMs` and returns to the idle screen `clearMs` after
 * it was shown, queueing results per lane (assets/screen.js; docs/edge-agent.md "The terminal").
 */
import type { Direction, HealthColour, Mode, Result } from '../../shared/enums.ts';
import type { GateRole } from '../../shared/schemas/mqtt.ts';
import type { ScreenRound } from '../supply/gate-role.ts';
import { HEALTH_TEXT, type ScreenColour, type ScreenIcon, type ScreenTone } from '../reason-text.ts';
import type { ScanReason, TerminalScan, TerminalState } from './terminal-state.ts';

export interface ScreenResult {
  key: number;
  ts: number;
  lane: Direction;
  result: Result;
  /** The decision's reason code, or a distribution point's refusal (`ScanReason`). */
  reason: ScanReason;
  tone: ScreenTone;
  colour: ScreenColour;
  icon: ScreenIcon;
  zh: string;
  en: string;
  nextZh: string;
  nextEn: string;
  /** The health code: the secondary line, never the screen's colour. */
  health: HealthColour;
  healthZh: string;
  healthEn: string;
  maskedName: string | null;
  /** `waiting` for the turnstile, `passed`, `not-passed` (timed out), or null (not applicable). */
  passage: 'waiting' | 'passed' | 'not-passed' | null;
  /**
   * At a distribution point: the verdict and the household's allocation, item by item (the
   * colour still follows the tone: green only for *hand out*). No household id, no person id.
   */
  supply?: {
    verdict: 'hand-out' | 'refused' | 'asking';
    roundName: string | null;
    items: { name: string; unit: string; quantity: number }[];
  };
}

export interface ScreenSettings {
  /** The lanes the screen has (one result area each), in display order. */
  lanes: Direction[];
  holdMs: number;
  clearMs: number;
}

export interface ScreenState extends ScreenSettings {
  mode: Mode;
  online: boolean;
  stale: boolean;
  fire: boolean;
  /** The turnstile is configured but not working: the screen says so. */
  turnstileFault: boolean;
  /** What this gate calls each direction (the cloud's gate settings); null: 进 In / 出 Out. */
  labels: { in: string; out: string } | null;
  /** The gate's clock, so the page can age the results of a snapshot. */
  now: number;
  /** `distribution`: the screen says it is a supply distribution point (docs/supplies.md). */
  role: GateRole;
  /** At a distribution point: the round running now, else the next one; null when none. */
  round: ScreenRound | null;
}

export function screenResultOf(scan: TerminalScan, lanes: readonly Direction[]): ScreenResult {
  const health = HEALTH_TEXT[scan.health];
  return {
    key: scan.key,
    ts: scan.ts,
    lane: lanes.includes(scan.direction) ? scan.direction : lanes[0]!,
    result: scan.result,
    reason: scan.reason,
    tone: scan.tone,
    colour: scan.colour,
    icon: scan.icon,
    zh: scan.zh,
    en: scan.en,
    nextZh: scan.nextZh,
    nextEn: scan.nextEn,
    health: scan.health,
    healthZh: health.zh,
    healthEn: health.en,
    maskedName: scan.maskedName,
    passage: scan.waiting ? 'waiting' : scan.passed === true ? 'passed' : scan.passed === false ? 'not-passed' : null,
    ...(scan.supply
      ? {
          supply: {
            verdict: scan.supply.verdict,
            roundName: scan.supply.allocation?.roundName ?? null,
            items: scan.supply.allocation?.items ?? [],
          },
        }
      : {}),
  };
}

export function screenStateOf(
  state: Omit<TerminalState, 'lastScans' | 'alarms'>,
  settings: ScreenSettings,
  now: number,
): ScreenState {
  return {
    ...settings,
    mode: state.mode,
    online: state.online,
    stale: state.stale,
    fire: state.fire,
    turnstileFault: state.devices.turnstile === 'fault',
    labels: state.labels ?? null,
    now,
    role: state.role?.role ?? 'entry',
    round: state.round ?? null,
  };
}

/** The results a screen that (re)connects should show: per lane, the newest one younger than `clearMs`. */
export function currentResults(scans: readonly TerminalScan[], settings: ScreenSettings, now: number): ScreenResult[] {
  const shown = new Map<Direction, ScreenResult>();
  for (const scan of scans) {
    if (now - scan.ts >= settings.clearMs) continue;
    const result = screenResultOf(scan, settings.lanes);
    if (!shown.has(result.lane)) shown.set(result.lane, result);
  }
  return [...shown.values()];
}
