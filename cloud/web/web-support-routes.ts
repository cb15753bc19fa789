/**
 * `GET /api/v1/web/*`: what the pages need that the core API lacks (docs/web.md,
 * "API added for the pages"):
 *
 * - `GET /web/compound?compound` (guard, manager): the compound's name, time zone and mode — the
 *   console shows every time in the compound's zone, and a guard may not list compounds;
 * - `GET /web/residents?compound&q&status&offset&limit` (manager): one page of residents with the
 *   total, searched by masked name, household, phone tail or person id (never by full name);
 * - `GET /web/passes?person` (manager): the QR passes issued to one person, newest first.
 *
 * A bound user asking about another compound gets 403 (lists) or 404 (a person), as elsewhere.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { idSchema } from '../../shared/ids.ts';
import type { CloudStore } from '../store/store.ts';
import { MAX_DIRECTORY_PAGE, type ResidentDirectory } from './resident-directory.ts';
import { ApiError, notFound } from '../http/api-error.ts';
import type { AppEnv } from '../http/app-env.ts';
import { type Auth, canSee, compoundFilter } from '../http/auth-middleware.ts';
import { validate } from '../http/validation.ts';

export interface WebSupportDeps {
  auth: Auth;
  store: Pick<CloudStore, 'getCompound' | 'getResident'>;
  directory: Pick<ResidentDirectory, 'page' | 'passes'>;
}

const compoundQuery = z.object({ compound: idSchema.optional() });

export const directoryQuerySchema = z.object({
  compound: idSchema.optional(),
  q: z.string().trim().max(64).optional(),
  status: z.enum(['all', 'active', 'inactive']).default('all'),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
  limit: z.coerce.number().int().min(1).max(MAX_DIRECTORY_PAGE).default(50),
});

const passesQuery = z.object({ person: idSchema });

/** The compound a request is about: the caller's own, or the one asked for (required when unbound). */
function compoundOf(actor: AppEnv['Variables']['actor'], requested: string | undefined): string {
  const compound = compoundFilter(actor, requested);
  if (compound === undefined) {
    throw new ApiError(400, 'invalid-request', 'which compound?', [{ path: 'compound', message: 'required' }]);
  }
  return compound;
}

export function webSupportRoutes(deps: WebSupportDeps): Hono<AppEnv> {
  const staff = deps.auth.requireRole(['guard', 'manager']);
  const manager = deps.auth.requireRole(['manager']);
  return new Hono<AppEnv>()
    .get('/compound', staff, validate('query', compoundQuery), async (c) => {
      const id = compoundOf(c.var.actor, c.req.valid('query').compound);
      const compound = await deps.store.getCompound(id);
      if (!compound) throw notFound('compound', id);
      const { id: _id, name, timeZone, mode, modeReason, modeChangedAt } = compound;
      return c.json({ id, name, timeZone, mode, modeReason, modeChangedAt });
    })
    .get('/residents', manager, validate('query', directoryQuerySchema), async (c) => {
      const q = c.req.valid('query');
      const compoundId = compoundOf(c.var.actor, q.compound);
      return c.json(
        await deps.directory.page({
          compoundId,
          status: q.status,
          offset: q.offset,
          limit: q.limit,
          ...(q.q !== undefined ? { q: q.q } : {}),
        }),
      );
    })
    .get('/passes', manager, validate('query', passesQuery), async (c) => {
      const { person } = c.req.valid('query');
      const resident = await deps.store.getResident(person);
      if (!resident || !canSee(c.var.actor, resident.compoundId)) throw notFound('resident', person);
      return c.json({ personId: person, passes: await deps.directory.passes(person, resident.compoundId) });
    });
}
