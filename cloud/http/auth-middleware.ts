/**
 * Bearer-token authentication and role checks. Tokens are the shared signed tokens
 * (shared/token.ts); only the HTTP roles are accepted here. `admin` may do everything.
 * A token with a `compound` binds its holder to that compound (every guard has one).
 */
import type { Context, MiddlewareHandler } from 'hono';
import { HTTP_ROLES, type HttpRole } from '../../shared/enums.ts';
import type { KeyRing } from '../../shared/keys.ts';
import { verifyToken } from '../../shared/token.ts';
import type { Actor } from '../registry/actor.ts';
import { forbidden, unauthorized } from './api-error.ts';
import type { AppEnv } from './app-env.ts';

export interface AuthOptions {
  ring: KeyRing;
  now: () => number;
}

function bearerOf(c: Context, allowQueryToken: boolean): string | undefined {
  const header = c.req.header('authorization');
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  if (match) return match[1];
  // EventSource cannot set headers: the live stream also takes `?token=`.
  return allowQueryToken ? c.req.query('token') : undefined;
}

export function createAuth(options: AuthOptions) {
  const authenticate = (c: Context, allowQueryToken: boolean): Actor => {
    const token = bearerOf(c, allowQueryToken);
    if (!token) throw unauthorized();
    const check = verifyToken(token, options.ring, options.now());
    if (!check.ok) throw unauthorized(`token rejected: ${check.reason}`);
    const { sub, role, compound } = check.claims;
    if (!(HTTP_ROLES as readonly string[]).includes(role)) throw forbidden(`a ${role} token cannot use the HTTP API`);
    return { username: sub, role: role as HttpRole, ...(compound !== undefined ? { compound } : {}) };
  };

  /** Lets through callers with one of `roles` (or admin); sets `c.var.actor`. */
  const requireRole =
    (roles: readonly HttpRole[], opts: { allowQueryToken?: boolean } = {}): MiddlewareHandler<AppEnv> =>
    async (c, next) => {
      const actor = authenticate(c, opts.allowQueryToken === true);
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
