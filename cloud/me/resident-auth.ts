/**
 * The `resident` role (docs/security.md, "The resident role"): a person of the registry signed in
 * on the resident side. The session is a row of the cloud's session store like any other (ended by
 * logout, a password change, a new activation, idle time), whose user name is `r:<personId>` — a
 * name no staff login can have (`[a-z0-9._-]` only), so the two never collide.
 *
 * `requireResident` lets through residents only (not even an admin: an admin is nobody's
 * household) and checks on every request that the person is still registered, active and in the
 * session's compound: a manager who deletes or deactivates a resident ends that resident's access
 * at the next request.
 */
import type { MiddlewareHandler } from 'hono';
import type { Auth } from '../http/auth-middleware.ts';
import { forbidden, unauthorized } from '../http/api-error.ts';
import type { AppEnv } from '../http/app-env.ts';
import type { SessionService } from '../auth/session-service.ts';
import type { Actor } from '../registry/actor.ts';
import type { CloudStore, Resident } from '../store/store.ts';

const PREFIX = 'r:';

export function residentUsername(personId: string): string {
  return `${PREFIX}${personId}`;
}

/** The person a resident actor is; undefined for anyone else. */
export function residentPersonId(actor: Actor): string | undefined {
  return actor.role === 'resident' && actor.username.startsWith(PREFIX)
    ? actor.username.slice(PREFIX.length)
    : undefined;
}

/** The hono environment of `/api/v1/me/…`: the actor plus the resident record it is. */
export interface MeEnv {
  Variables: AppEnv['Variables'] & { resident: Resident };
}

export function requireResident(
  auth: Auth,
  store: Pick<CloudStore, 'getResident'>,
  sessions: SessionService,
): MiddlewareHandler<MeEnv> {
  const signedIn = auth.requireRole(['resident']) as unknown as MiddlewareHandler<MeEnv>;
  return async (c, next) =>
    signedIn(c, async () => {
      const actor = c.var.actor;
      const personId = residentPersonId(actor);
      if (personId === undefined) throw forbidden('only a signed-in resident has a household');
      const resident = await store.getResident(personId);
      if (!resident?.active || resident.compoundId !== actor.compound || resident.kind === 'visitor') {
        await sessions.endAllOf(actor.username, 'deleted');
        throw unauthorized('session ended: this resident is no longer registered');
      }
      c.set('resident', resident);
      await next();
    });
}
