/**
 * Drives the turnstile behind an OSDP I/O board (docs/devices.md §4) and reads its inputs.
 *
 * - A grant unlocks the turnstile in the person's direction and waits for the matching "passed"
 *   input: true when it comes, false when `passageTimeoutMs` passes first (the turnstile relocks).
 *   Grants queue per direction; each passed input confirms the oldest one.
 * - A passed input with no grant waiting is tailgating when it follows a confirmed passage in the
 *   same direction within `tailgateWindowMs`, forced passage otherwise; the intrusion input is
 *   forced passage too. Both raise alarms — except in free passage, where such a passage is simply
 *   reported (`freePassage`) so it can still be logged with method `free`.
 * - The fire-alarm loop (input `fire`, active = loop open) puts the gate in free passage until it
 *   closes; so does the emergency-open mode. In free passage both directions are held unlocked.
 * - Without a turnstile configured, a grant resolves at once with `null` (not applicable).
 *
 * Device calls are fire-and-forget: a slow or faulty bus never blocks a decision (docs/architecture.md rule 1).
 */
import { EventEmitter } from 'node:events';
import type { TurnstileInput } from '../firmware-bridge/osdp/control-panel.ts';
import type { AlarmKind, Direction } from '../shared/enums.ts';
import type { Logger } from '../shared/log.ts';
import type { TurnstileDevice } from './devices.ts';

export interface TurnstileControlOptions {
  device?: TurnstileDevice;
  logger: Logger;
  now?: () => number;
  pulseMs?: number;
  passageTimeoutMs?: number;
  tailgateWindowMs?: number;
}

export interface TurnstileControlEvents {
  alarm: [kind: AlarmKind, detail: string];
  /** The fire-alarm loop opened (true) or closed again (false). */
  fire: [active: boolean];
  /** Someone passed during free passage without a scan. */
  freePassage: [direction: Direction];
}

interface Waiting {
  resolve: (passed: boolean) => void;
  timer: NodeJS.Timeout;
}

/**
 * Reader LED length (ms) and buzzer beeps. The same feedback again within `coalesceMs` is not
 * re-sent: a burst of scans would otherwise queue LED/buzzer commands on the RS-485 bus ahead of
 * the polls that report passages.
 */
const FEEDBACK = { ledMs: 1_500, grantedBeeps: 1, deniedBeeps: 3, coalesceMs: 250 } as const;

export class TurnstileControl extends EventEmitter<TurnstileControlEvents> {
  private readonly log: Logger;
  private readonly now: () => number;
  private pulseMs: number;
  private passageTimeoutMs: number;
  private readonly tailgateWindowMs: number;
  private readonly waiting: Record<Direction, Waiting[]> = { in: [], out: [] };
  private readonly lastConfirmedAt: Record<Direction, number> = { in: -Infinity, out: -Infinity };
  private fire = false;
  private lastFeedback = { granted: false, at: -Infinity };
  private freeByMode = false;
  private holdTimer: NodeJS.Timeout | undefined;
  private readonly onInput = (name: TurnstileInput, active: boolean) => this.handleInput(name, active);

  /** New hold times from the cloud's gate settings; they apply from the next grant on. */
  configure(times: { pulseMs: number; passageTimeoutMs: number }): void {
    this.pulseMs = times.pulseMs;
    this.passageTimeoutMs = times.passageTimeoutMs;
  }

  constructor(private readonly options: TurnstileControlOptions) {
    super();
    this.log = options.logger.child({ component: 'edge.turnstile' });
    this.now = options.now ?? Date.now;
    this.pulseMs = options.pulseMs ?? 3_000;
    this.passageTimeoutMs = options.passageTimeoutMs ?? 10_000;
    this.tailgateWindowMs = options.tailgateWindowMs ?? 3_000;
  }

  get hasDevice(): boolean {
    return this.options.device !== undefined;
  }

  get fireAlarm(): boolean {
    return this.fire;
  }

  get freePassage(): boolean {
    return this.fire || this.freeByMode;
  }

  /** Grants waiting for their passage. */
  get pendingPassages(): number {
    return this.waiting.in.length + this.waiting.out.length;
  }

  start(): void {
    this.options.device?.on('input', this.onInput);
  }

  stop(): void {
    this.options.device?.off('input', this.onInput);
    this.stopHolding();
    // A stopping gate cannot confirm anything any more: settle every grant as not passed.
    for (const direction of ['in', 'out'] as const) {
      for (const w of this.waiting[direction].splice(0)) {
        clearTimeout(w.timer);
        w.resolve(false);
      }
    }
  }

  /** Unlocks for one person and resolves with the outcome: passed, timed out, or null without a turnstile. */
  authorise(direction: Direction): Promise<boolean | null> {
    const { device } = this.options;
    if (!device) return Promise.resolve(null);
    this.call('unlock', () => device.unlock(direction, this.pulseMs));
    this.feedback(true);
    return new Promise((resolve) => {
      const entry: Waiting = {
        resolve,
        timer: setTimeout(() => {
          const queue = this.waiting[direction];
          const index = queue.indexOf(entry);
          if (index >= 0) queue.splice(index, 1);
          this.log.info({ direction }, 'granted but not passed in time');
          resolve(false);
        }, this.passageTimeoutMs),
      };
      this.waiting[direction].push(entry);
    });
  }

  /** Red light and beeps for a denial. */
  deny(): void {
    this.feedback(false);
  }

  /** The compound's mode is (or is no longer) emergency-open. */
  setFreeByMode(free: boolean): void {
    this.freeByMode = free;
    this.updateHold();
  }

  private handleInput(name: TurnstileInput, active: boolean): void {
    switch (name) {
      case 'passed-in':
      case 'passed-out':
        if (active) this.passed(name === 'passed-in' ? 'in' : 'out');
        return;
      case 'forced':
        if (active && !this.freePassage) this.emit('alarm', 'forced', 'intrusion input: passage forced');
        return;
      case 'fire':
        if (active === this.fire) return;
        this.fire = active;
        this.log.warn({ fire: active }, active ? 'fire-alarm loop open: free passage' : 'fire-alarm loop closed');
        this.emit('fire', active);
        this.emit(
          'alarm',
          'fire',
          active ? 'fire-alarm loop open: turnstile held open' : 'fire-alarm loop closed again',
        );
        this.updateHold();
        return;
      case 'tamper':
        if (active) this.emit('alarm', 'tamper', 'tamper input active');
        return;
    }
  }

  private passed(direction: Direction): void {
    const next = this.waiting[direction].shift();
    if (next) {
      clearTimeout(next.timer);
      this.lastConfirmedAt[direction] = this.now();
      next.resolve(true);
      return;
    }
    if (this.freePassage) {
      this.emit('freePassage', direction);
      return;
    }
    if (this.now() - this.lastConfirmedAt[direction] <= this.tailgateWindowMs) {
      this.emit('alarm', 'tailgate', `second passage ${direction} on one authorisation`);
    } else {
      this.emit('alarm', 'forced', `passage ${direction} without authorisation`);
    }
  }

  private updateHold(): void {
    if (this.freePassage && !this.holdTimer && this.options.device) {
      const hold = () => {
        const device = this.options.device;
        if (!device) return;
        this.call('unlock', () => device.unlock('in', this.pulseMs));
        this.call('unlock', () => device.unlock('out', this.pulseMs));
      };
      hold();
      // Re-pulse before the previous pulse ends so the turnstile never relocks in between.
      this.holdTimer = setInterval(hold, Math.max(100, Math.floor(this.pulseMs / 2)));
      this.holdTimer.unref();
    } else if (!this.freePassage) {
      this.stopHolding();
    }
  }

  private stopHolding(): void {
    if (this.holdTimer) clearInterval(this.holdTimer);
    this.holdTimer = undefined;
  }

  private feedback(granted: boolean): void {
    const { device } = this.options;
    if (!device) return;
    const now = this.now();
    if (this.lastFeedback.granted === granted && now - this.lastFeedback.at < FEEDBACK.coalesceMs) return;
    this.lastFeedback = { granted, at: now };
    this.call('led', () => device.led(granted ? 'green' : 'red', FEEDBACK.ledMs));
    this.call('buzz', () => device.buzz(granted ? FEEDBACK.grantedBeeps : FEEDBACK.deniedBeeps));
  }

  private call(what: string, action: () => Promise<void>): void {
    action().catch((error: Error) => this.log.warn({ err: error.message, what }, 'turnstile command failed'));
  }
}
