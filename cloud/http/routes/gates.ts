/**
 * Gates: register (admin; the device token is returned once), list with live status, details
 * with recent commands and alarms, remote open and resync (commands over MQTT, audit-logged).
 */
import { Hono } from 'hono';
import {
  gateCreateSchema,
  gateSettingsPatchSchema,
  gatesQuerySchema,
  remoteOpenSchema,
} from '../../../shared/schemas/http.ts';
import { notFound } from '../api-error.ts';
import type { AppEnv } from '../app-env.ts';
import type { RouteDeps } from '../app-deps.ts';
import { canSee, compoundFilter } from '../auth-middleware.ts';
import { idParamSchema, validate } from '../validation.ts';

const RECENT = 20;

export function gateRoutes(deps: RouteDeps) {
  const staff = deps.auth.requireRole(['guard', 'manager']);
  const admin = deps.auth.requireRole([]);
  const managers = deps.auth.requireRole(['manager']);
  const gateOf = async (actor: AppEnv['Variables']['actor'], id: string) => {
    const gate = await deps.store.getGate(id);
    if (!gate || !canSee(actor, gate.compoundId)) throw notFound('gate', id);
    return gate;
  };
  return (
    new Hono<AppEnv>()
      .get('/', staff, validate('query', gatesQuerySchema), async (c) => {
        const compound = compoundFilter(c.var.actor, c.req.valid('query').compound);
        const [gates, statuses] = await Promise.all([
          deps.store.listGates(compound),
          deps.store.latestStatuses(compound),
        ]);
        const statusOf = new Map(statuses.map((s) => [s.gateId, s]));
        return c.json({
          gates: gates.map((g) => ({
            ...g,
            status: statusOf.get(g.id)?.status ?? null,
            statusAt: statusOf.get(g.id)?.receivedAt ?? null,
          })),
        });
      })
      .post('/', admin, validate('json', gateCreateSchema), async (c) => {
        const { gate, token, expiresAt } = await deps.registry.registerGate(c.req.valid('json'), c.var.actor);
        return c.json({ gate, token, tokenExpiresAt: expiresAt }, 201);
      })
      .get('/:id', staff, validate('param', idParamSchema), async (c) => {
        const gate = await gateOf(c.var.actor, c.req.valid('param').id);
        const [status, commands, alarms] = await Promise.all([
          deps.store.latestStatus(gate.id),
          deps.store.recentCommands(gate.id, RECENT),
          deps.store.recentAlarms(gate.id, RECENT),
        ]);
        return c.json({
          gate,
          status: status?.status ?? null,
          statusAt: status?.receivedAt ?? null,
          commands,
          alarms,
        });
      })
      // Settings a manager may change; they reach the gate through its sync (docs/edge-agent.md "Settings from the cloud").
      .patch(
        '/:id',
        managers,
        validate('param', idParamSchema),
        validate('json', gateSettingsPatchSchema),
        async (c) => {
          const gate = await gateOf(c.var.actor, c.req.valid('param').id);
          const updated = await deps.registry.updateGateSettings(gate.id, c.req.valid('json'), c.var.actor);
          return c.json({ gate: updated });
        },
      )
      .post('/:id/open', staff, validate('param', idParamSchema), validate('json', remoteOpenSchema), async (c) => {
        const gate = await gateOf(c.var.actor, c.req.valid('param').id);
        const command = await deps.registry.sendCommand(gate.id, 'open', c.req.valid('json'), c.var.actor);
        return c.json(command, 202);
      })
      .post('/:id/resync', staff, validate('param', idParamSchema), async (c) => {
        const gate = await gateOf(c.var.actor, c.req.valid('param').id);
        const command = await deps.registry.sendCommand(gate.id, 'resync', {}, c.var.actor);
        return c.json(command, 202);
      })
  );
}
