/**
 * `GET /api/v1/compounds/:id/exit-quota?since=` (manager): the compound's lockdown exit quota
 * policy and the over-uses the cloud found (docs/edge-agent.md "Exit quota across the compound"),
 * newest first — the manager's view of households let out more often than the quota allows while
 * gates were cut off from each other.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { notFound } from '../http/api-error.ts';
import type { AppEnv } from '../http/app-env.ts';
import type { RouteDeps } from '../http/app-deps.ts';
import { canSee } from '../http/auth-middleware.ts';
import { idParamSchema, validate } from '../http/validation.ts';
import type { ExitQuotaService } from './exit-quota-service.ts';

const DAY_MS = 24 * 3_600_000;
const querySchema = z.object({
  /** Epoch ms; default: the last 30 days. */
  since: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export function mountExitQuotaRoutes(app: Hono<AppEnv>, deps: RouteDeps, exitQuota: ExitQuotaService): void {
  const managers = deps.auth.requireRole(['manager']);
  app.get(
    '/api/v1/compounds/:id/exit-quota',
    managers,
    validate('param', idParamSchema),
    validate('query', querySchema),
    async (c) => {
      const { id } = c.req.valid('param');
      const compound = await deps.store.getCompound(id);
      if (!compound || !canSee(c.var.actor, id)) throw notFound('compound', id);
      const { since, limit } = c.req.valid('query');
      const overuse = await exitQuota.overuses(id, since ?? deps.now() - 30 * DAY_MS, limit);
      return c.json({
        compoundId: id,
        mode: compound.mode,
        policy: { exits: compound.quotaExits, periodHours: compound.quotaPeriodHours },
        overuse,
      });
    },
  );
}
