/**
 * `GET /live` (guard, manager): Server-Sent Events of entries, alarms and gate status changes of
 * the caller's compound (or, for unbound users, all or `?compound=`). A `heartbeat` event
 * `{ts, intervalMs}` right after the stream opens and then every 15 s keeps proxies from closing an
 * idle stream and lets a page tell a live stream from a stalled one: EventSource hides comment
 * lines from scripts, so the heartbeat is a real event (docs/web.md, "Honest states"). A client
 * that falls too far behind is disconnected rather than buffered without bound; EventSource
 * reconnects by itself.
 */
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { idSchema } from '../../../shared/ids.ts';
import type { AppEnv } from '../app-env.ts';
import type { RouteDeps } from '../app-deps.ts';
import { compoundFilter } from '../auth-middleware.ts';
import { validate } from '../validation.ts';

export const LIVE_HEARTBEAT_MS = 15_000;
/** How often an open stream checks that its session still lives (a logout ends the stream within this). */
export const LIVE_SESSION_CHECK_MS = 1000;
/** Writes queued for one client before it is dropped as too slow. */
export const LIVE_MAX_PENDING = 1000;

const liveQuerySchema = z.object({ compound: idSchema.optional(), token: z.string().max(4096).optional() });

export function liveRoutes(deps: RouteDeps) {
  return new Hono<AppEnv>().get(
    '/',
    deps.auth.requireRole(['guard', 'manager'], { allowQueryToken: true }),
    validate('query', liveQuerySchema),
    (c) => {
      const compoundId = compoundFilter(c.var.actor, c.req.valid('query').compound);
      return streamSSE(c, async (stream) => {
        let end!: () => void;
        const ended = new Promise<void>((resolve) => {
          end = resolve;
        });
        let pending = 0;
        const unsubscribe = deps.live.subscribe((message) => {
          if (pending >= LIVE_MAX_PENDING) {
            end();
            return;
          }
          pending += 1;
          stream
            .writeSSE({ event: message.type, data: JSON.stringify(message.data) })
            .catch(() => end())
            .finally(() => {
              pending -= 1;
            });
        }, compoundId);
        const removeCloser = deps.live.onShutdown(end);
        stream.onAbort(end);
        deps.metrics.liveClients.set(deps.live.listenerCount);
        const intervalMs = deps.liveHeartbeatMs ?? LIVE_HEARTBEAT_MS;
        const beat = () =>
          stream
            .writeSSE({ event: 'heartbeat', data: JSON.stringify({ ts: deps.now(), intervalMs }) })
            .catch(() => end());
        const heartbeat = setInterval(beat, intervalMs);
        const sessionId = c.var.actor.sessionId;
        const sessionCheck = setInterval(() => {
          if (sessionId === undefined) return end();
          deps.sessions.alive(sessionId).then(
            (alive) => alive || end(),
            () => end(),
          );
        }, LIVE_SESSION_CHECK_MS);
        try {
          await stream.write(': connected\n\n');
          await beat();
          await ended;
        } finally {
          clearInterval(heartbeat);
          clearInterval(sessionCheck);
          unsubscribe();
          removeCloser();
          deps.metrics.liveClients.set(deps.live.listenerCount);
          await stream.close().catch(() => undefined);
        }
      });
    },
  );
}
