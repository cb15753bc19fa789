/**
 * The gate's clock against the cloud's (docs/security.md "Clock"). A gate's wall clock can jump —
 * an RTC battery dies, NTP steps it, someone sets it by hand — and pass validity (`notBefore`,
 * `expiresAt`) is decided by time. The cloud stamps every ack with its own time (`ts`,
 * docs/contract.md `ack`); the gate anchors that on a *monotonic* clock, which never jumps, so at
 * any later moment "cloud time now" ≈ anchor.cloudTs + monotonic time elapsed since.
 *
 * - `skewMs()` = wall clock − cloud time now (positive: the gate is ahead); reported as
 *   `clockSkewMs` in the gate status. A jump after the last ack shows at once, no new ack needed.
 * - `decisionNow()`: the wall clock while it agrees with the cloud within `toleranceMs`; beyond
 *   that the cloud-anchored time, so a jumped clock neither lets an expired pass in nor locks a
 *   valid one out. With no trusted anchor the wall clock is all there is.
 *
 * The anchor survives restarts (`memory`, the gate database): the monotonic clock is the kernel's
 * CLOCK_MONOTONIC (`process.hrtime`, counted from boot), so after a restart of the process within
 * the same boot (`bootId`, /proc/sys/kernel/random/boot_id) the anchor is as good as before. After
 * a reboot the monotonic clock starts again, and what is left is the offset that was measured (wall
 * − cloud at the last ack): it is applied to the wall clock, on the assumption that the clock is
 * as wrong as it was (an RTC that keeps a wrong time). Either is trusted for `maxAgeMs` (default 7
 * days of estimated cloud time since the ack), then dropped: the wall clock again, until an ack.
 *
 * Event `ts` stays the gate's wall clock (what the gate believed); the cloud stores its own
 * `receivedAt` beside it, so a skewed gate's passages can be re-timed afterwards.
 * MQTT transit (milliseconds) is ignored: far below the tolerance and below pass granularity (1 s).
 */
import { readFileSync } from 'node:fs';

/** Disagreement tolerated before decisions stop trusting the wall clock (and the clock-skew alarm). */
export const DEFAULT_CLOCK_TOLERANCE_MS = 60_000;
/** How long a remembered anchor or offset is trusted without a new ack. */
const DEFAULT_CLOCK_MAX_AGE_MS = 7 * 24 * 3_600_000;
/** A new observation is written through when the skew moved by more than this, or this often. */
const PERSIST_SKEW_CHANGE_MS = 1_000;
const PERSIST_EVERY_MS = 60_000;

/** What is kept across restarts: the cloud's time at an ack, and the gate's clocks at that moment. */
export interface ClockAnchorRecord {
  cloudTs: number;
  /** CLOCK_MONOTONIC (ms since boot) when it was observed. */
  monotonic: number;
  /** The wall clock when it was observed. */
  wall: number;
  /** The boot it was observed in (monotonic values of another boot mean nothing). */
  bootId: string | null;
}

export interface ClockMemory {
  load(): ClockAnchorRecord | undefined;
  save(record: ClockAnchorRecord): void;
}

/** Where the cloud-checked time comes from. */
export type ClockSource =
  /** An ack seen by this process. */
  | 'cloud'
  /** An ack seen before a restart of the process, same boot: anchored on the same monotonic clock. */
  | 'remembered'
  /** An ack seen before a reboot: its offset applied to the wall clock. */
  | 'remembered-offset'
  /** No trusted observation: the wall clock alone. */
  | 'wall';

export interface ClockInfo {
  source: ClockSource;
  /** Wall minus cloud time, ms; undefined with source `wall`. */
  skewMs?: number;
  /** Cloud time elapsed since the observation the estimate rests on. */
  ageMs?: number;
  /** |skew| beyond the tolerance: decisions use the cloud-checked time. */
  skewed: boolean;
}

export interface GateClockOptions {
  /** The wall clock (the agent's injectable clock). */
  wall: () => number;
  /** A clock that never jumps, ms; default CLOCK_MONOTONIC via `process.hrtime` (shared by every process of a boot). */
  monotonic?: () => number;
  toleranceMs?: number;
  /** Where the anchor is kept across restarts (none: memory only). */
  memory?: ClockMemory;
  /** This boot's id; default read from /proc/sys/kernel/random/boot_id (null if unreadable). */
  bootId?: string | null;
  maxAgeMs?: number;
}

function currentBootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

const hrtimeMs = () => Number(process.hrtime.bigint() / 1000n) / 1000;

export class GateClock {
  private anchor: { cloudTs: number; monotonic: number; source: 'cloud' | 'remembered' } | undefined;
  /** After a reboot: wall − cloud as last measured, and the cloud time it was measured at. */
  private offset: { skewMs: number; cloudTs: number } | undefined;
  private readonly wall: () => number;
  private readonly monotonic: () => number;
  private readonly toleranceMs: number;
  private readonly maxAgeMs: number;
  private readonly memory: ClockMemory | undefined;
  private readonly bootId: string | null;
  private persisted: { skewMs: number; monotonic: number } | undefined;

  constructor(options: GateClockOptions) {
    this.wall = options.wall;
    this.monotonic = options.monotonic ?? hrtimeMs;
    this.toleranceMs = options.toleranceMs ?? DEFAULT_CLOCK_TOLERANCE_MS;
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_CLOCK_MAX_AGE_MS;
    this.memory = options.memory;
    this.bootId = options.bootId === undefined ? currentBootId() : options.bootId;
    this.restore();
  }

  private restore(): void {
    const record = this.memory?.load();
    if (!record) return;
    const now = this.monotonic();
    if (record.bootId !== null && record.bootId === this.bootId && record.monotonic <= now) {
      this.anchor = { cloudTs: record.cloudTs, monotonic: record.monotonic, source: 'remembered' };
    } else {
      this.offset = { skewMs: record.wall - record.cloudTs, cloudTs: record.cloudTs };
    }
  }

  /** The cloud said its time was `cloudTs` just now (an ack's `ts`). */
  observeCloudTime(cloudTs: number): void {
    const monotonic = this.monotonic();
    this.anchor = { cloudTs, monotonic, source: 'cloud' };
    this.offset = undefined;
    if (!this.memory) return;
    const skewMs = this.wall() - cloudTs;
    const last = this.persisted;
    if (
      last &&
      Math.abs(last.skewMs - skewMs) <= PERSIST_SKEW_CHANGE_MS &&
      monotonic - last.monotonic < PERSIST_EVERY_MS
    ) {
      return;
    }
    this.persisted = { skewMs, monotonic };
    this.memory.save({ cloudTs, monotonic, wall: this.wall(), bootId: this.bootId });
  }

  /** The cloud's time now, estimated, with the age of what it rests on; undefined when nothing is trusted. */
  private estimate(): { cloudNow: number; ageMs: number; source: Exclude<ClockSource, 'wall'> } | undefined {
    const anchor = this.anchor;
    if (anchor) {
      const ageMs = this.monotonic() - anchor.monotonic;
      if (anchor.source === 'cloud' || ageMs <= this.maxAgeMs) {
        return { cloudNow: Math.round(anchor.cloudTs + ageMs), ageMs: Math.round(ageMs), source: anchor.source };
      }
      return undefined;
    }
    const offset = this.offset;
    if (!offset) return undefined;
    const cloudNow = this.wall() - offset.skewMs;
    const ageMs = cloudNow - offset.cloudTs;
    if (ageMs < 0 || ageMs > this.maxAgeMs) return undefined;
    return { cloudNow: Math.round(cloudNow), ageMs: Math.round(ageMs), source: 'remembered-offset' };
  }

  /** The cloud's time now, estimated; undefined before the first trusted observation. */
  cloudNow(): number | undefined {
    return this.estimate()?.cloudNow;
  }

  /** Wall clock minus cloud time, ms (positive: the gate is ahead); undefined without a trusted observation. */
  skewMs(): number | undefined {
    const cloud = this.cloudNow();
    return cloud === undefined ? undefined : Math.round(this.wall() - cloud);
  }

  /** Where the time comes from, how old, and whether the wall clock is off (status, terminal). */
  info(): ClockInfo {
    const estimate = this.estimate();
    if (!estimate) return { source: 'wall', skewed: false };
    const skewMs = Math.round(this.wall() - estimate.cloudNow);
    return { source: estimate.source, skewMs, ageMs: estimate.ageMs, skewed: Math.abs(skewMs) > this.toleranceMs };
  }

  /** The time a decision is made at (see the header). */
  decisionNow(): number {
    const wall = this.wall();
    const cloud = this.cloudNow();
    if (cloud === undefined || Math.abs(wall - cloud) <= this.toleranceMs) return wall;
    return cloud;
  }
}

/** Keeps the anchor in the gate database's `meta` table (key `clock.anchor`). */
export function metaClockMemory(meta: {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}): ClockMemory {
  const KEY = 'clock.anchor';
  return {
    load() {
      const text = meta.get(KEY);
      if (text === undefined) return undefined;
      try {
        const r = JSON.parse(text) as Partial<ClockAnchorRecord>;
        const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
        if (!finite(r.cloudTs) || !finite(r.monotonic) || !finite(r.wall)) return undefined;
        return {
          cloudTs: r.cloudTs,
          monotonic: r.monotonic,
          wall: r.wall,
          bootId: typeof r.bootId === 'string' ? r.bootId : null,
        };
      } catch {
        return undefined;
      }
    },
    save(record) {
      meta.set(KEY, JSON.stringify(record));
    },
  };
}
