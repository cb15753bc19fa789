/**
 * Return registration (返沪登记) and its review (docs/web.md, "The resident side").
 *
 * A resident registers who of the household came back to the city, from where, when and how. The
 * compound's policy (`returnYellowDays`, `returnRelease`) then sets each traveller's health colour
 * to yellow — through `RegistryService.updateHealth`, i.e. the same change log and `health` change
 * every gate applies as for any health feed — unless it is red already (a return never lowers red).
 * The colour goes back to what it was before when the yellow period ends (`after-days`, by the
 * release job below) or when a manager clears the registration; `after-review` waits for the
 * manager alone. A later colour from anyone else (a health feed, a manager) wins: the release only
 * restores a colour this registration set and nobody changed since.
 *
 * - `POST /me/returns {origin, returnDate, transport, transportDetail?, members}` (resident; members
 *   of their household only), `GET /me/returns`;
 * - `GET /returns?compound&status=pending|all` (manager): the list to review, masked names only;
 * - `POST /returns/:id/review {decision: clear|keep, note?}` (manager): `clear` restores the colours
 *   now, `keep` leaves them for a manager to change by hand; audited `return.review`;
 * - `GET/PUT /compounds/:id/resident-policy` (manager): the compound's resident-side policy, audited
 *   `resident-policy.change`.
 */
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import type { HealthColour } from '../../shared/enums.ts';
import {
  residentPolicySchema,
  returnRegistrationSchema,
  returnReviewSchema,
  returnsQuerySchema,
} from '../../shared/schemas/resident-side.ts';
import type { Logger } from '../../shared/log.ts';
import { ApiError, notFound } from '../http/api-error.ts';
import type { AppEnv } from '../http/app-env.ts';
import type { RouteDeps } from '../http/app-deps.ts';
import { canSee, compoundFilter } from '../http/auth-middleware.ts';
import { idParamSchema, validate } from '../http/validation.ts';
import type { Actor } from '../registry/actor.ts';
import type { RegistryService } from '../registry/registry-service.ts';
import type { CloudStore, Resident } from '../store/store.ts';
import { type PeriodicJob, startPeriodicJob } from './periodic-job.ts';
import { type MeEnv, requireResident } from './resident-auth.ts';
import type { ResidentSideStore, ReturnRow } from './resident-side-store.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface ReturnDeps extends RouteDeps {
  side: ResidentSideStore;
}

const returnIdParam = z.object({ id: z.string().regex(/^[0-9a-f]{16}$/) });

/** The actor the release job acts as: recorded in the audit log as such. */
function systemActor(compoundId: string): Actor {
  return { username: 'system:return-release', role: 'manager', compound: compoundId };
}

/**
 * Gives back the colours a registration set, where nobody changed them since; closes it. Returns
 * false when the registration was no longer pending (a manager or another instance was faster).
 */
export async function releaseReturn(
  deps: {
    side: ResidentSideStore;
    store: Pick<CloudStore, 'getResident'>;
    registry: RegistryService;
    now: () => number;
  },
  row: ReturnRow,
  status: 'released' | 'cleared',
  actor: Actor,
  note: string | null,
): Promise<boolean> {
  const now = deps.now();
  if (!(await deps.side.closeReturn(row.returnId, status, actor.username, now, note))) return false;
  const updates: { personId: string; colour: HealthColour; ts: number }[] = [];
  for (const m of row.members) {
    if (m.setTs === null) continue;
    const person = await deps.store.getResident(m.personId);
    // Someone set a colour after ours (a feed, a manager): theirs stands.
    if (!person || person.healthTs !== m.setTs || person.health !== 'yellow') continue;
    updates.push({ personId: m.personId, colour: m.previousColour, ts: Math.max(now, m.setTs + 1) });
  }
  if (updates.length > 0) {
    await deps.registry.updateHealth(updates, actor);
    for (const u of updates) await deps.side.memberRestored(row.returnId, u.personId, now);
  }
  return true;
}

function returnView(r: ReturnRow, names: Map<string, string>) {
  return {
    returnId: r.returnId,
    compoundId: r.compoundId,
    householdId: r.householdId,
    origin: r.origin,
    returnDate: r.returnDate,
    transport: r.transport,
    transportDetail: r.transportDetail,
    createdAt: r.createdAt,
    yellowUntil: r.yellowUntil,
    status: r.status,
    reviewedBy: r.reviewedBy,
    reviewedAt: r.reviewedAt,
    reviewNote: r.reviewNote,
    registeredBy: names.get(r.registeredBy) ?? null,
    members: r.members.map((m) => ({
      personId: m.personId,
      maskedName: names.get(m.personId) ?? null,
      previousColour: m.previousColour,
      madeYellow: m.setTs !== null,
      restored: m.restoredAt !== null,
    })),
  };
}

async function namesOf(store: Pick<CloudStore, 'maskedNames'>, rows: readonly ReturnRow[]) {
  return store.maskedNames([...new Set(rows.flatMap((r) => [r.registeredBy, ...r.members.map((m) => m.personId)]))]);
}

/** The registered travellers: active people of the resident's own household (or the resident); 400 otherwise. */
async function travellersOf(
  store: Pick<CloudStore, 'getResident'>,
  me: Resident,
  members: string[],
): Promise<Resident[]> {
  const travellers: Resident[] = [];
  for (const [i, personId] of members.entries()) {
    const person = personId === me.personId ? me : await store.getResident(personId);
    const same =
      person &&
      person.compoundId === me.compoundId &&
      person.active &&
      person.kind !== 'visitor' &&
      (person.personId === me.personId || (me.householdId !== null && person.householdId === me.householdId));
    if (!same) {
      throw new ApiError(400, 'invalid-request', 'only people of your household', [
        { path: `members.${i}`, message: 'not of your household' },
      ]);
    }
    travellers.push(person);
  }
  return travellers;
}

export function meReturnRoutes(deps: ReturnDeps): Hono<MeEnv> {
  const resident = requireResident(deps.auth, deps.store, deps.sessions);
  return new Hono<MeEnv>()
    .post('/', resident, validate('json', returnRegistrationSchema), async (c) => {
      const me = c.var.resident;
      const actor = c.var.actor;
      const body = c.req.valid('json');
      const members = [...new Set(body.members)];
      const travellers = await travellersOf(deps.store, me, members);
      const policy = await deps.side.policyOf(me.compoundId);
      const now = deps.now();
      const makeYellow = policy.returnYellowDays > 0 || policy.returnRelease === 'after-review';
      const row = {
        returnId: randomBytes(8).toString('hex'),
        compoundId: me.compoundId,
        householdId: me.householdId,
        registeredBy: me.personId,
        origin: body.origin,
        returnDate: body.returnDate,
        transport: body.transport,
        transportDetail: body.transportDetail ?? null,
        createdAt: now,
        yellowUntil:
          policy.returnRelease === 'after-days' && makeYellow ? now + policy.returnYellowDays * DAY_MS : null,
        // A return never lowers red (nor touches a colour set in the future by a feed's clock).
        members: travellers.map((p) => ({
          personId: p.personId,
          previousColour: p.health,
          // Newer than the stored colour's ts, which the latest-wins rule requires.
          setTs:
            makeYellow && p.health !== 'red' && p.health !== 'yellow' && (p.healthTs ?? 0) <= now
              ? Math.max(now, (p.healthTs ?? 0) + 1)
              : null,
          restoredAt: null,
        })),
      };
      await deps.side.insertReturn(row);
      const updates = row.members.flatMap((m) =>
        m.setTs === null ? [] : [{ personId: m.personId, colour: 'yellow' as const, ts: m.setTs }],
      );
      if (updates.length > 0) await deps.registry.updateHealth(updates, actor);
      await deps.store.recordAudit({
        at: now,
        actor: actor.username,
        role: actor.role,
        action: 'return.register',
        compoundId: me.compoundId,
        target: row.returnId,
        detail: {
          members,
          origin: body.origin,
          returnDate: body.returnDate,
          transport: body.transport,
          yellow: updates.length,
        },
      });
      const saved = (await deps.side.returnById(row.returnId))!;
      return c.json(returnView(saved, await namesOf(deps.store, [saved])), 201);
    })
    .get('/', resident, async (c) => {
      const me = c.var.resident;
      const rows = await deps.side.returnsOfHousehold(me.compoundId, me.householdId, me.personId);
      const names = await namesOf(deps.store, rows);
      return c.json({ returns: rows.map((r) => returnView(r, names)) });
    });
}

export function returnReviewRoutes(deps: ReturnDeps): Hono<AppEnv> {
  const manager = deps.auth.requireRole(['manager']);
  return new Hono<AppEnv>()
    .get('/', manager, validate('query', returnsQuerySchema), async (c) => {
      const q = c.req.valid('query');
      const compoundId = compoundFilter(c.var.actor, q.compound);
      if (compoundId === undefined) {
        throw new ApiError(400, 'invalid-request', 'which compound?', [{ path: 'compound', message: 'required' }]);
      }
      const rows = await deps.side.returnsOfCompound(compoundId, q.status);
      const names = await namesOf(deps.store, rows);
      return c.json({ returns: rows.map((r) => returnView(r, names)) });
    })
    .post('/:id/review', manager, validate('param', returnIdParam), validate('json', returnReviewSchema), async (c) => {
      const { id } = c.req.valid('param');
      const { decision, note } = c.req.valid('json');
      const row = await deps.side.returnById(id);
      if (!row || !canSee(c.var.actor, row.compoundId)) throw notFound('return registration', id);
      const done =
        decision === 'clear'
          ? await releaseReturn(deps, row, 'cleared', c.var.actor, note ?? null)
          : await deps.side.closeReturn(id, 'kept', c.var.actor.username, deps.now(), note ?? null);
      if (!done) throw new ApiError(409, 'conflict', 'this registration was reviewed or released already');
      await deps.store.recordAudit({
        at: deps.now(),
        actor: c.var.actor.username,
        role: c.var.actor.role,
        action: 'return.review',
        compoundId: row.compoundId,
        target: id,
        detail: { decision, ...(note ? { note } : {}) },
      });
      const saved = (await deps.side.returnById(id))!;
      return c.json(returnView(saved, await namesOf(deps.store, [saved])));
    });
}

export function residentPolicyRoutes(deps: ReturnDeps): Hono<AppEnv> {
  const manager = deps.auth.requireRole(['manager']);
  const compoundOf = async (actor: Actor, id: string) => {
    if (!canSee(actor, id) || !(await deps.store.getCompound(id))) throw notFound('compound', id);
    return id;
  };
  return new Hono<AppEnv>()
    .get('/:id/resident-policy', manager, validate('param', idParamSchema), async (c) =>
      c.json(await deps.side.policyOf(await compoundOf(c.var.actor, c.req.valid('param').id))),
    )
    .put(
      '/:id/resident-policy',
      manager,
      validate('param', idParamSchema),
      validate('json', residentPolicySchema),
      async (c) => {
        const id = await compoundOf(c.var.actor, c.req.valid('param').id);
        const policy = c.req.valid('json');
        await deps.side.setPolicy(id, policy, c.var.actor.username, deps.now());
        await deps.store.recordAudit({
          at: deps.now(),
          actor: c.var.actor.username,
          role: c.var.actor.role,
          action: 'resident-policy.change',
          compoundId: id,
          target: id,
          detail: policy,
        });
        return c.json(policy);
      },
    );
}

/** Releases registrations whose yellow period is over, every `intervalMs` (cloud/me/periodic-job.ts). */
export function startReturnRelease(
  deps: { side: ResidentSideStore; store: CloudStore; registry: RegistryService; now: () => number; logger: Logger },
  intervalMs = 60_000,
): PeriodicJob {
  const run = async (): Promise<number> => {
    let released = 0;
    for (const id of await deps.side.dueReturns(deps.now())) {
      const row = await deps.side.returnById(id);
      if (row && (await releaseReturn(deps, row, 'released', systemActor(row.compoundId), null))) released += 1;
    }
    return released;
  };
  return startPeriodicJob('return release', run, deps, intervalMs);
}
