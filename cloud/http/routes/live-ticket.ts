/**
 * `POST /api/v1/auth/live-ticket` (guard, manager): a one-minute token for `GET /live?token=`.
 *
 * A browser's `EventSource` cannot send an `Authorization` header, so the live stream also takes
 * its token in the query string (cloud/http/auth-middleware.ts). A URL ends up in proxy and
 * access logs; handing it the 12-hour sign-in token would leak a long-lived credential there. The
 * page instead trades its bearer token for a ticket that expires after `LIVE_TICKET_TTL_MS`. The
 * ticket is checked when the stream opens; an open stream outlives it. When the stream drops and
 * EventSource's own retry is refused (expired ticket → 401), the page fetches a new ticket.
 *
 * A ticket is marked `use: 'live'` and names its session (`sid`): the authentication accepts it
 * only in the query string of `GET /live` — never as a bearer header, so it cannot mint another
 * ticket or call any other route — and only while the sign-in session it came from lives; the
 * open stream ends within a second of that session's end.
 */
import { Hono } from 'hono';
import type { SigningKey } from '../../../shared/keys.ts';
import { signToken } from '../../../shared/token.ts';
import type { AppEnv } from '../app-env.ts';
import type { Auth } from '../auth-middleware.ts';

export const LIVE_TICKET_TTL_MS = 60_000;

export interface LiveTicketDeps {
  auth: Auth;
  signingKey: SigningKey;
  now: () => number;
}

export function liveTicketRoutes(deps: LiveTicketDeps): Hono<AppEnv> {
  return new Hono<AppEnv>().post('/', deps.auth.requireRole(['guard', 'manager']), (c) => {
    const { username, role, compound, sessionId } = c.var.actor;
    const now = deps.now();
    const expiresAt = now + LIVE_TICKET_TTL_MS;
    const ticket = signToken(
      {
        sub: username,
        role,
        ...(compound !== undefined ? { compound } : {}),
        exp: expiresAt,
        iat: now,
        use: 'live',
        ...(sessionId !== undefined ? { sid: sessionId } : {}),
      },
      deps.signingKey,
    );
    return c.json({ ticket, expiresAt });
  });
}
