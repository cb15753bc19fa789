/**
 * `GET /events` (manager, guard): passages filtered by compound, gate, person, time and result,
 * newest first with cursor pagination. Each passage carries the person's masked name (what the
 * guard console shows); guards get no idHash (docs/architecture.md rule 5).
 */
import { Hono } from 'hono';
import { eventsQuerySchema } from '../../../shared/schemas/http.ts';
import type { AppEnv } from '../app-env.ts';
import type { RouteDeps } from '../app-deps.ts';
import { compoundFilter } from '../auth-middleware.ts';
import { validate } from '../validation.ts';

export function eventRoutes(deps: RouteDeps) {
  return new Hono<AppEnv>().get(
    '/',
    deps.auth.requireRole(['manager', 'guard']),
    validate('query', eventsQuerySchema),
    async (c) => {
      const q = c.req.valid('query');
      const compoundId = compoundFilter(c.var.actor, q.compound);
      const page = await deps.store.queryEvents({
        ...(compoundId !== undefined ? { compoundId } : {}),
        ...(q.gate !== undefined ? { gateId: q.gate } : {}),
        ...(q.person !== undefined ? { personId: q.person } : {}),
        ...(q.result !== undefined ? { result: q.result } : {}),
        ...(q.from !== undefined ? { from: q.from } : {}),
        ...(q.to !== undefined ? { to: q.to } : {}),
        limit: q.limit,
        ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
      });
      const people = [...new Set(page.events.flatMap((e) => e.personId ?? []))];
      const names = await deps.store.maskedNames(people);
      const visitors = await deps.store.visitorsAmong(people);
      const guard = c.var.actor.role === 'guard';
      const events = page.events.map(({ idHash, ...rest }) => ({
        ...rest,
        ...(idHash !== undefined && !guard ? { idHash } : {}),
        maskedName: rest.personId ? (names.get(rest.personId) ?? null) : null,
        ...(rest.personId && visitors.has(rest.personId) ? { visitor: true } : {}),
      }));
      return c.json({ events, nextCursor: page.nextCursor });
    },
  );
}
