/**
 * The demo's traffic: residents walking through the gates at `rate` scans per second (across all
 * gates), busier in the morning (out) and evening (in) peaks of the compound's local day, with
 * occasional forged or unknown credentials, now and then a forced passage and a device fault.
 * It drives the device simulators only — the gates see nothing but bytes on their serial ports.
 */
import type { Direction } from '../../shared/enums.ts';
import type { Logger } from '../../shared/log.ts';
import type { DemoPerson } from './population.ts';
import { seededRandom } from './population.ts';

/** One gate lane as the traffic generator sees it: the device side of its serial ports. */
export interface DemoGateRig {
  gateId: string;
  direction: Direction;
  scanQr(text: string): Promise<void>;
  /** Lay an ID card on the reader, leave it there a moment, lift it. */
  swipeIdCard(person: DemoPerson, options?: { expired?: boolean }): Promise<void>;
  forcePassage(): void;
  /** Unplug the QR scanner for `ms`, then plug it back (the driver must recover by itself). */
  faultQrScanner(ms: number): void;
}

export interface TrafficOptions {
  rate: number;
  persons: DemoPerson[];
  /** personId → pass text, for residents with a phone. */
  passes: ReadonlyMap<string, string>;
  gates: DemoGateRig[];
  timeZone?: string;
  seed?: number;
  logger: Logger;
  /** Forced passage and device fault cadence (ms). */
  forcedEveryMs?: number;
  faultEveryMs?: number;
}

/**
 * Relative traffic by local hour: a night trough, a morning peak (7–9 h, mostly out) and an
 * evening peak (17–19 h, mostly in). Returns the rate multiplier and the share of exits.
 */
export function trafficShape(localHour: number): { multiplier: number; outShare: number } {
  if (localHour >= 7 && localHour < 9) return { multiplier: 3, outShare: 0.8 };
  if (localHour >= 17 && localHour < 19) return { multiplier: 3, outShare: 0.2 };
  if (localHour >= 23 || localHour < 6) return { multiplier: 0.3, outShare: 0.5 };
  return { multiplier: 1, outShare: 0.5 };
}

/**
 * A lane holds one person at a time: scan, the turnstile opens, they walk through (the
 * simulator reports "passed" after its pass delay). Without this, scans would queue up behind
 * passages still in the turnstile, which no real lane can do.
 */
export const LANE_WALK_MS = 1_500;

export function localHour(now: number, timeZone: string): number {
  const hour = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', hourCycle: 'h23', timeZone }).format(now);
  return Number(hour);
}

export class TrafficGenerator {
  private readonly rand: () => number;
  private readonly busy = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private lastForced = Date.now();
  private lastFault = Date.now();
  private stopped = false;
  scans = 0;

  constructor(private readonly options: TrafficOptions) {
    this.rand = seededRandom(options.seed ?? 7);
  }

  start(): void {
    this.stopped = false;
    this.scheduleNext();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private scheduleNext(): void {
    if (this.stopped) return;
    const { multiplier } = trafficShape(localHour(Date.now(), this.options.timeZone ?? 'Asia/Shanghai'));
    // Demo watchers should see traffic at any hour: the trough never drops below a third of the rate.
    const rate = Math.max(this.options.rate * multiplier, this.options.rate / 3);
    // Exponential inter-arrival times: arrivals of independent people form a Poisson process.
    const delay = Math.min(-Math.log(1 - this.rand()) / rate, 30) * 1000;
    this.timer = setTimeout(() => {
      this.tick().catch((err: unknown) => this.options.logger.warn({ err }, 'demo traffic step failed'));
      this.scheduleNext();
    }, delay);
    this.timer.unref();
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rand() * items.length)]!;
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    const { outShare } = trafficShape(localHour(now, this.options.timeZone ?? 'Asia/Shanghai'));
    const wantOut = this.rand() < outShare;
    const lanes = this.options.gates.filter(
      (g) => g.direction === (wantOut ? 'out' : 'in') && !this.busy.has(g.gateId),
    );
    if (lanes.length === 0) return;
    const gate = this.pick(lanes);

    if (now - this.lastForced > (this.options.forcedEveryMs ?? 180_000)) {
      this.lastForced = now;
      this.options.logger.info({ gateId: gate.gateId }, 'demo: someone pushes through the turnstile without scanning');
      gate.forcePassage();
      return;
    }
    if (now - this.lastFault > (this.options.faultEveryMs ?? 300_000)) {
      this.lastFault = now;
      this.options.logger.info({ gateId: gate.gateId }, 'demo: the QR scanner cable comes loose for 10 s');
      gate.faultQrScanner(10_000);
    }

    this.busy.add(gate.gateId);
    try {
      await this.walkThrough(gate);
      this.scans++;
      await new Promise((resolve) => setTimeout(resolve, LANE_WALK_MS));
    } finally {
      this.busy.delete(gate.gateId);
    }
  }

  private async walkThrough(gate: DemoGateRig): Promise<void> {
    const person = this.pick(this.options.persons);
    const roll = this.rand();
    const pass = this.options.passes.get(person.personId);
    if (roll < 0.01 && pass) {
      // A screenshot edited by hand: one character changed, so the signature fails.
      const i = 4 + Math.floor(this.rand() * (pass.length - 4));
      const swapped = pass[i] === 'A' ? 'B' : 'A';
      await gate.scanQr(pass.slice(0, i) + swapped + pass.slice(i + 1));
    } else if (roll < 0.015) {
      await gate.swipeIdCard(person, { expired: true });
    } else if (pass && this.rand() < 0.9) {
      await gate.scanQr(pass);
    } else {
      await gate.swipeIdCard(person);
    }
  }
}
