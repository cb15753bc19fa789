/**
 * Activation of residents (docs/contract.md §5, "The resident side"; docs/security.md, "The resident role").
 *
 * Manager side, under `/api/v1/activations`:
 * - `POST /` `{personIds} | {householdId, compoundId?}` → one fresh code per resident (their older
 *   open codes are revoked), each with its letter's link and QR code; `?format=csv` answers the same
 *   as a CSV file for a mail merge. The codes appear in this answer only: stored as keyed hashes.
 * - `GET /?compound&status=open|all&person` → the codes' states (never a code).
 * - `DELETE /:codeId` → revokes an unused code.
 * Every issue and revocation is audited (`activation.issue`, `activation.revoke`).
 *
 * Resident side, under `/api/v1/me` (no session yet):
 * - `POST /activation/check {code}` → for whom the code is (masked name, compound), so the page can
 *   say so before a password is chosen;
 * - `POST /activate {code, login, password}` → uses the code once, creates (or resets) the
 *   resident's account and answers a resident session (`resident.activate`, audited);
 * - `POST /login {login, password}` → a resident session.
 * Wrong codes and passwords are throttled per address (and per login): 429 with `Retry-After`.
 */
import { randomBytes } from 'node:crypto';
import { type Context, Hono } from 'hono';
import QRCode from 'qrcode';
import { z } from 'zod';
import {
  activationCheckSchema,
  activationIssueSchema,
  activationListQuerySchema,
  activationSchema,
  residentSignInSchema,
} from '../../shared/schemas/resident-side.ts';
import { attachmentDisposition, toCsv } from '../analytics/csv.ts';
import { LoginThrottle } from '../auth/login-throttle.ts';
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from '../auth/password-hash.ts';
import { ApiError, notFound } from '../http/api-error.ts';
import type { AppEnv } from '../http/app-env.ts';
import type { RouteDeps } from '../http/app-deps.ts';
import { canSee, compoundFilter } from '../http/auth-middleware.ts';
import { clientAddress } from '../http/client-address.ts';
import { validate } from '../http/validation.ts';
import type { Actor } from '../registry/actor.ts';
import type { Resident } from '../store/store.ts';
import {
  ACTIVATION_TTL_MS,
  type ActivationCodeHasher,
  newActivationCode,
  normaliseActivationCode,
} from './activation-codes.ts';
import { residentUsername } from './resident-auth.ts';
import type { ResidentSideStore } from './resident-side-store.ts';

export interface ActivationDeps extends RouteDeps {
  side: ResidentSideStore;
  hasher: ActivationCodeHasher;
}

const codeIdParam = z.object({ codeId: z.string().regex(/^[0-9a-f]{16}$/) });
const formatQuery = z.object({ format: z.enum(['json', 'csv']).default('json') });

/** Throttled refusal: the same shape as the sign-in's. */
function throttled(c: { header: (k: string, v: string) => void }, retryAfterMs: number): never {
  const seconds = Math.ceil(retryAfterMs / 1000);
  c.header('retry-after', String(seconds));
  throw new ApiError(429, 'too-many-attempts', `too many wrong attempts; try again in ${seconds} s`, undefined, {
    retryAfterSeconds: seconds,
  });
}

/** The residents a request names, all visible to the caller, or a 400 naming the others. */
async function residentsOf(
  deps: ActivationDeps,
  actor: Actor,
  body: z.infer<typeof activationIssueSchema>,
): Promise<Resident[]> {
  if (body.personIds) {
    const found: Resident[] = [];
    const issues: { path: string; message: string }[] = [];
    for (const [i, id] of [...new Set(body.personIds)].entries()) {
      const r = await deps.store.getResident(id);
      if (!r || !canSee(actor, r.compoundId)) issues.push({ path: `personIds.${i}`, message: 'no such resident' });
      else if (r.kind === 'visitor') issues.push({ path: `personIds.${i}`, message: 'a visitor has no account' });
      else if (!r.active) issues.push({ path: `personIds.${i}`, message: 'the resident is inactive' });
      else found.push(r);
    }
    if (issues.length > 0) throw new ApiError(400, 'invalid-request', 'cannot issue codes for these', issues);
    return found;
  }
  const compoundId = compoundFilter(actor, body.compoundId);
  if (compoundId === undefined) {
    throw new ApiError(400, 'invalid-request', 'which compound?', [{ path: 'compoundId', message: 'required' }]);
  }
  const { residents } = await deps.store.listResidents({ compoundId, householdId: body.householdId!, limit: 1000 });
  const members = residents.filter((r) => r.active && r.kind !== 'visitor');
  if (members.length === 0) {
    throw new ApiError(400, 'invalid-request', 'no active resident in that household', [
      { path: 'householdId', message: 'empty' },
    ]);
  }
  return members;
}

/** A fresh code per resident (stored hashed, older open ones revoked by the store), each with its letter; audited. */
async function issueCodes(deps: ActivationDeps, actor: Actor, residents: Resident[], origin: string) {
  const now = deps.now();
  const issued = [];
  for (const r of residents) {
    const code = newActivationCode();
    const codeId = randomBytes(8).toString('hex');
    await deps.side.issueCode({
      codeId,
      codeHash: deps.hasher.hash(normaliseActivationCode(code)!),
      personId: r.personId,
      compoundId: r.compoundId,
      issuedBy: actor.username,
      issuedAt: now,
      expiresAt: now + ACTIVATION_TTL_MS,
      usedAt: null,
      revokedAt: null,
    });
    const link = `${origin}/me/activate#code=${code}`;
    issued.push({
      codeId,
      personId: r.personId,
      compoundId: r.compoundId,
      householdId: r.householdId,
      maskedName: r.maskedName,
      code,
      link,
      qrSvg: await QRCode.toString(link, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }),
      expiresAt: now + ACTIVATION_TTL_MS,
    });
    await auditAs(deps, actor, 'activation.issue', r.compoundId, r.personId, { codeId });
  }
  return issued;
}

function codesCsv(issued: Awaited<ReturnType<typeof issueCodes>>): string {
  return toCsv(
    ['personId', 'householdId', 'maskedName', 'code', 'link', 'expiresAt'],
    issued.map((i) => [i.personId, i.householdId, i.maskedName, i.code, i.link, new Date(i.expiresAt).toISOString()]),
  );
}

function auditAs(
  deps: ActivationDeps,
  actor: Actor,
  action: string,
  compoundId: string,
  target: string,
  detail: Record<string, unknown>,
) {
  return deps.store.recordAudit({
    at: deps.now(),
    actor: actor.username,
    role: actor.role,
    action,
    compoundId,
    target,
    detail,
  });
}

export function activationManagerRoutes(deps: ActivationDeps): Hono<AppEnv> {
  const manager = deps.auth.requireRole(['manager']);
  return new Hono<AppEnv>()
    .post('/', manager, validate('query', formatQuery), validate('json', activationIssueSchema), async (c) => {
      const actor = c.var.actor;
      const residents = await residentsOf(deps, actor, c.req.valid('json'));
      const issued = await issueCodes(deps, actor, residents, new URL(c.req.url).origin);
      if (c.req.valid('query').format === 'csv') {
        return c.body(codesCsv(issued), 201, {
          'content-type': 'text/csv; charset=utf-8',
          'content-disposition': attachmentDisposition('activation-codes.csv'),
          'cache-control': 'no-store',
        });
      }
      c.header('cache-control', 'no-store');
      return c.json({ codes: issued }, 201);
    })
    .get('/', manager, validate('query', activationListQuerySchema), async (c) => {
      const q = c.req.valid('query');
      const compoundId = compoundFilter(c.var.actor, q.compound);
      if (compoundId === undefined) {
        throw new ApiError(400, 'invalid-request', 'which compound?', [{ path: 'compound', message: 'required' }]);
      }
      const now = deps.now();
      const rows = await deps.side.codesOfCompound(compoundId, q.status, now, q.person);
      const names = await deps.store.maskedNames([...new Set(rows.map((r) => r.personId))]);
      const activated = await deps.side.activatedIn(compoundId);
      return c.json({
        codes: rows.map((r) => ({
          ...r,
          maskedName: names.get(r.personId) ?? null,
          state:
            r.usedAt !== null ? 'used' : r.revokedAt !== null ? 'revoked' : r.expiresAt <= now ? 'expired' : 'open',
          activated: activated.has(r.personId),
        })),
      });
    })
    .delete('/:codeId', manager, validate('param', codeIdParam), async (c) => {
      const { codeId } = c.req.valid('param');
      const row = await deps.side.codeById(codeId);
      if (!row || !canSee(c.var.actor, row.compoundId)) throw notFound('activation code', codeId);
      if (!(await deps.side.revokeCode(codeId, c.var.actor.username, deps.now()))) {
        throw new ApiError(409, 'conflict', 'the code was already used or revoked');
      }
      await auditAs(deps, c.var.actor, 'activation.revoke', row.compoundId, row.personId, { codeId });
      return c.body(null, 204);
    });
}

/** A code's row when it can be used now; otherwise a refusal (a failure counted against the address). */
async function usableCode(
  deps: ActivationDeps,
  throttle: LoginThrottle,
  // biome-ignore lint/suspicious/noExplicitAny: any route's context (its path and input do not matter here)
  c: Context<AppEnv, any, any>,
  typed: string,
) {
  const address = clientAddress(c);
  const key = `code:${address}`;
  const verdict = throttle.check(key, address);
  if (!verdict.ok) throttled(c, verdict.retryAfterMs);
  const canonical = normaliseActivationCode(typed);
  const row = canonical === undefined ? undefined : await deps.side.codeByHash(deps.hasher.hash(canonical));
  const now = deps.now();
  const refusal = !row
    ? (['invalid-code', 'no such code — check what you typed'] as const)
    : row.usedAt !== null
      ? (['code-used', 'this code was used already'] as const)
      : row.revokedAt !== null
        ? (['code-revoked', 'this code was withdrawn'] as const)
        : row.expiresAt <= now
          ? (['code-expired', 'this code has expired'] as const)
          : undefined;
  const resident = row && !refusal ? await deps.store.getResident(row.personId) : undefined;
  if (refusal || !resident || !resident.active) {
    throttle.failed(key, address);
    const [code, message] = refusal ?? (['invalid-code', 'no such code — check what you typed'] as const);
    throw new ApiError(code === 'invalid-code' ? 404 : 410, code, message);
  }
  return { row: row!, resident, address, key };
}

async function sessionAnswer(deps: ActivationDeps, resident: Resident, login: string) {
  const session = await deps.sessions.issue({
    username: residentUsername(resident.personId),
    role: 'resident',
    compound: resident.compoundId,
  });
  return {
    token: session.token,
    role: 'resident' as const,
    expiresAt: session.expiresAt,
    idleTimeoutMs: deps.sessions.idleMs,
    compound: resident.compoundId,
    personId: resident.personId,
    login,
  };
}

/** Uses the code once, creates (or resets) the account, ends the old sessions, audits; the new session. */
async function activateAccount(
  deps: ActivationDeps,
  codeThrottle: LoginThrottle,
  c: Parameters<typeof usableCode>[2],
  body: z.infer<typeof activationSchema>,
) {
  const { row, resident, key, address } = await usableCode(deps, codeThrottle, c, body.code);
  const taken = await deps.side.accountByLogin(body.login);
  if (taken && taken.personId !== resident.personId) {
    throw new ApiError(409, 'login-taken', 'this sign-in name is taken; choose another', [
      { path: 'login', message: 'taken' },
    ]);
  }
  const passwordHash = await hashPassword(body.password);
  const now = deps.now();
  const account = { personId: resident.personId, login: body.login, compoundId: resident.compoundId, passwordHash };
  const used = await deps.side.activate(row.codeId, { ...account, activatedAt: now }, now);
  // Two tabs racing with one code: the second finds it used.
  if (!used) throw new ApiError(410, 'code-used', 'this code was used already');
  codeThrottle.succeeded(key);
  // A new activation (lost phone, forgotten password) ends whatever sessions the old one had.
  await deps.sessions.endAllOf(residentUsername(resident.personId), 'password');
  await deps.store.recordAudit({
    at: now,
    actor: residentUsername(resident.personId),
    role: 'resident',
    action: 'resident.activate',
    compoundId: resident.compoundId,
    target: resident.personId,
    detail: { codeId: row.codeId, login: body.login, address },
  });
  return sessionAnswer(deps, resident, body.login);
}

export function activationResidentRoutes(deps: ActivationDeps): Hono<AppEnv> {
  const codeThrottle = new LoginThrottle(deps.now);
  const loginThrottle = new LoginThrottle(deps.now);
  const anonymousAudit = (action: string, compoundId: string | null, target: string, detail: Record<string, unknown>) =>
    deps.store.recordAudit({ at: deps.now(), actor: target, role: 'anonymous', action, compoundId, target, detail });

  return new Hono<AppEnv>()
    .post('/activation/check', validate('json', activationCheckSchema), async (c) => {
      const { row, resident } = await usableCode(deps, codeThrottle, c, c.req.valid('json').code);
      const compound = await deps.store.getCompound(resident.compoundId);
      return c.json({
        maskedName: resident.maskedName,
        compound: { id: resident.compoundId, name: compound?.name ?? resident.compoundId },
        expiresAt: row.expiresAt,
        alreadyActivated: (await deps.side.accountOf(resident.personId)) !== undefined,
      });
    })
    .post('/activate', validate('json', activationSchema), async (c) =>
      c.json(await activateAccount(deps, codeThrottle, c, c.req.valid('json')), 201),
    )
    .post('/login', validate('json', residentSignInSchema), async (c) => {
      const { login, password } = c.req.valid('json');
      const address = clientAddress(c);
      const verdict = loginThrottle.check(login, address);
      if (!verdict.ok) throttled(c, verdict.retryAfterMs);
      const account = await deps.side.accountByLogin(login);
      const ok = await verifyPassword(password, account?.passwordHash ?? DUMMY_PASSWORD_HASH);
      const resident = account && ok ? await deps.store.getResident(account.personId) : undefined;
      if (!account || !ok || !resident?.active || resident.compoundId !== account.compoundId) {
        loginThrottle.failed(login, address);
        await anonymousAudit('resident.login-failed', account?.compoundId ?? null, login, { address });
        throw new ApiError(401, 'invalid-credentials', 'wrong sign-in name or password');
      }
      loginThrottle.succeeded(login);
      return c.json(await sessionAnswer(deps, resident, account.login));
    });
}
