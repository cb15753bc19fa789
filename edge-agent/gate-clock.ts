/**
 * The gate's clock against the cloud's (docs/security.md, "Clock"). A gate's wall clock can jump — an
 * RTC battery dies, NTP steps it, someone sets it by hand — and pass validity (`notBefore`,
 * `expiresAt`) is decided by time. The cloud stamps every ack with its own time (`ts`, docs/contract.md
 * `ack`, additive); the gate anchors that on its *monotonic* clock, which never jumps, so at any
 * later moment "cloud time now" ≈ anchor.cloudTs + monotonic time elapsed since.
 *
 * - `skewMs()` = wall clock − cloud time now (positive: the gate is ahead); reported as
 *   `clockSkewMs` in the gate status. A jump after the last ack shows at once, no new ack needed.
 * - `decisionNow()`: the wall clock while it agrees with the cloud within `toleranceMs`; beyond
 *   that the cloud-anchored time, so a jumped clock neither lets an expired pass in nor locks a
 *   valid one out. With no ack seen yet the wall clock is all there is.
 *
 * Event `ts` stays the gate's wall clock (what the gate believed); the cloud stores its own
 * `receivedAt` beside it, so a skewed gate's passages can be re-timed afterwards.
 * MQTT transit (milliseconds) is ignored: far below the tolerance and below pass granularity (1 s).
 */

/** Disagreement tolerated before decisions stop trusting the wall clock. */
export const DEFAULT_CLOCK_TOLERANCE_MS = 60_000;

export interface GateClockOptions {
  /** The wall clock (the agent's injectable clock). */
  wall: () => number;
  /** A clock that never jumps. Default `performance.now`. */
  monotonic?: () => number;
  toleranceMs?: number;
}

export class GateClock {
  private anchor: { cloudTs: number; monotonic: number } | undefined;
  private readonly wall: () => number;
  private readonly monotonic: () => number;
  private readonly toleranceMs: number;

  constructor(options: GateClockOptions) {
    this.wall = options.wall;
    this.monotonic = options.monotonic ?? (() => performance.now());
    this.toleranceMs = options.toleranceMs ?? DEFAULT_CLOCK_TOLERANCE_MS;
  }

  /** The cloud said its time was `cloudTs` just now (an ack's `ts`). */
  observeCloudTime(cloudTs: number): void {
    this.anchor = { cloudTs, monotonic: this.monotonic() };
  }

  /** The cloud's time now, estimated; undefined before the first observation. */
  cloudNow(): number | undefined {
    const anchor = this.anchor;
    if (!anchor) return undefined;
    return Math.round(anchor.cloudTs + (this.monotonic() - anchor.monotonic));
  }

  /** Wall clock minus cloud time, ms (positive: the gate is ahead); undefined before the first ack. */
  skewMs(): number | undefined {
    const cloud = this.cloudNow();
    return cloud === undefined ? undefined : Math.round(this.wall() - cloud);
  }

  /** The time a decision is made at (see the header). */
  decisionNow(): number {
    const wall = this.wall();
    const cloud = this.cloudNow();
    if (cloud === undefined || Math.abs(wall - cloud) <= this.toleranceMs) return wall;
    return cloud;
  }
}
