/**
 * Visitors of a household (docs/web.md, "The resident side"; docs/contract.md §5).
 *
 * An invitation is made of what the system already has, not a parallel track: the visitor becomes a
 * registry person of `kind: visitor` in the inviting household, valid for the visit's local day, and
 * gets an ordinary signed QR pass of kind `visitor` with a use limit (shared/pass.ts). Both reach
 * the gates through the registry like any manager's change, and the gate's decision already treats
 * them: a visitor pass is its own authorisation, uses are counted on the gate (`pass-used-up`), a
 * visitor is `gate-locked` on the way in during lockdown (edge-agent/decision.ts), and in
 * controlled mode the health rule applies to visitors as to everyone.
 *
 * - `POST /me/visitors {name, phoneTail, date, uses}` (resident) → within the household's quota and
 *   only in the modes the compound's policy allows (409 `visitor-quota`, `visitors-suspended`); the
 *   answer holds the visitor's link `/visit#<token>` once (stored hashed);
 * - `GET /me/visitors` → the household's invitations; `DELETE /me/visitors/:inviteId` → revokes the
 *   pass (a `pass.revoke` change to every gate);
 * - `POST /visits/pass {token}` (the visitor, no session; throttled per address) → the pass to show:
 *   QR code, masked name, day, uses — refused while the compound's mode suspends visitors.
 * Audited: `visitor.invite`, `visitor.revoke` (plus the registry's own `resident.create`, `pass.issue`).
 */
import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import type { Mode } from '../../shared/enums.ts';
import { maskName } from '../../shared/masking.ts';
import { newPassId, renderPassSvg } from '../../shared/pass.ts';
import { idSchema } from '../../shared/ids.ts';
import { instantSchema } from '../../shared/schemas/http.ts';
import { visitorInviteSchema } from '../../shared/schemas/resident-side.ts';
import { localDayOf, zoneOffsetMs } from '../analytics/time-zone.ts';
import { LoginThrottle } from '../auth/login-throttle.ts';
import { ApiError, notFound } from '../http/api-error.ts';
import type { AppEnv } from '../http/app-env.ts';
import type { RouteDeps } from '../http/app-deps.ts';
import { compoundFilter } from '../http/auth-middleware.ts';
import { clientAddress } from '../http/client-address.ts';
import { validate } from '../http/validation.ts';
import type { Actor } from '../registry/actor.ts';
import type { Compound, Resident } from '../store/store.ts';
import type { ActivationCodeHasher } from './activation-codes.ts';
import { type MeEnv, requireResident } from './resident-auth.ts';
import type { ResidentSideStore, VisitorInviteRow } from './resident-side-store.ts';
import { INVITE_PENDING_MS, rollBackInvite } from './visitor-reservations.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
/** How far ahead a visit may be planned. */
export const MAX_VISIT_DAYS_AHEAD = 30;

export interface VisitorDeps extends RouteDeps {
  side: ResidentSideStore;
  hasher: ActivationCodeHasher;
}

/** The instant a local calendar day starts in a zone (DST-safe: the offset is taken at that instant). */
export function startOfLocalDay(date: string, timeZone: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const wall = Date.UTC(y, m - 1, d);
  const guess = wall - zoneOffsetMs(wall, timeZone);
  return wall - zoneOffsetMs(guess, timeZone);
}

/** The local day after `date` (`YYYY-MM-DD`). */
function nextDay(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

export function visitorsAllowed(mode: Mode, allowed: readonly string[]): boolean {
  return allowed.includes(mode);
}

const inviteParam = z.object({ inviteId: z.string().regex(/^[0-9a-f]{16}$/) });
const linkBody = z.strictObject({ token: z.string().regex(/^[A-Za-z0-9_-]{20,64}$/) });

function inviteView(i: VisitorInviteRow, now: number) {
  return {
    inviteId: i.inviteId,
    maskedName: i.maskedName,
    phoneTail: i.phoneTail,
    date: i.visitDate,
    uses: i.uses,
    validFrom: i.validFrom,
    validTo: i.validTo,
    createdAt: i.createdAt,
    revokedAt: i.revokedAt,
    state: i.revokedAt !== null ? 'revoked' : now >= i.validTo ? 'past' : now >= i.validFrom ? 'today' : 'upcoming',
  };
}

type InviteInput = z.infer<typeof visitorInviteSchema>;

/** What an invitation is checked against, and the visit's local day as instants. */
interface InviteWindow {
  householdId: string;
  compound: Compound;
  policy: Awaited<ReturnType<ResidentSideStore['policyOf']>>;
  now: number;
  validFrom: number;
  validTo: number;
}

/** Whether the household may invite for `date` now (household, mode, quota, days ahead); throws the refusal. */
async function inviteWindow(deps: VisitorDeps, me: Resident, date: string): Promise<InviteWindow> {
  if (me.householdId === null) {
    throw new ApiError(409, 'no-household', 'visitors are invited by a household; ask the manager to set yours');
  }
  const compound = (await deps.store.getCompound(me.compoundId))!;
  const policy = await deps.side.policyOf(me.compoundId);
  if (!visitorsAllowed(compound.mode, policy.visitorModes)) {
    throw new ApiError(409, 'visitors-suspended', `no visitors while the compound is in ${compound.mode} mode`);
  }
  const now = deps.now();
  // A first look, for the common refusal; the slot itself is taken under the household's lock (createInvite).
  const since = now - policy.visitorQuotaDays * DAY_MS;
  const used = await deps.side.invitesSince(me.compoundId, me.householdId, since, now);
  if (used >= policy.visitorQuota) throw quotaFull(used, policy);
  const today = localDayOf(now, compound.timeZone);
  const lastDay = localDayOf(now + MAX_VISIT_DAYS_AHEAD * DAY_MS, compound.timeZone);
  if (date < today || date > lastDay) {
    throw new ApiError(400, 'invalid-request', 'the visit must be today or within 30 days', [
      { path: 'date', message: `between ${today} and ${lastDay}` },
    ]);
  }
  const validFrom = startOfLocalDay(date, compound.timeZone);
  const validTo = startOfLocalDay(nextDay(date), compound.timeZone);
  return { householdId: me.householdId, compound, policy, now, validFrom, validTo };
}

function quotaFull(used: number, policy: InviteWindow['policy']): ApiError {
  return new ApiError(
    409,
    'visitor-quota',
    `the household invited ${used} visitor(s) in ${policy.visitorQuotaDays} day(s); the compound allows ${policy.visitorQuota}`,
  );
}

/**
 * The household's slot first, then the visitor and their pass: the invitation is reserved — counted
 * and stored at once, pending, under the household's lock (ResidentSideStore.reserveInvite) — so two
 * requests racing for the last slot, on one cloud instance or two, get one invitation and one 409;
 * the refused one creates nothing. The visitor person and pass follow with the ids the reservation
 * recorded, then the reservation is completed. Any failure on the way rolls all of it back, and a
 * crash leaves a reservation the reclaim undoes once its time is over (cloud/me/visitor-reservations.ts).
 */
async function createInvite(
  deps: VisitorDeps,
  me: Resident,
  actor: Actor,
  body: InviteInput,
  w: InviteWindow,
): Promise<{ invite: VisitorInviteRow; token: string; used: number }> {
  const token = randomBytes(24).toString('base64url');
  const reservation: VisitorInviteRow = {
    inviteId: randomBytes(8).toString('hex'),
    compoundId: me.compoundId,
    householdId: w.householdId,
    invitedBy: me.personId,
    visitorPersonId: `p-${randomBytes(6).toString('hex')}`,
    passId: newPassId(),
    maskedName: maskName(body.name),
    phoneTail: body.phoneTail,
    visitDate: body.date,
    uses: body.uses,
    validFrom: w.validFrom,
    validTo: w.validTo,
    createdAt: w.now,
    revokedAt: null,
  };
  const since = w.now - w.policy.visitorQuotaDays * DAY_MS;
  const quota = { since, max: w.policy.visitorQuota, now: w.now, pendingUntil: w.now + INVITE_PENDING_MS };
  const linkHash = deps.hasher.hash(`visit:${token}`);
  const used = await deps.side.reserveInvite({ ...reservation, linkHash }, quota);
  if (used === undefined) throw quotaFull(w.policy.visitorQuota, w.policy);
  try {
    await createVisitor(deps, me, actor, body, w, reservation);
    return { invite: reservation, token, used };
  } catch (error) {
    await rollBackInvite(deps, reservation, actor);
    throw error;
  }
}

/** The visitor as a person of the household with a visitor pass, the invitation completed, audited. */
async function createVisitor(
  deps: VisitorDeps,
  me: Resident,
  actor: Actor,
  body: InviteInput,
  w: InviteWindow,
  reserved: VisitorInviteRow,
): Promise<void> {
  const { validFrom, validTo, now } = w;
  const visitor = await deps.registry.createResident(
    {
      personId: reserved.visitorPersonId,
      compoundId: me.compoundId,
      householdId: w.householdId,
      kind: 'visitor',
      name: body.name,
      cards: [],
      elderly: false,
      validFrom,
      validTo,
    },
    actor,
  );
  const pass = await deps.registry.issuePass(
    { personId: visitor.personId, kind: 'visitor', validFrom: Math.max(validFrom, now), validTo, useLimit: body.uses },
    actor,
    { passId: reserved.passId },
  );
  if (!(await deps.side.completeInvite(reserved.inviteId, deps.now()))) {
    throw new ApiError(409, 'conflict', 'the invitation took too long to make and was withdrawn; try again');
  }
  await deps.store.recordAudit({
    at: now,
    actor: actor.username,
    role: actor.role,
    action: 'visitor.invite',
    compoundId: me.compoundId,
    target: visitor.personId,
    detail: { inviteId: reserved.inviteId, passId: pass.passId, date: body.date, uses: body.uses },
  });
}

export function visitorRoutes(deps: VisitorDeps): Hono<MeEnv> {
  const resident = requireResident(deps.auth, deps.store, deps.sessions);
  return new Hono<MeEnv>()
    .post('/', resident, validate('json', visitorInviteSchema), async (c) => {
      const me = c.var.resident;
      const body = c.req.valid('json');
      const w = await inviteWindow(deps, me, body.date);
      const { invite, token, used } = await createInvite(deps, me, c.var.actor, body, w);
      c.header('cache-control', 'no-store');
      return c.json(
        {
          ...inviteView(invite, w.now),
          link: `${new URL(c.req.url).origin}/visit#${token}`,
          quotaLeft: w.policy.visitorQuota - used - 1,
        },
        201,
      );
    })
    .get('/', resident, async (c) => {
      const me = c.var.resident;
      if (me.householdId === null) return c.json({ invites: [] });
      const now = deps.now();
      return c.json({
        invites: (await deps.side.invitesOf(me.compoundId, me.householdId)).map((i) => inviteView(i, now)),
      });
    })
    .delete('/:inviteId', resident, validate('param', inviteParam), async (c) => {
      const me = c.var.resident;
      const { inviteId } = c.req.valid('param');
      const invite = await deps.side.inviteById(inviteId);
      if (!invite || invite.compoundId !== me.compoundId || invite.householdId !== me.householdId) {
        throw notFound('invitation', inviteId);
      }
      if (!(await deps.side.revokeInvite(inviteId, deps.now()))) {
        throw new ApiError(409, 'conflict', 'the invitation was revoked already');
      }
      await deps.registry.revokePass(invite.passId, c.var.actor);
      await deps.store.recordAudit({
        at: deps.now(),
        actor: c.var.actor.username,
        role: c.var.actor.role,
        action: 'visitor.revoke',
        compoundId: me.compoundId,
        target: invite.visitorPersonId,
        detail: { inviteId },
      });
      return c.body(null, 204);
    });
}

const statsQuery = z.object({ compound: idSchema.optional(), from: instantSchema, to: instantSchema });

/** `GET /api/v1/stats/visitors?compound&from&to` (manager): visitors' passages and invitations in a window. */
export function visitorStatsRoutes(deps: VisitorDeps): Hono<AppEnv> {
  return new Hono<AppEnv>().get('/', deps.auth.requireRole(['manager']), validate('query', statsQuery), async (c) => {
    const q = c.req.valid('query');
    const compoundId = compoundFilter(c.var.actor, q.compound);
    if (compoundId === undefined) {
      throw new ApiError(400, 'invalid-request', 'which compound?', [{ path: 'compound', message: 'required' }]);
    }
    return c.json({ compoundId, from: q.from, to: q.to, ...(await deps.side.visitorStats(compoundId, q.from, q.to)) });
  });
}

/** `POST /api/v1/visits/pass`: the visitor's own page asks for the pass its link names. */
export function visitorPassRoutes(deps: VisitorDeps): Hono<AppEnv> {
  const throttle = new LoginThrottle(deps.now);
  return new Hono<AppEnv>().post('/pass', validate('json', linkBody), async (c) => {
    const address = clientAddress(c);
    const key = `visit:${address}`;
    const verdict = throttle.check(key, address);
    if (!verdict.ok) {
      const seconds = Math.ceil(verdict.retryAfterMs / 1000);
      c.header('retry-after', String(seconds));
      throw new ApiError(429, 'too-many-attempts', `too many wrong links; try again in ${seconds} s`);
    }
    const invite = await deps.side.inviteByLink(deps.hasher.hash(`visit:${c.req.valid('json').token}`));
    if (!invite) {
      throttle.failed(key, address);
      throw new ApiError(404, 'invalid-link', 'no such invitation');
    }
    const now = deps.now();
    if (invite.revokedAt !== null)
      throw new ApiError(410, 'invitation-revoked', 'the household withdrew this invitation');
    if (now >= invite.validTo) throw new ApiError(410, 'invitation-past', 'this invitation was for an earlier day');
    const compound = (await deps.store.getCompound(invite.compoundId))!;
    const policy = await deps.side.policyOf(invite.compoundId);
    if (!visitorsAllowed(compound.mode, policy.visitorModes)) {
      throw new ApiError(
        409,
        'visitors-suspended',
        `no visitors while the compound is in ${compound.mode} mode`,
        undefined,
        {
          mode: compound.mode,
        },
      );
    }
    const pass = await deps.store.getPass(invite.passId);
    if (!pass || pass.revokedAt !== null) throw new ApiError(410, 'invitation-revoked', 'the pass was revoked');
    c.header('cache-control', 'no-store');
    return c.json({
      maskedName: invite.maskedName,
      compound: { name: compound.name, timeZone: compound.timeZone, mode: compound.mode },
      date: invite.visitDate,
      uses: invite.uses,
      validFrom: pass.notBefore,
      validTo: pass.expiresAt,
      text: pass.text,
      qrSvg: await renderPassSvg(pass.text),
    });
  });
}
