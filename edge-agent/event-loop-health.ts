/**
 * How late the gate's event loop runs (docs/edge-agent.md "Health"): everything from a scan to the
 * unlock happens on it, so its delay is the gate's responsiveness. Node's
 * `monitorEventLoopDelay` samples it every `resolutionMs`; every `windowMs` the window's
 * percentiles are kept and the histogram starts afresh, so the figure follows the last minute
 * rather than the process's whole life. Reported in the status (`eventLoopP99Ms`), the guard
 * panel and `/metrics`; above `degradedP99Ms` the gate says `degraded`.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

export interface EventLoopWindow {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export class EventLoopHealth {
  private histogram: IntervalHistogram | undefined;
  private timer: NodeJS.Timeout | undefined;
  private last: EventLoopWindow | undefined;

  constructor(private readonly options: { resolutionMs?: number; windowMs?: number; degradedP99Ms?: number } = {}) {}

  start(): void {
    if (this.histogram) return;
    this.histogram = monitorEventLoopDelay({ resolution: this.options.resolutionMs ?? 10 });
    this.histogram.enable();
    this.timer = setInterval(() => this.rotate(), this.options.windowMs ?? 60_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.histogram?.disable();
    this.histogram = undefined;
  }

  private current(): EventLoopWindow | undefined {
    const h = this.histogram;
    if (!h || h.count === 0) return undefined;
    // The histogram holds the whole sampling interval: the delay is what exceeds the resolution.
    const resolution = this.options.resolutionMs ?? 10;
    const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - resolution) * 100) / 100);
    return { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max) };
  }

  private rotate(): void {
    const window = this.current();
    if (window) this.last = window;
    this.histogram?.reset();
  }

  /** The worse of the last complete window and the current one (a stall shows at once). */
  snapshot(): EventLoopWindow {
    const now = this.current();
    const last = this.last;
    if (!now) return last ?? { p50Ms: 0, p99Ms: 0, maxMs: 0 };
    if (!last) return now;
    return now.p99Ms >= last.p99Ms ? now : last;
  }

  /** The loop is too slow for the unlock to be prompt. */
  get degraded(): boolean {
    return this.snapshot().p99Ms > (this.options.degradedP99Ms ?? 100);
  }
}
