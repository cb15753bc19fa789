/** `GET /audit` (manager, admin): who changed modes, opened gates, revealed identities, ran traces. */
import { Hono } from 'hono';
import { auditQuerySchema } from '../../../shared/schemas/http.ts';
import type { AppEnv } from '../app-env.ts';
import type { RouteDeps } from '../app-deps.ts';
import { compoundFilter } from '../auth-middleware.ts';
import { validate } from '../validation.ts';

export function auditRoutes(deps: RouteDeps) {
  return new Hono<AppEnv>().get(
    '/',
    deps.auth.requireRole(['manager']),
    validate('query', auditQuerySchema),
    async (c) => {
      const q = c.req.valid('query');
      const compoundId = compoundFilter(c.var.actor, q.compound);
      const page = await deps.store.listAudit({
        ...(compoundId !== undefined ? { compoundId } : {}),
        ...(q.actor !== undefined ? { actor: q.actor } : {}),
        ...(q.action !== undefined ? { action: q.action } : {}),
        ...(q.from !== undefined ? { from: q.from } : {}),
        ...(q.to !== undefined ? { to: q.to } : {}),
        limit: q.limit,
        ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
      });
      return c.json(page);
    },
  );
}
