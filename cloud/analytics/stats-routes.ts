/**
 * `GET /api/v1/stats/summary|hourly|gates?compound&from&to` (docs/contract.md, "HTTP"): the manager's
 * statistics, answered from the rollups (cloud/analytics/statistics.ts; docs/tracing.md).
 */
import { Hono } from 'hono';
import { statsQuerySchema } from '../../shared/schemas/http.ts';
import type { AnalyticsStore } from './analytics-store.ts';
import { type StatsRegistry, statsGates, statsHourly, statsSummary } from './statistics.ts';
import type { AppEnv } from '../http/app-env.ts';
import { type Auth, compoundFilter } from '../http/auth-middleware.ts';
import { validate } from '../http/validation.ts';

/** The longest statistics window: the cost grows with its hours, so it is bounded. */
export const MAX_STATS_WINDOW_MS = 400 * 86_400_000;

const statsQuery = statsQuerySchema
  .refine((q) => q.to > q.from, { path: ['to'], message: 'must be after from' })
  .refine((q) => q.to - q.from <= MAX_STATS_WINDOW_MS, {
    path: ['to'],
    message: `statistics cover at most ${MAX_STATS_WINDOW_MS / 86_400_000} days`,
  });

export interface StatsRouteDeps {
  auth: Auth;
  analytics: AnalyticsStore;
  store: StatsRegistry;
  now: () => number;
}

export function statsRoutes(deps: StatsRouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const managers = deps.auth.requireRole(['manager']);
  const services = { analytics: deps.analytics, registry: deps.store, now: deps.now };

  app.get('/summary', managers, validate('query', statsQuery), async (c) => {
    const q = c.req.valid('query');
    const compound = compoundFilter(c.var.actor, q.compound) ?? q.compound;
    return c.json(await statsSummary(services, compound, q.from, q.to));
  });

  app.get('/hourly', managers, validate('query', statsQuery), async (c) => {
    const q = c.req.valid('query');
    const compound = compoundFilter(c.var.actor, q.compound) ?? q.compound;
    return c.json(await statsHourly(services, compound, q.from, q.to));
  });

  app.get('/gates', managers, validate('query', statsQuery), async (c) => {
    const q = c.req.valid('query');
    const compound = compoundFilter(c.var.actor, q.compound) ?? q.compound;
    return c.json(await statsGates(services, compound, q.from, q.to));
  });

  return app;
}
