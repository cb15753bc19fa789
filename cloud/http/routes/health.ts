/** `PUT /health` (manager): bulk health colours by ID number (matched via its pseudonym) or personId. */
import { Hono } from 'hono';
import { healthUpdateSchema } from '../../../shared/schemas/http.ts';
import type { AppEnv } from '../app-env.ts';
import type { RouteDeps } from '../app-deps.ts';
import { validate } from '../validation.ts';

export function healthRoutes(deps: RouteDeps) {
  return new Hono<AppEnv>().put(
    '/',
    deps.auth.requireRole(['manager']),
    validate('json', healthUpdateSchema),
    async (c) => c.json(await deps.registry.updateHealth(c.req.valid('json'), c.var.actor)),
  );
}
