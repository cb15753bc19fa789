/**
 * The gate terminal's HTTP app (hono), served by the edge agent on its own port; it never talks to
 * the cloud (docs/edge-agent.md "The terminal", docs/web.md):
 *
 * - public: `/` the result screen, `/assets/*`, `GET /api/screen` and the stream
 *   `GET /api/screen/events` (the current result per lane and the banners, nothing else),
 *   `GET /healthz`, `GET /metrics`;
 * - guard: `/guard` the panel page, `POST/GET/DELETE /api/guard/session` (sign-in with the guard's
 *   id and PIN, guard-session.ts), and with a session only: `GET /api/state`,
 *   `GET /api/guard/events` (scans, alarms, state) and `POST /api/open` (manual open, reason
 *   required; the guard's name comes from the session); the distribution role's routes and the
 *   guard's role switch are in terminal-supply-routes.ts (docs/supplies.md).
 *
 * Every request passes the Host allow-list, state-changing ones the Origin check, every answer
 * carries the security headers, and request bodies are limited before they are read
 * (request-guard.ts).
 */
import { readFileSync } from 'node:fs';
import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { HTTPException } from 'hono/http-exception';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { DIRECTIONS } from '../../shared/enums.ts';
import { GUARD_COOKIE, type GuardSessions } from './guard-session.ts';
import { allowedHostnames, hostAndOriginCheck, type RequestGuardCounters, securityHeaders } from './request-guard.ts';
import { currentResults, type ScreenSettings, screenResultOf, screenStateOf } from './screen.ts';
import { limitBody, requireGuard, type TerminalEnv, validationHook } from './terminal-http.ts';
import { GUARD_PAGE, SCREEN_PAGE } from './terminal-page.ts';
import { supplyRoutes } from './terminal-supply-routes.ts';
import type { TerminalBackend, TerminalUpdate } from './terminal-state.ts';

/** SSE comment lines keep proxies and the browser from closing an idle stream. */
const SSE_KEEPALIVE_MS = 15_000;
const manualOpenSchema = z
  .object({
    direction: z.enum(DIRECTIONS).default('in'),
    reason: z.string().trim().min(1, 'a reason is required').max(200),
  })
  .strict();

const signInSchema = z
  .object({
    guardId: z.string().trim().min(1).max(64),
    pin: z.string().min(1).max(32),
  })
  .strict();

/** The only files `/assets/` serves: a fixed list, so no request path reaches the file system. */
const ASSETS: Record<string, string> = {
  'terminal.css': 'text/css; charset=utf-8',
  'screen.js': 'text/javascript; charset=utf-8',
  'guard.js': 'text/javascript; charset=utf-8',
};
const ASSET_DIR = new URL('./assets/', import.meta.url);
const assetCache = new Map<string, Buffer>();
function asset(name: string): Buffer {
  let body = assetCache.get(name);
  if (!body) {
    body = readFileSync(new URL(name, ASSET_DIR));
    assetCache.set(name, body);
  }
  return body;
}

export interface TerminalAppOptions {
  backend: TerminalBackend;
  sessions: GuardSessions;
  screen: ScreenSettings;
  /** The terminal's listen address (config `http.host`) and `terminal.allowedHosts`. */
  listenHost: string;
  allowedHosts?: readonly string[];
  /** Whether the session cookie is marked `Secure` (behind a TLS proxy). */
  secureCookie?: boolean;
  now?: () => number;
  /** `GET /healthz` body. */
  health: () => { status: 'ok' | 'degraded' } & Record<string, unknown>;
  /** `GET /metrics` body (Prometheus text). */
  metrics: () => string;
  counters?: RequestGuardCounters;
}

type Env = TerminalEnv;

/** Streams the snapshot, then the updates `subscribe` delivers, until the client leaves or `alive()` fails. */
async function pump(
  stream: SSEStreamingApi,
  snapshot: () => unknown,
  subscribe: (push: (event: string, data: unknown) => void) => () => void,
  alive: () => boolean = () => true,
): Promise<void> {
  const queue: { event: string; data: unknown }[] = [];
  let wake: (() => void) | undefined;
  const unsubscribe = subscribe((event, data) => {
    queue.push({ event, data });
    wake?.();
  });
  stream.onAbort(() => {
    unsubscribe();
    wake?.();
  });
  await stream.writeSSE({ event: 'snapshot', data: JSON.stringify(snapshot()) });
  while (!stream.aborted) {
    const update = queue.shift();
    if (update) {
      if (!alive()) break;
      await stream.writeSSE({ event: update.event, data: JSON.stringify(update.data) });
      continue;
    }
    const timeout = new Promise<'idle'>((resolve) => {
      const timer = setTimeout(() => resolve('idle'), SSE_KEEPALIVE_MS);
      wake = () => {
        clearTimeout(timer);
        resolve('idle');
      };
    });
    if ((await timeout) === 'idle' && queue.length === 0 && !stream.aborted) {
      if (!alive()) break;
      await stream.write(': keepalive\n\n');
    }
    wake = undefined;
  }
  unsubscribe();
}

export function createTerminalApp(options: TerminalAppOptions): Hono<Env> {
  const now = options.now ?? Date.now;
  const counters = options.counters ?? { foreignHost: 0, foreignOrigin: 0 };
  const allowed = allowedHostnames(options.listenHost, options.allowedHosts);
  const app = new Hono<Env>();

  app.use('*', securityHeaders());
  app.use('*', hostAndOriginCheck(allowed, counters));
  publicRoutes(app, options, now);
  signInRoutes(app, options, now);
  guardRoutes(app, options);
  supplyRoutes(app, options.backend, options.sessions);
  app.notFound((c) => c.json({ error: { code: 'not-found', message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  app.onError((error, c) => {
    // The JSON validator throws HTTPException(400) for a body that is not JSON: the client's fault, not ours.
    if (error instanceof HTTPException && error.status < 500) {
      return c.json({ error: { code: 'invalid-request', message: error.message } }, error.status);
    }
    return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
  });
  return app;
}

/** The pages, their assets, `/healthz`, `/metrics`, and the public result screen (no sign-in; no names, no lists). */
function publicRoutes(app: Hono<Env>, options: TerminalAppOptions, now: () => number): void {
  const { backend, screen } = options;
  const noCache = { 'cache-control': 'no-cache' };
  app.get('/', (c) => c.html(SCREEN_PAGE, 200, noCache));
  app.get('/guard', (c) => c.html(GUARD_PAGE, 200, noCache));
  app.get('/assets/:name', (c) => {
    const name = c.req.param('name');
    const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
    if (!type) return c.notFound();
    return c.body(new Uint8Array(asset(name)), 200, { 'content-type': type, ...noCache });
  });
  app.get('/healthz', (c) => c.json(options.health()));
  app.get('/metrics', (c) =>
    c.body(options.metrics(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }),
  );

  // ---- the public result screen ----

  const screenSnapshot = () => {
    const { lastScans, alarms: _alarms, ...state } = backend.state();
    const at = now();
    return { state: screenStateOf(state, screen, at), results: currentResults(lastScans, screen, at) };
  };
  app.get('/api/screen', (c) => c.json(screenSnapshot()));
  app.get('/api/screen/events', (c) =>
    streamSSE(c, (stream) =>
      pump(stream, screenSnapshot, (push) =>
        backend.subscribe((update: TerminalUpdate) => {
          if (update.type === 'scan') push('result', screenResultOf(update.scan, screen.lanes));
          else if (update.type === 'state') push('state', screenStateOf(update.state, screen, now()));
        }),
      ),
    ),
  );
}

/** Guard sign-in with the guard's id and PIN (checked by the gate itself, offline too), and sign-out. */
function signInRoutes(app: Hono<Env>, options: TerminalAppOptions, now: () => number): void {
  const { sessions } = options;
  const cookieOptions = {
    httpOnly: true,
    sameSite: 'Strict' as const,
    path: '/',
    secure: options.secureCookie === true,
  };

  app.post('/api/guard/session', limitBody, zValidator('json', signInSchema, validationHook), async (c) => {
    const { guardId, pin } = c.req.valid('json');
    if (!sessions.configured) {
      return c.json({ error: { code: 'no-guards', message: 'no guard is configured on this gate' } }, 403);
    }
    const result = await sessions.signIn(guardId, pin);
    if (!result.ok) {
      if (result.code === 'bad-credentials') {
        return c.json({ error: { code: 'bad-credentials', message: 'wrong guard id or PIN' } }, 401);
      }
      c.header('Retry-After', String(Math.ceil(result.retryAfterMs / 1000)));
      return c.json({ error: { code: result.code, message: 'too many attempts; try again later' } }, 429);
    }
    setCookie(c, GUARD_COOKIE, result.token, {
      ...cookieOptions,
      maxAge: Math.max(1, Math.min(34_560_000, Math.floor((result.expiresAt - now()) / 1000))),
    });
    return c.json({ guard: result.guard, expiresAt: result.expiresAt });
  });

  app.delete('/api/guard/session', (c) => {
    sessions.signOut(getCookie(c, GUARD_COOKIE));
    deleteCookie(c, GUARD_COOKIE, cookieOptions);
    return c.body(null, 204);
  });
}

/** What only a signed-in guard may see or do: the panel's state and events, manual open. */
function guardRoutes(app: Hono<Env>, options: TerminalAppOptions): void {
  const { backend, sessions } = options;
  const guard = requireGuard(sessions);

  app.get('/api/guard/session', guard, (c) => c.json({ guard: c.get('guard') }));

  app.get('/api/state', guard, (c) => c.json({ ...backend.state(), guard: c.get('guard') }));

  app.get('/api/guard/events', guard, (c) => {
    const token = getCookie(c, GUARD_COOKIE);
    return streamSSE(c, (stream) =>
      pump(
        stream,
        () => ({ ...backend.state(), guard: c.get('guard') }),
        (push) => backend.subscribe((update) => push(update.type, update)),
        () => sessions.check(token) !== undefined,
      ),
    );
  });

  app.post('/api/open', guard, limitBody, zValidator('json', manualOpenSchema, validationHook), (c) => {
    const { direction, reason } = c.req.valid('json');
    return c.json(backend.manualOpen({ direction, reason, guard: c.get('guard').name }));
  });
}
