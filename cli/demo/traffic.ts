/**
 * The demo's traffic: residents walking through the gates at `rate` arrivals per second (across
 * all gates), busier in the morning (out) and evening (in) peaks of the compound's local day, with
 * occasional forged or unknown credentials, now and then a forced passage and a device fault.
 * It drives the device simulators only — the gates see nothing but bytes on their serial ports.
 *
 * People arrive as a Poisson process and line up: each arrival joins the lane of its direction
 * that is free or has the shortest line, so the offered rate is delivered whenever the lanes can
 * physically serve it. A line holds at most `maxQueuePerLane` people; an arrival finding every line
 * of its direction full turns away, and is counted (`stats().dropped`) and logged — never lost
 * silently.
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

/** Time as the generator sees it; tests inject a simulated one. */
export interface TrafficClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Wall-clock time; the timers are unref'd (the demo's servers keep the process alive). */
const systemClock: TrafficClock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface TrafficOptions {
  /** Arrivals per second across all gates at an ordinary hour (the peaks have three times as many). */
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
  /** People waiting in one lane's line at most (default 20); more arrivals turn away, counted. */
  maxQueuePerLane?: number;
  clock?: TrafficClock;
}

/** Counters since `start()`. Always: arrivals = scans + failed + dropped + waiting + inLanes. */
export interface TrafficStats {
  /** People who turned up at a gate (the offered traffic). */
  arrivals: number;
  /** Credentials presented at a lane: QR passes scanned and ID cards swiped (granted or not). */
  scans: number;
  /** Presentations the simulators could not make (a port error); logged. */
  failed: number;
  /** Arrivals that turned away because every line of their direction was full. */
  dropped: number;
  /** Waiting in a line now. */
  waiting: number;
  /** At a reader now, the credential not yet presented (then they count as a scan). */
  inLanes: number;
  /** Forced passages acted out (not counted as arrivals). */
  forced: number;
}

/**
 * Relative traffic by local hour: a night trough, a morning peak (7–9 h, mostly out) and an
 * evening peak (17–19 h, mostly in). Returns the rate multiplier and the share of exits.
 */
function trafficShape(localHour: number): { multiplier: number; outShare: number } {
  if (localHour >= 7 && localHour < 9) return { multiplier: 3, outShare: 0.8 };
  if (localHour >= 17 && localHour < 19) return { multiplier: 3, outShare: 0.2 };
  if (localHour >= 23 || localHour < 6) return { multiplier: 0.3, outShare: 0.5 };
  return { multiplier: 1, outShare: 0.5 };
}

/**
 * A lane holds one person at a time: scan, the turnstile opens, they walk through (the
 * simulator reports "passed" after its pass delay). The next person in line steps up after that.
 */
const LANE_WALK_MS = 1_500;
const DEFAULT_MAX_QUEUE_PER_LANE = 20;
/** The arrival rate follows the hour: a long gap is cut here and drawn again (exact: Poisson gaps are memoryless). */
const RESCHEDULE_MS = 60_000;
/** Turned-away arrivals are logged at most once a minute (with the count since the last line). */
const DROP_LOG_EVERY_MS = 60_000;

const hourFormats = new Map<string, Intl.DateTimeFormat>();

function localHour(now: number, timeZone: string): number {
  let format = hourFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', hourCycle: 'h23', timeZone });
    hourFormats.set(timeZone, format);
  }
  return Number(format.format(now));
}

/** Arrivals per second at `now`: `rate` shaped by the hour, never below a third of `rate`. */
export function offeredRate(rate: number, now: number, timeZone = 'Asia/Shanghai'): number {
  const { multiplier } = trafficShape(localHour(now, timeZone));
  // Demo watchers should see traffic at any hour: the trough never drops below a third of the rate.
  return Math.max(rate * multiplier, rate / 3);
}

/** One line for the demo's console: what happened between two `stats()` taken `ms` apart. */
export function formatTrafficProgress(before: TrafficStats, after: TrafficStats, ms: number, offered: number): string {
  const seconds = ms / 1000;
  const perSecond = (n: number) => (n / seconds).toFixed(2);
  const arrivals = after.arrivals - before.arrivals;
  const scans = after.scans - before.scans;
  const dropped = after.dropped - before.dropped;
  return (
    `traffic, last ${Math.round(seconds)} s: ${arrivals} arrivals (${perSecond(arrivals)}/s, offered ${offered.toFixed(2)}/s), ` +
    `${scans} scans (${perSecond(scans)}/s), ${after.waiting} waiting, ` +
    `${dropped} turned away (lines full; ${after.dropped} in all)`
  );
}

interface Lane {
  rig: DemoGateRig;
  /** Someone in the lane: presenting a credential or walking through. */
  busy: boolean;
  presenting: boolean;
  /** Arrival times of the people waiting. */
  queue: number[];
}

export class TrafficGenerator {
  private readonly rand: () => number;
  private readonly clock: TrafficClock;
  private readonly lanes: Lane[];
  private readonly maxQueue: number;
  private readonly timeZone: string;
  private timer: unknown;
  private lastForced: number;
  private lastFault: number;
  private lastDropLog = Number.NEGATIVE_INFINITY;
  private droppedAtLastLog = 0;
  private stopped = true;
  private readonly counts = { arrivals: 0, scans: 0, failed: 0, dropped: 0, forced: 0 };

  constructor(private readonly options: TrafficOptions) {
    this.rand = seededRandom(options.seed ?? 7);
    this.clock = options.clock ?? systemClock;
    this.lanes = options.gates.map((rig) => ({ rig, busy: false, presenting: false, queue: [] }));
    this.maxQueue = options.maxQueuePerLane ?? DEFAULT_MAX_QUEUE_PER_LANE;
    this.timeZone = options.timeZone ?? 'Asia/Shanghai';
    this.lastForced = this.clock.now();
    this.lastFault = this.clock.now();
  }

  /** Scans presented so far. */
  get scans(): number {
    return this.counts.scans;
  }

  stats(): TrafficStats {
    let waiting = 0;
    let inLanes = 0;
    for (const lane of this.lanes) {
      waiting += lane.queue.length;
      if (lane.presenting) inLanes++;
    }
    return { ...this.counts, waiting, inLanes };
  }

  /** Arrivals per second right now (the hour's shape applied to `rate`). */
  offeredRate(): number {
    return offeredRate(this.options.rate, this.clock.now(), this.timeZone);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.lastForced = this.clock.now();
    this.lastFault = this.clock.now();
    this.scheduleNext();
  }

  /** No more arrivals; whoever is in a lane finishes, nobody else steps up. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private scheduleNext(): void {
    if (this.stopped) return;
    // Exponential inter-arrival times: arrivals of independent people form a Poisson process.
    const gap = (-Math.log(1 - this.rand()) / this.offeredRate()) * 1000;
    const arrives = gap <= RESCHEDULE_MS;
    this.timer = this.clock.setTimeout(
      () => {
        if (this.stopped) return;
        if (arrives) this.arrive();
        this.scheduleNext();
      },
      arrives ? gap : RESCHEDULE_MS,
    );
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rand() * items.length)]!;
  }

  private arrive(): void {
    const now = this.clock.now();
    this.counts.arrivals++;
    const { outShare } = trafficShape(localHour(now, this.timeZone));
    const direction: Direction = this.rand() < outShare ? 'out' : 'in';
    const ofDirection = this.lanes.filter((l) => l.rig.direction === direction);
    // With lanes of one direction only (--gates 1), people leave through whatever lane there is.
    const lanes = ofDirection.length > 0 ? ofDirection : this.lanes;
    if (lanes.length === 0) {
      this.drop(now);
      return;
    }

    if (now - this.lastForced > (this.options.forcedEveryMs ?? 180_000)) {
      this.lastForced = now;
      const lane = this.pick(lanes);
      this.counts.forced++;
      this.options.logger.info(
        { gateId: lane.rig.gateId },
        'demo: someone pushes through the turnstile without scanning',
      );
      lane.rig.forcePassage();
    }
    if (now - this.lastFault > (this.options.faultEveryMs ?? 300_000)) {
      this.lastFault = now;
      const lane = this.pick(lanes);
      this.options.logger.info({ gateId: lane.rig.gateId }, 'demo: the QR scanner cable comes loose for 10 s');
      lane.rig.faultQrScanner(10_000);
    }

    const free = lanes.filter((l) => !l.busy);
    if (free.length > 0) {
      this.serve(this.pick(free));
      return;
    }
    const shortest = Math.min(...lanes.map((l) => l.queue.length));
    if (shortest >= this.maxQueue) {
      this.drop(now);
      return;
    }
    this.pick(lanes.filter((l) => l.queue.length === shortest)).queue.push(now);
  }

  private drop(now: number): void {
    this.counts.dropped++;
    if (now - this.lastDropLog < DROP_LOG_EVERY_MS) return;
    this.options.logger.warn(
      {
        dropped: this.counts.dropped - this.droppedAtLastLog,
        droppedTotal: this.counts.dropped,
        offeredRate: this.offeredRate(),
        maxQueuePerLane: this.maxQueue,
      },
      'demo traffic: every line at the gates of this direction is full, arrivals turn away',
    );
    this.lastDropLog = now;
    this.droppedAtLastLog = this.counts.dropped;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }

  /** The lane serves one person, then whoever is next in its line. */
  private serve(lane: Lane): void {
    lane.busy = true;
    lane.presenting = true;
    const next = async () => {
      try {
        await this.walkThrough(lane.rig);
        lane.presenting = false;
        this.counts.scans++;
        await this.sleep(LANE_WALK_MS);
      } catch (err) {
        lane.presenting = false;
        this.counts.failed++;
        this.options.logger.warn({ err, gateId: lane.rig.gateId }, 'demo traffic step failed');
      }
    };
    void next().finally(() => {
      lane.busy = false;
      if (!this.stopped && lane.queue.shift() !== undefined) this.serve(lane);
    });
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
