/**
 * The guard terminal's HTTP app (hono): the page at `/`, `GET /api/state` (JSON), the live stream
 * `GET /api/events` (Server-Sent Events) and `POST /api/open` (manual open, reason required).
 * Served by the edge agent on its own port; it never talks to the cloud.
 */
import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { formatIssues } from '../../shared/config.ts';
import { DIRECTIONS } from '../../shared/enums.ts';
import { TERMINAL_PAGE } from './terminal-page.ts';
import type { TerminalBackend, TerminalUpdate } from './terminal-state.ts';

/** SSE comment lines keep proxies and the browser from closing an idle stream. */
const SSE_KEEPALIVE_MS = 15_000;

export const manualOpenSchema = z.object({
  direction: z.enum(DIRECTIONS).default('in'),
  reason: z.string().trim().min(1, 'a reason is required').max(200),
  guard: z.string().trim().min(1).max(64).default('terminal'),
});

export function createTerminalApp(backend: TerminalBackend): Hono {
  const app = new Hono();

  app.get('/', (c) => c.html(TERMINAL_PAGE));

  app.get('/api/state', (c) => c.json(backend.state()));

  app.get('/api/events', (c) =>
    streamSSE(c, async (stream) => {
      const queue: TerminalUpdate[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = backend.subscribe((update) => {
        queue.push(update);
        wake?.();
      });
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      await stream.writeSSE({ event: 'snapshot', data: JSON.stringify(backend.state()) });
      while (!stream.aborted) {
        const update = queue.shift();
        if (update) {
          await stream.writeSSE({ event: update.type, data: JSON.stringify(update) });
          continue;
        }
        const timeout = new Promise<'idle'>((resolve) => {
          const timer = setTimeout(() => resolve('idle'), SSE_KEEPALIVE_MS);
          wake = () => {
            clearTimeout(timer);
            resolve('idle');
          };
        });
        if ((await timeout) === 'idle' && queue.length === 0 && !stream.aborted) await stream.write(': keepalive\n\n');
        wake = undefined;
      }
      unsubscribe();
    }),
  );

  app.post(
    '/api/open',
    zValidator('json', manualOpenSchema, (result, c) => {
      if (!result.success) {
        const issues = formatIssues(result.error as z.ZodError);
        return c.json({ error: { code: 'invalid-request', message: issues.join('; '), issues } }, 400);
      }
      return undefined;
    }),
    (c) => {
      const request = c.req.valid('json');
      return c.json(backend.manualOpen(request));
    },
  );

  app.notFound((c) => c.json({ error: { code: 'not-found', message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  app.onError((error, c) => {
    // The JSON validator throws HTTPException(400) for a body that is not JSON: the client's fault, not ours.
    if (error instanceof HTTPException && error.status < 500) {
      return c.json({ error: { code: 'invalid-request', message: error.message } }, error.status);
    }
    return c.json({ error: { code: 'internal', message: error.message } }, 500);
  });
  return app;
}
