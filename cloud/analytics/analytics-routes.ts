/** Mounts tracing and statistics on the cloud's HTTP app: `/api/v1/trace/*` and `/api/v1/stats/*`. */
import type { Hono } from 'hono';
import type { RouteDeps } from '../http/app-deps.ts';
import type { AppEnv } from '../http/app-env.ts';
import { API_BASE } from '../http/extension.ts';
import type { AnalyticsStore } from './analytics-store.ts';
import { statsRoutes } from './stats-routes.ts';
import { traceRoutes } from './trace-routes.ts';

export function mountAnalyticsRoutes(app: Hono<AppEnv>, deps: RouteDeps, analytics: AnalyticsStore): void {
  app.route(`${API_BASE}/trace`, traceRoutes({ ...deps, analytics }));
  app.route(`${API_BASE}/stats`, statsRoutes({ ...deps, analytics }));
}
