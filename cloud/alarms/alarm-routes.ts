/**
 * `GET /api/v1/alarms` and `POST /api/v1/alarms/:id/ack` (guard, manager): the alarms of the
 * caller's compound and their acknowledgement. An alarm stays on the consoles until it
 * is acknowledged; the acknowledgement is persisted, audit-logged and pushed on `/live` as
 * `alarm-ack` so every open console clears it.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { idSchema } from '../../shared/ids.ts';
import type { AlarmAckStore } from './alarm-ack-store.ts';
import type { LiveHub } from '../live/live-hub.ts';
import type { AuditStore } from '../store/store.ts';
import { notFound } from '../http/api-error.ts';
import type { AppEnv } from '../http/app-env.ts';
import { type Auth, canSee, compoundFilter } from '../http/auth-middleware.ts';
import { validate } from '../http/validation.ts';

export interface AlarmRouteDeps {
  auth: Auth;
  alarms: AlarmAckStore;
  live: LiveHub;
  store: Pick<AuditStore, 'recordAudit'>;
  now: () => number;
}

export const alarmsQuerySchema = z.object({
  compound: idSchema.optional(),
  state: z.enum(['open', 'all']).default('open'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const alarmAckBodySchema = z.object({ note: z.string().max(200).optional() });

const alarmIdParam = z.object({ id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER) });

export function alarmRoutes(deps: AlarmRouteDeps): Hono<AppEnv> {
  const staff = deps.auth.requireRole(['guard', 'manager']);
  return new Hono<AppEnv>()
    .get('/', staff, validate('query', alarmsQuerySchema), async (c) => {
      const q = c.req.valid('query');
      const compoundId = compoundFilter(c.var.actor, q.compound);
      const alarms = await deps.alarms.list({
        ...(compoundId !== undefined ? { compoundId } : {}),
        state: q.state,
        limit: q.limit,
      });
      return c.json({ alarms });
    })
    .post('/:id/ack', staff, validate('param', alarmIdParam), validate('json', alarmAckBodySchema), async (c) => {
      const { id } = c.req.valid('param');
      const actor = c.var.actor;
      const existing = await deps.alarms.get(id);
      // Another compound's alarm answers exactly like a missing one.
      if (!existing || !canSee(actor, existing.compoundId)) throw notFound('alarm', String(id));
      const at = deps.now();
      const note = c.req.valid('json').note ?? null;
      const result = await deps.alarms.acknowledge(id, actor.username, at, note);
      if (result.outcome === 'not-found') throw notFound('alarm', String(id));
      if (result.outcome === 'acknowledged') {
        await deps.store.recordAudit({
          at,
          actor: actor.username,
          role: actor.role,
          action: 'alarm.ack',
          compoundId: existing.compoundId,
          target: String(id),
          detail: { kind: existing.kind, gateId: existing.gateId, ...(note !== null ? { note } : {}) },
        });
        deps.live.publish({
          type: 'alarm-ack',
          data: { alarmId: id, gateId: existing.gateId, compoundId: existing.compoundId, by: actor.username, at },
        });
      }
      return c.json(result.alarm);
    });
}
