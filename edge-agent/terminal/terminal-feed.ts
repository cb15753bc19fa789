/**
 * The terminal's live side of the agent: the last scans as the guard panel lists them, and the
 * listeners (SSE streams) told of every scan, alarm and state change. A scan's row is replaced,
 * not repeated, when its passage is confirmed (waiting → passed).
 */
import type { Logger } from '../../shared/log.ts';
import type { EntryEvent } from '../../shared/schemas/mqtt.ts';
import type { Decision } from '../decision.ts';
import { REASON_TEXT, TONE_COLOUR, TONE_ICON, TURNSTILE_FAULT_TEXT } from '../reason-text.ts';
import type { TerminalScan, TerminalUpdate } from './terminal-state.ts';

const RECENT_SCANS = 20;

export class TerminalFeed {
  private readonly scans: TerminalScan[] = [];
  private readonly listeners = new Set<(update: TerminalUpdate) => void>();
  private lastKey = 0;

  constructor(private readonly log: Logger) {}

  /** This process's number for a new scan row. */
  nextKey(): number {
    this.lastKey += 1;
    return this.lastKey;
  }

  /** The newest scans first. */
  get lastScans(): TerminalScan[] {
    return [...this.scans];
  }

  subscribe(listener: (update: TerminalUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  notify(update: TerminalUpdate): void {
    for (const listener of this.listeners) {
      try {
        listener(update);
      } catch (error) {
        this.log.warn({ err: (error as Error).message }, 'terminal listener failed');
      }
    }
  }

  /** Adds a scan, or replaces the row with the same key, and tells the listeners. */
  push(scan: TerminalScan): void {
    const index = this.scans.findIndex((s) => s.key === scan.key);
    if (index >= 0) this.scans[index] = scan;
    else {
      this.scans.unshift(scan);
      this.scans.length = Math.min(this.scans.length, RECENT_SCANS);
    }
    this.notify({ type: 'scan', scan });
  }

  clear(): void {
    this.listeners.clear();
  }
}

/**
 * The row of a decision. A grant with a configured turnstile that is not working must not read
 * as "go": it shows the turnstile-fault text instead.
 */
export function scanOf(
  key: number,
  decision: Decision,
  event: EntryEvent | undefined,
  at: { waiting: boolean; turnstileDown: boolean; now: number },
): TerminalScan {
  const turnstileDown = decision.result === 'granted' && at.turnstileDown;
  const fault = TURNSTILE_FAULT_TEXT;
  const display = turnstileDown
    ? { ...fault, colour: TONE_COLOUR[fault.tone], icon: TONE_ICON[fault.tone] }
    : decision.display;
  return {
    key,
    seq: event?.seq ?? null,
    ts: event?.ts ?? at.now,
    direction: decision.direction,
    method: decision.method,
    result: decision.result,
    reason: decision.reason,
    health: decision.health,
    tone: display.tone,
    colour: display.colour,
    icon: display.icon,
    maskedName: decision.display.maskedName,
    zh: display.zh,
    en: display.en,
    nextZh: display.nextZh,
    nextEn: display.nextEn,
    passed: event?.passed ?? null,
    waiting: at.waiting,
    ...(decision.guard ? { guard: decision.guard } : {}),
    ...(decision.openReason ? { openReason: decision.openReason } : {}),
  };
}

/** The row of a passage the turnstile let through on its own (free passage, fire). */
export function freePassageScan(key: number, event: EntryEvent): TerminalScan {
  const text = REASON_TEXT['free-passage'];
  return {
    seq: event.seq,
    ts: event.ts,
    direction: event.direction,
    method: event.method,
    result: event.result,
    reason: event.reason,
    health: event.health,
    passed: event.passed,
    ...(event.guard ? { guard: event.guard } : {}),
    key,
    ...text,
    colour: TONE_COLOUR[text.tone],
    icon: TONE_ICON[text.tone],
    maskedName: null,
    waiting: false,
  };
}
