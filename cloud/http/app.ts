/**
 * The cloud's HTTP app (docs/contract.md, "HTTP"): one sub-app per resource under `/api/v1`, plus
 * `/healthz` and `/metrics`, then the extensions' routes (cloud/http/extension.ts). Built without
 * ports so tests drive it with `app.request()`.
 */
import { Hono } from 'hono';
import { routePath } from 'hono/route';
import type { AppDeps, RouteDeps } from './app-deps.ts';
import type { AppEnv } from './app-env.ts';
import { API_BASE, type CloudExtension } from './extension.ts';
import { timingSafeEqual } from 'node:crypto';
import { forbidden } from './api-error.ts';
import { createAuth } from './auth-middleware.ts';
import { clientAddress, isLoopback } from './client-address.ts';
import { bodyLimits } from './body-limits.ts';
import { createErrorHandler } from './error-handler.ts';
import { RateLimiter } from './rate-limit.ts';
import { securityHeaders } from './security-headers.ts';
import { textBodies } from './text-bodies.ts';
import { auditRoutes } from './routes/audit.ts';
import { authRoutes } from './routes/auth.ts';
import { compoundRoutes } from './routes/compounds.ts';
import { eventRoutes } from './routes/events.ts';
import { gateRoutes } from './routes/gates.ts';
import { healthRoutes } from './routes/health.ts';
import { liveRoutes } from './routes/live.ts';
import { liveTicketRoutes } from './routes/live-ticket.ts';
import { passRoutes } from './routes/passes.ts';
import { residentRoutes } from './routes/residents.ts';
import { userRoutes } from './routes/users.ts';

export { API_BASE };

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The deps with the session check and the per-user limits every route module uses. */
export function routeDepsOf(deps: AppDeps): RouteDeps {
  return {
    ...deps,
    auth: createAuth({ ring: deps.ring, now: deps.now, sessions: deps.sessions }),
    limits: new RateLimiter(deps.now),
  };
}

/** The app on `routeDeps` (from `routeDepsOf`), with each extension's routes mounted after the core API. */
export function createApp(
  routeDeps: RouteDeps,
  extensions: readonly Pick<CloudExtension, 'mount'>[] = [],
): Hono<AppEnv> {
  const deps = routeDeps;
  const app = new Hono<AppEnv>();

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    const path = routePath(c, -1);
    deps.metrics.httpDuration.observe((performance.now() - started) / 1000, {
      method: c.req.method,
      route: path === '' || path.endsWith('*') ? 'unmatched' : path,
      status: String(c.res.status),
    });
  });

  app.use('*', securityHeaders());
  app.use('*', bodyLimits());
  app.use('*', textBodies());

  app.get('/healthz', (c) => c.json({ status: 'ok', ...deps.health?.() }));
  // Loopback (or an in-process request) only, unless the deployment set a scrape token.
  app.get('/metrics', (c) => {
    const address = clientAddress(c);
    const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    const local = address === 'unknown' || isLoopback(address);
    const tokenOk = deps.metricsToken !== undefined && bearer !== undefined && safeEqual(bearer, deps.metricsToken);
    if (!local && !tokenOk) throw forbidden('/metrics answers loopback callers, or a bearer metrics token');
    return c.body(deps.metrics.registry.render(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });

  const api = new Hono<AppEnv>()
    .route('/auth', authRoutes(routeDeps))
    // A one-minute token for EventSource's `?token=` on `/live` (the browser cannot set a header).
    .route('/auth/live-ticket', liveTicketRoutes(routeDeps))
    .route('/compounds', compoundRoutes(routeDeps))
    .route('/gates', gateRoutes(routeDeps))
    .route('/residents', residentRoutes(routeDeps))
    .route('/health', healthRoutes(routeDeps))
    .route('/passes', passRoutes(routeDeps))
    .route('/events', eventRoutes(routeDeps))
    .route('/live', liveRoutes(routeDeps))
    .route('/audit', auditRoutes(routeDeps))
    .route('/users', userRoutes(routeDeps));
  app.route(API_BASE, api);
  for (const extension of extensions) extension.mount?.(app);

  app.notFound((c) => c.json({ error: { code: 'not-found', message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  app.onError(createErrorHandler(deps.logger));
  return app;
}
