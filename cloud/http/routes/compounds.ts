/** Compounds: list, create, read, switch mode (audit-logged, pushed to gates), exit quota policy. */
import { Hono } from 'hono';
import { compoundCreateSchema, modeChangeSchema, quotaPolicySchema } from '../../../shared/schemas/http.ts';
import { forbidden, notFound } from '../api-error.ts';
import type { AppEnv } from '../app-env.ts';
import type { RouteDeps } from '../app-deps.ts';
import { canSee, scopedCompound } from '../auth-middleware.ts';
import { idParamSchema, validate } from '../validation.ts';

export function compoundRoutes(deps: RouteDeps) {
  const manager = deps.auth.requireRole(['manager']);
  const visible = (c: { var: AppEnv['Variables'] }, id: string) => {
    if (!canSee(c.var.actor, id)) throw notFound('compound', id);
  };
  return new Hono<AppEnv>()
    .get('/', manager, async (c) => {
      const own = scopedCompound(c.var.actor);
      const compounds = await deps.store.listCompounds();
      return c.json({ compounds: compounds.filter((x) => own === undefined || x.id === own) });
    })
    .post('/', manager, validate('json', compoundCreateSchema), async (c) => {
      if (scopedCompound(c.var.actor) !== undefined) throw forbidden('a compound-bound user cannot create compounds');
      const compound = await deps.registry.createCompound(c.req.valid('json'), c.var.actor);
      return c.json(compound, 201);
    })
    .get('/:id', manager, validate('param', idParamSchema), async (c) => {
      const { id } = c.req.valid('param');
      visible(c, id);
      const compound = await deps.store.getCompound(id);
      if (!compound) throw notFound('compound', id);
      return c.json(compound);
    })
    .put('/:id/mode', manager, validate('param', idParamSchema), validate('json', modeChangeSchema), async (c) => {
      const { id } = c.req.valid('param');
      visible(c, id);
      const { mode, reason } = c.req.valid('json');
      return c.json(await deps.registry.setMode(id, mode, reason, c.var.actor));
    })
    .put('/:id/quota', manager, validate('param', idParamSchema), validate('json', quotaPolicySchema), async (c) => {
      const { id } = c.req.valid('param');
      visible(c, id);
      const { exits, periodHours } = c.req.valid('json');
      return c.json(await deps.registry.setQuotaPolicy(id, exits, periodHours, c.var.actor));
    });
}
