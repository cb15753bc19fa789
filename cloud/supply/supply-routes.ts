/**
 * `/api/v1/supply/rounds…` (docs/supplies.md, "HTTP"): the manager's rounds (create, progress,
 * export, close), the provider's stock, claims recorded in the cloud, applications. Every change is
 * audited; a provider sees only the rounds that name it and never a household or a person.
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { idSchema } from '../../shared/ids.ts';
import { cloudClaimSchema, roundCreateSchema, stockUpdateSchema } from '../../shared/schemas/supply.ts';
import { attachmentDisposition, toCsv } from '../analytics/csv.ts';
import { notFound } from '../http/api-error.ts';
import type { AppEnv } from '../http/app-env.ts';
import type { RouteDeps } from '../http/app-deps.ts';
import { canSee, compoundFilter } from '../http/auth-middleware.ts';
import { idParamSchema, validate } from '../http/validation.ts';
import type { RoundView, SupplyService } from './supply-service.ts';
import { mountSupplyMeRoutes } from './supply-me-routes.ts';

const BASE = '/api/v1/supply/rounds';
const listQuery = z.object({ compound: idSchema.optional() });
const claimsQuery = z.object({
  format: z.enum(['json', 'csv']).default('json'),
  limit: z.coerce.number().int().min(1).max(100_000).default(10_000),
});
const applySchema = z.object({ householdId: idSchema });

/** What every group of supply routes shares: the role checks, the audit, the round's visibility. */
interface SupplyKit {
  deps: RouteDeps;
  supply: SupplyService;
  managers: ReturnType<RouteDeps['auth']['requireRole']>;
  readers: ReturnType<RouteDeps['auth']['requireRole']>;
  recorders: ReturnType<RouteDeps['auth']['requireRole']>;
  audit(
    c: Context<AppEnv>,
    action: string,
    compoundId: string,
    target: string,
    detail: Record<string, unknown>,
  ): Promise<unknown>;
  /** The round's compound, if the caller may see it (a provider: only a round that names them); 404 otherwise. */
  roundFor(c: Context<AppEnv>, roundId: string): Promise<string>;
}

export function mountSupplyRoutes(app: Hono<AppEnv>, deps: RouteDeps, supply: SupplyService): void {
  mountSupplyMeRoutes(app, deps, supply);
  const kit: SupplyKit = {
    deps,
    supply,
    managers: deps.auth.requireRole(['manager']),
    readers: deps.auth.requireRole(['manager', 'provider']),
    recorders: deps.auth.requireRole(['manager', 'guard']),
    audit: (c, action, compoundId, target, detail) =>
      deps.store.recordAudit({
        at: deps.now(),
        actor: c.var.actor.username,
        role: c.var.actor.role,
        action,
        compoundId,
        target,
        detail,
      }),
    roundFor: async (c, roundId) => {
      const compoundId = await supply.compoundOf(roundId);
      const actor = c.var.actor;
      const visible =
        compoundId !== undefined &&
        canSee(actor, compoundId) &&
        (actor.role !== 'provider' || (await supply.providersOf(roundId)).includes(actor.username));
      if (!visible) throw notFound('round', roundId);
      return compoundId;
    },
  };
  roundRoutes(app, kit);
  stockRoutes(app, kit);
  claimRoutes(app, kit);
  applicantRoutes(app, kit);
}

/** The rounds: list (with the sleeping rule), create, one round with its progress. */
function roundRoutes(app: Hono<AppEnv>, { deps, supply, managers, readers, audit, roundFor }: SupplyKit): void {
  app.get(BASE, readers, validate('query', listQuery), async (c) => {
    const actor = c.var.actor;
    const requested = c.req.valid('query').compound;
    const compoundId = compoundFilter(actor, requested);
    if (actor.role === 'provider')
      return c.json({ rounds: (await supply.listRounds(compoundId, actor.username)).map(providerView) });
    if (compoundId === undefined) return c.json({ rounds: await supply.listRounds(undefined) });
    if (!canSee(actor, compoundId)) throw notFound('compound', compoundId);
    const state = await supply.awake(compoundId);
    return c.json({
      compoundId,
      awake: state.awake,
      mode: state.mode,
      ...(state.awake ? {} : { asleep: state.why }),
      rounds: await supply.listRounds(compoundId),
    });
  });

  app.post(BASE, managers, validate('json', roundCreateSchema), async (c) => {
    const input = c.req.valid('json');
    if (!canSee(c.var.actor, input.compoundId) || !(await deps.store.getCompound(input.compoundId))) {
      throw notFound('compound', input.compoundId);
    }
    const round = await supply.createRound(input, c.var.actor.username);
    await audit(c, 'supply.round.create', round.compoundId, round.roundId, {
      name: round.name,
      form: round.form,
      eligibility: round.eligibility,
      woken: round.woken,
    });
    return c.json(round, 201);
  });

  app.get(`${BASE}/:id`, readers, validate('param', idParamSchema), async (c) => {
    const { id } = c.req.valid('param');
    await roundFor(c, id);
    const round = await supply.view(id);
    return c.json(c.var.actor.role === 'provider' ? providerView(round) : round);
  });
}

/** The provider's (or manager's) stock, and closing a round. */
function stockRoutes(app: Hono<AppEnv>, { supply, managers, readers, audit, roundFor }: SupplyKit): void {
  app.put(
    `${BASE}/:id/stock`,
    readers,
    validate('param', idParamSchema),
    validate('json', stockUpdateSchema),
    async (c) => {
      const { id } = c.req.valid('param');
      const compoundId = await roundFor(c, id);
      const { items } = c.req.valid('json');
      const round = await supply.updateStock(id, items);
      await audit(c, 'supply.stock', compoundId, id, { items });
      return c.json(c.var.actor.role === 'provider' ? providerView(round) : round);
    },
  );

  app.post(`${BASE}/:id/close`, managers, validate('param', idParamSchema), async (c) => {
    const { id } = c.req.valid('param');
    const compoundId = await roundFor(c, id);
    const round = await supply.close(id, c.var.actor.username);
    await audit(c, 'supply.round.close', compoundId, id, { served: round.progress.served });
    return c.json(round);
  });
}

/** Every claim of a round (JSON, or the audited CSV export), and a claim recorded in the cloud. */
function claimRoutes(app: Hono<AppEnv>, { deps, supply, managers, recorders, audit, roundFor }: SupplyKit): void {
  app.get(
    `${BASE}/:id/claims`,
    managers,
    validate('param', idParamSchema),
    validate('query', claimsQuery),
    async (c) => {
      const { id } = c.req.valid('param');
      const compoundId = await roundFor(c, id);
      const { format, limit } = c.req.valid('query');
      const claims = await supply.claims(id, limit);
      if (format === 'json') return c.json({ roundId: id, claims });
      deps.limits.take(c, 'export');
      await audit(c, 'supply.export', compoundId, id, { rows: claims.length });
      return new Response(claimsCsv(claims), {
        status: 200,
        headers: {
          'content-type': 'text/csv; charset=utf-8',
          'content-disposition': attachmentDisposition(`supply-${id}.csv`),
        },
      });
    },
  );

  app.post(
    `${BASE}/:id/claims`,
    recorders,
    validate('param', idParamSchema),
    validate('json', cloudClaimSchema),
    async (c) => {
      const { id } = c.req.valid('param');
      const compoundId = await roundFor(c, id);
      const input = c.req.valid('json');
      const member = input.personId === undefined ? undefined : await supply.householdOf(compoundId, input.personId);
      if (member !== input.householdId && input.personId !== undefined)
        throw notFound('household member', input.personId);
      const claim = await supply.recordCloudClaim(id, input, c.var.actor.username);
      await audit(c, 'supply.claim', compoundId, id, {
        claimId: claim.claimId,
        householdId: input.householdId,
        method: input.method,
        reason: input.reason,
      });
      return c.json(claim, 201);
    },
  );
}

/** A manager records an application for a household without the resident side. */
function applicantRoutes(app: Hono<AppEnv>, { supply, managers, audit, roundFor }: SupplyKit): void {
  app.post(
    `${BASE}/:id/applicants`,
    managers,
    validate('param', idParamSchema),
    validate('json', applySchema),
    async (c) => {
      const { id } = c.req.valid('param');
      const compoundId = await roundFor(c, id);
      const { householdId } = c.req.valid('json');
      if (!(await supply.householdKnown(compoundId, householdId))) {
        throw notFound('household', householdId);
      }
      const result = await supply.apply(id, householdId, c.var.actor.username);
      await audit(c, 'supply.apply', compoundId, id, { householdId });
      return c.json(result, 201);
    },
  );
}

const CSV_HEADER = [
  'claim',
  'household',
  'member',
  'point',
  'time',
  'method',
  'outcome',
  'refusal',
  'decided by',
  'standing',
  'guard',
  'reason',
];

/** The export: one row per claim, times in UTC ISO 8601. */
function claimsCsv(claims: Awaited<ReturnType<SupplyService['claims']>>): string {
  const rows = claims.map((k) => [
    k.claimId,
    k.householdId,
    k.maskedName,
    k.gateId,
    new Date(k.ts).toISOString(),
    k.method,
    k.outcome,
    k.refusal,
    k.decidedBy,
    k.standing,
    k.guard,
    k.reason,
  ]);
  return toCsv(CSV_HEADER, rows);
}

/** What a provider sees of a round: items, stock, counts — no household, no person, no claim. */
function providerView(round: RoundView) {
  const { roundId, compoundId, name, items, form, window, status, stock, progress } = round;
  return {
    roundId,
    compoundId,
    name,
    items,
    form,
    window,
    status,
    stock,
    progress: { households: progress.households, served: progress.served, remaining: progress.remaining },
  };
}
