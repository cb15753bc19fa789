/**
 * Bearer-token authentication and role checks. Tokens are the shared signed tokens
 * (shared/token.ts); only the HTTP roles are accepted here. `admin` may do everything.
 * A token with a `compound` binds its holder to that compound (every guard has one).
 *
 * A signature is not enough: the token must name a live server-side session
 * (cloud/auth/session-service.ts), so logout, password change and disabling end it at once.
 * A live-stream ticket (`use: 'live'`) is accepted only where a route asks for it (`GET /live`),
 * only in the query string, and never as a bearer header — it cannot mint or change anything.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { SESSION_ROLES, type SessionRole } from '../../shared/enums.ts';
import type { KeyRing } from '../../shared/keys.ts';
import { verifyToken } from '../../shared/token.ts';
import type { SessionService } from '../auth/session-service.ts';
import type { Actor } from '../registry/actor.ts';
import { forbidden, unauthorized } from './api-error.ts';
import type { AppEnv } from './app-env.ts';

export interface AuthOptions {
  ring: KeyRing;
  now: () => number;
  sessions: SessionService;
}

function credentialOf(c: Context, allowTicket: boolean): { token: string; inQuery: boolean } | undefined {
  const header = c.req.header('authorization');
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  if (match) return { token: match[1]!, inQuery: false };
  // EventSource cannot set headers: the live stream takes a short-lived ticket as `?token=`.
  const query = allowTicket ? c.req.query('token') : undefined;
  return query ? { token: query, inQuery: true } : undefined;
}

export function createAuth(options: AuthOptions) {
  const authenticate = async (c: Context, allowTicket: boolean): Promise<Actor> => {
    const credential = credentialOf(c, allowTicket);
    if (!credential) throw unauthorized();
    const check = verifyToken(credential.token, options.ring, options.now());
    if (!check.ok) throw unauthorized(`token rejected: ${check.reason}`);
    const { sub, role, compound, jti, use } = check.claims;
    if (!(SESSION_ROLES as readonly string[]).includes(role))
      throw forbidden(`a ${role} token cannot use the HTTP API`);
    const isTicket = use === 'live';
    if (isTicket !== credential.inQuery) {
      // A ticket as a bearer header, or a sign-in token in a URL (where logs would keep it).
      throw unauthorized(isTicket ? 'a live ticket only opens the live stream' : 'send the token as a bearer header');
    }
    const session = await options.sessions.check(check.claims);
    if (session !== 'ok') throw unauthorized(`session ${session}`);
    return {
      username: sub,
      role: role as SessionRole,
      ...(compound !== undefined ? { compound } : {}),
      sessionId: check.claims.sid ?? jti,
    };
  };

  /**
   * Lets through callers with one of `roles` (or admin); sets `c.var.actor`. A `resident` passes only
   * where a route names that role (the resident side, cloud/me/). `allowQueryToken`:
   * the route also takes a live ticket as `?token=` (the live stream alone).
   */
  const requireRole =
    (roles: readonly SessionRole[], opts: { allowQueryToken?: boolean } = {}): MiddlewareHandler<AppEnv> =>
    async (c, next) => {
      const actor = await authenticate(c, opts.allowQueryToken === true);
      if (actor.role !== 'admin' && !roles.includes(actor.role)) throw forbidden();
      c.set('actor', actor);
      await next();
    };

  return { requireRole };
}

export type Auth = ReturnType<typeof createAuth>;

/** Whether the actor is bound to one compound. */
export function scopedCompound(actor: Actor): string | undefined {
  return actor.role === 'admin' ? undefined : actor.compound;
}

/**
 * The compound a list query may see: a bound actor sees only theirs (asking for another is 403),
 * everyone else what they asked for.
 */
export function compoundFilter(actor: Actor, requested: string | undefined): string | undefined {
  const own = scopedCompound(actor);
  if (own === undefined) return requested;
  if (requested !== undefined && requested !== own) throw forbidden('you may only see your compound');
  return own;
}

/** Whether a bound actor may touch a record of `compoundId` (callers answer 404 when not). */
export function canSee(actor: Actor, compoundId: string): boolean {
  const own = scopedCompound(actor);
  return own === undefined || own === compoundId;
}
