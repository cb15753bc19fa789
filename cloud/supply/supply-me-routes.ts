/**
 * The resident's side of crisis supplies (docs/supplies.md, "Residents"): `GET /api/v1/me/supply`
 * lists the compound's open rounds with the household's allocation, pick-up window, whether it has
 * to apply, has applied, or has claimed (when and where); `POST /api/v1/me/supply/:id/apply`
 * applies for the caller's own household (audited). The household comes from the session, never
 * from a parameter; nothing of another household is ever answered.
 */
import type { Hono } from 'hono';
import { notFound } from '../http/api-error.ts';
import type { AppEnv } from '../http/app-env.ts';
import type { RouteDeps } from '../http/app-deps.ts';
import { idParamSchema, validate } from '../http/validation.ts';
import { type MeEnv, requireResident } from '../me/resident-auth.ts';
import { conflict, type SupplyService } from './supply-service.ts';

export function mountSupplyMeRoutes(app: Hono<AppEnv>, deps: RouteDeps, supply: SupplyService): void {
  const resident = requireResident(deps.auth, deps.store, deps.sessions);
  const me = app as unknown as Hono<MeEnv>;

  me.get('/api/v1/me/supply', resident, async (c) => {
    const { compoundId, householdId } = c.var.resident;
    const state = await supply.awake(compoundId);
    if (!state.awake) return c.json({ awake: false, rounds: [] });
    const rounds = await supply.roundsForResident(compoundId, householdId);
    return c.json({ awake: true, householdId, rounds });
  });

  me.post('/api/v1/me/supply/:id/apply', resident, validate('param', idParamSchema), async (c) => {
    const { compoundId, householdId, personId } = c.var.resident;
    const { id } = c.req.valid('param');
    if ((await supply.compoundOf(id)) !== compoundId) throw notFound('round', id);
    if (householdId === null) throw conflict('no-household', 'you are not registered with a household');
    const result = await supply.apply(id, householdId, c.var.actor.username);
    await deps.store.recordAudit({
      at: deps.now(),
      actor: c.var.actor.username,
      role: c.var.actor.role,
      action: 'supply.apply',
      compoundId,
      target: id,
      detail: { householdId, personId },
    });
    return c.json(
      {
        ...result,
        round: (await supply.roundsForResident(compoundId, householdId)).find((r) => r.roundId === id) ?? null,
      },
      201,
    );
  });
}
