/**
 * Mounts tracing and statistics on the cloud's HTTP app through its `ExtraRoutes` hook
 * (cloud/http/app.ts): `/api/v1/trace/*` and `/api/v1/stats/*`.
 */
import type { ExtraRoutes } from '../http/app.ts';
import { API_BASE } from '../http/app.ts';
import { statsRoutes } from '../http/routes/stats.ts';
import { traceRoutes } from '../http/routes/trace.ts';
import type { AnalyticsStore } from './analytics-store.ts';

export function analyticsRoutes(analytics: AnalyticsStore): ExtraRoutes {
  return (app, deps) => {
    app.route(`${API_BASE}/trace`, traceRoutes({ ...deps, analytics }));
    app.route(`${API_BASE}/stats`, statsRoutes({ ...deps, analytics }));
  };
}
