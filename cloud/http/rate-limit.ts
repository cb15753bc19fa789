/**
 * Per-user rate limits on the routes that disclose or cost the most — person search, identity
 * reveal, traces and their CSV exports (docs/security.md, "Rate limits"): a token bucket per user
 * and kind, refilled continuously; an empty bucket answers 429 with `Retry-After` and does no
 * work. A stolen manager token can then page through the registry only slowly, and loudly (every
 * allowed call is still audited). In memory: a restart refills every bucket.
 */
import type { Context } from 'hono';
import { ApiError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';

export interface RateLimit {
  /** Calls allowed in a burst. */
  burst: number;
  /** Calls regained per minute. */
  perMinute: number;
}

/** The limits per kind of call (per user). */
export const RATE_LIMITS = {
  search: { burst: 10, perMinute: 30 },
  reveal: { burst: 5, perMinute: 10 },
  trace: { burst: 20, perMinute: 60 },
  export: { burst: 5, perMinute: 10 },
} as const satisfies Record<string, RateLimit>;
export type RateKind = keyof typeof RATE_LIMITS;

const MAX_BUCKETS = 20_000;

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly now: () => number,
    private readonly limits: Record<RateKind, RateLimit> = RATE_LIMITS,
  ) {}

  /** Takes one call from the user's bucket, or throws 429 (the caller has done nothing yet). */
  take(c: Context<AppEnv>, kind: RateKind): void {
    const limit = this.limits[kind];
    const key = `${kind}:${c.var.actor.username}`;
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: limit.burst, at: now };
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.at) * limit.perMinute) / 60_000);
    bucket.at = now;
    if (bucket.tokens < 1) {
      const seconds = Math.max(1, Math.ceil(((1 - bucket.tokens) * 60) / limit.perMinute));
      c.header('retry-after', String(seconds));
      throw new ApiError(429, 'rate-limited', `too many ${kind} calls; try again in ${seconds} s`, undefined, {
        retryAfterSeconds: seconds,
      });
    }
    bucket.tokens -= 1;
    if (!this.buckets.has(key) && this.buckets.size >= MAX_BUCKETS) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    this.buckets.set(key, bucket);
  }
}
