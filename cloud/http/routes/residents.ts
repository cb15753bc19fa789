/**
 * Residents (manager): list and read with masked identity, create, CSV import (all or nothing),
 * patch, delete. `?reveal=true` returns the full name and ID number and is audit-logged.
 */
import { Hono } from 'hono';
import {
  residentCreateSchema,
  residentPatchSchema,
  residentRevealQuerySchema,
  residentsQuerySchema,
} from '../../../shared/schemas/http.ts';
import { parseResidentCsvInSlices } from '../../registry/resident-csv.ts';
import type { Resident } from '../../store/store.ts';
import { ApiError, notFound } from '../api-error.ts';
import type { AppEnv } from '../app-env.ts';
import type { RouteDeps } from '../app-deps.ts';
import { canSee, compoundFilter } from '../auth-middleware.ts';
import { idParamSchema, validate } from '../validation.ts';

/** What the API shows of a resident by default: no full name, no ID number, no idHash. */
export function residentView(r: Resident) {
  return {
    personId: r.personId,
    compoundId: r.compoundId,
    householdId: r.householdId,
    kind: r.kind,
    maskedName: r.maskedName,
    maskedIdNumber: r.maskedIdNumber,
    hasPhone: r.phone !== null,
    cards: r.cards,
    elderly: r.elderly,
    validFrom: r.validFrom,
    validTo: r.validTo,
    active: r.active,
    health: r.health,
    healthTs: r.healthTs,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

export function residentRoutes(deps: RouteDeps) {
  const manager = deps.auth.requireRole(['manager']);
  const residentOf = async (actor: AppEnv['Variables']['actor'], id: string) => {
    const resident = await deps.store.getResident(id);
    if (!resident || !canSee(actor, resident.compoundId)) throw notFound('resident', id);
    return resident;
  };
  return new Hono<AppEnv>()
    .get('/', manager, validate('query', residentsQuerySchema), async (c) => {
      const q = c.req.valid('query');
      const compoundId = compoundFilter(c.var.actor, q.compound);
      const page = await deps.store.listResidents({
        ...(compoundId !== undefined ? { compoundId } : {}),
        ...(q.household !== undefined ? { householdId: q.household } : {}),
        limit: q.limit,
        ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
      });
      return c.json({ residents: page.residents.map(residentView), nextCursor: page.nextCursor });
    })
    .post('/', manager, validate('json', residentCreateSchema), async (c) => {
      const resident = await deps.registry.createResident(c.req.valid('json'), c.var.actor);
      return c.json(residentView(resident), 201);
    })
    .post(
      '/import',
      manager,
      // The size limit (MAX_IMPORT_BYTES) and strict UTF-8 are applied app-wide, before this route (cloud/http/body-limits.ts).
      async (c) => {
        const type = c.req.header('content-type') ?? '';
        if (!/^text\/csv\b/i.test(type)) {
          throw new ApiError(415, 'unsupported-media-type', 'send the residents as text/csv');
        }
        const parsed = await parseResidentCsvInSlices(await c.req.text(), new Date(deps.now()));
        const errors = parsed.ok ? await deps.registry.importResidents(parsed.residents, c.var.actor) : parsed;
        if ('errors' in errors) {
          throw new ApiError(
            400,
            'invalid-csv',
            `${errors.errors.length} problem(s) in the CSV; nothing was imported`,
            errors.errors.map((e) => ({ path: `${e.row}${e.column ? `.${e.column}` : ''}`, message: e.message })),
            { rows: errors.errors },
          );
        }
        return c.json({ imported: errors.created + errors.updated, ...errors });
      },
    )
    .get('/:id', manager, validate('param', idParamSchema), validate('query', residentRevealQuerySchema), async (c) => {
      const resident = await residentOf(c.var.actor, c.req.valid('param').id);
      const { reveal, reason } = c.req.valid('query');
      if (reveal !== 'true') return c.json(residentView(resident));
      deps.limits.take(c, 'reveal');
      const identity = await deps.registry.revealIdentity(resident, c.var.actor, reason);
      return c.json({ ...residentView(resident), ...identity });
    })
    .patch('/:id', manager, validate('param', idParamSchema), validate('json', residentPatchSchema), async (c) => {
      const resident = await residentOf(c.var.actor, c.req.valid('param').id);
      const updated = await deps.registry.patchResident(resident.personId, c.req.valid('json'), c.var.actor);
      return c.json(residentView(updated));
    })
    .delete('/:id', manager, validate('param', idParamSchema), async (c) => {
      const resident = await residentOf(c.var.actor, c.req.valid('param').id);
      await deps.registry.deleteResident(resident.personId, c.var.actor);
      return c.body(null, 204);
    });
}
