/**
 * `/api/v1/me/…` for a signed-in resident (docs/contract.md §5, "The resident side"): what is
 * recorded about them and their household, and their password. Every route answers about the
 * caller's own person and household only — the identity comes from the session, never from a
 * parameter — and shows other people by masked name only.
 *
 * - `GET /me` → own masked name, compound (name, zone, mode), own health colour, the household's
 *   members (masked, whether activated), the compound's resident-side policy;
 * - `GET /me/passages` → own passages of the last 14 days, newest first (gate name, direction,
 *   result, reason);
 * - `PUT /me/password {oldPassword, newPassword}` → ends every session of the resident (sign in again).
 */
import { Hono } from 'hono';
import { residentPasswordSchema } from '../../shared/schemas/resident-side.ts';
import { hashPassword, verifyPassword } from '../auth/password-hash.ts';
import { ApiError } from '../http/api-error.ts';
import type { RouteDeps } from '../http/app-deps.ts';
import { validate } from '../http/validation.ts';
import { type MeEnv, requireResident, residentUsername } from './resident-auth.ts';
import type { Resident } from '../store/store.ts';
import type { ResidentSideStore } from './resident-side-store.ts';

/** How far back a resident sees their own passages. */
export const OWN_PASSAGES_DAYS = 14;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface MeDeps extends RouteDeps {
  side: ResidentSideStore;
}

/** `GET /me`: the resident, their compound, health, household (masked, activated or not), the policy. */
async function homeOf(deps: MeDeps, me: Resident) {
  const compound = (await deps.store.getCompound(me.compoundId))!;
  const household =
    me.householdId === null
      ? [me]
      : (await deps.store.listResidents({ compoundId: me.compoundId, householdId: me.householdId, limit: 100 }))
          .residents;
  const activated = await deps.side.activatedIn(me.compoundId);
  return {
    personId: me.personId,
    maskedName: me.maskedName,
    compound: { id: compound.id, name: compound.name, timeZone: compound.timeZone, mode: compound.mode },
    householdId: me.householdId,
    health: me.health,
    healthTs: me.healthTs,
    members: household
      .filter((r) => r.active && r.kind !== 'visitor')
      .map((r) => ({
        personId: r.personId,
        maskedName: r.maskedName,
        kind: r.kind,
        self: r.personId === me.personId,
        activated: activated.has(r.personId),
      })),
    policy: await deps.side.policyOf(me.compoundId),
  };
}

export function meRoutes(deps: MeDeps): Hono<MeEnv> {
  const resident = requireResident(deps.auth, deps.store, deps.sessions);
  return new Hono<MeEnv>()
    .get('/', resident, async (c) => c.json(await homeOf(deps, c.var.resident)))
    .get('/passages', resident, async (c) => {
      const me = c.var.resident;
      const now = deps.now();
      const page = await deps.store.queryEvents({
        personId: me.personId,
        compoundId: me.compoundId,
        from: now - OWN_PASSAGES_DAYS * DAY_MS,
        to: now + 60_000,
        limit: 500,
      });
      const gates = new Map((await deps.store.listGates(me.compoundId)).map((g) => [g.id, g.name]));
      return c.json({
        days: OWN_PASSAGES_DAYS,
        passages: page.events.map((e) => ({
          ts: e.ts,
          gateId: e.gateId,
          gateName: gates.get(e.gateId) ?? e.gateId,
          direction: e.direction,
          method: e.method,
          result: e.result,
          reason: e.reason,
          passed: e.passed,
        })),
        more: page.nextCursor !== null,
      });
    })
    .put('/password', resident, validate('json', residentPasswordSchema), async (c) => {
      const me = c.var.resident;
      const { oldPassword, newPassword } = c.req.valid('json');
      const account = await deps.side.accountOf(me.personId);
      if (!account || !(await verifyPassword(oldPassword, account.passwordHash))) {
        throw new ApiError(400, 'invalid-request', 'the old password is wrong', [
          { path: 'oldPassword', message: 'wrong' },
        ]);
      }
      await deps.side.setPassword(me.personId, await hashPassword(newPassword));
      const username = residentUsername(me.personId);
      await deps.sessions.endAllOf(username, 'password');
      await deps.store.recordAudit({
        at: deps.now(),
        actor: username,
        role: 'resident',
        action: 'resident.password',
        compoundId: me.compoundId,
        target: me.personId,
        detail: null,
      });
      return c.body(null, 204);
    });
}
