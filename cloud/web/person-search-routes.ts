/**
 * `POST /api/v1/trace/search {q, reason[, compound]}` and `GET /api/v1/trace/search?q&reason`
 * (manager): finds the person a contact tracer starts from, by name or by national ID number.
 * Answers carry masked names and masked ID numbers only: a full name or number comes only from a
 * reveal with a reason (`GET /residents/:id?reveal=true&reason=…`), audited one by one. An ID
 * number is searched only through a POST body (never a URL, which logs and proxies keep) and is
 * matched through its pseudonym (`idHash`); the audit record keeps its masked form. A name is
 * matched by one scan per compound in the database (`ResidentDirectory.byName`, stopped at the
 * first 50) — no row leaves the database unless it matches. Each search is audited and counts
 * against the caller's per-user search limit (cloud/http/rate-limit.ts).
 */
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import { maskIdNumber, validateIdNumber } from '../../shared/id-number.ts';
import { idSchema } from '../../shared/ids.ts';
import { pseudonymizeIdNumber } from '../../shared/pseudonym.ts';
import type { AuditStore, CloudStore, Resident } from '../store/store.ts';
import { ApiError } from '../http/api-error.ts';
import type { AppEnv } from '../http/app-env.ts';
import { type Auth, canSee, compoundFilter } from '../http/auth-middleware.ts';
import type { RateLimiter } from '../http/rate-limit.ts';
import { validate } from '../http/validation.ts';

/** At most this many matches are returned; a tracer narrows the query instead of paging. */
export const MAX_SEARCH_RESULTS = 50;

/** Residents of `compoundId` whose name contains `needle` (or whose personId is it), at most `limit`. */
export type NameSearch = (compoundId: string, needle: string, limit: number) => Promise<Resident[]>;

export interface PersonSearchDeps {
  auth: Auth;
  limits: RateLimiter;
  store: Pick<CloudStore, 'findResidentsByIdHash' | 'listCompounds'> & Pick<AuditStore, 'recordAudit'>;
  byName: NameSearch;
  pepper: Buffer;
  now: () => number;
}

export const personSearchQuerySchema = z.object({
  q: z.string().trim().min(1).max(64),
  reason: z.string().trim().min(1).max(200),
  compound: idSchema.optional(),
});

export interface PersonMatch {
  personId: string;
  compoundId: string;
  householdId: string | null;
  kind: Resident['kind'];
  maskedName: string;
  maskedIdNumber: string | null;
  health: Resident['health'];
  active: boolean;
}

function matchOf(r: Resident): PersonMatch {
  return {
    personId: r.personId,
    compoundId: r.compoundId,
    householdId: r.householdId,
    kind: r.kind,
    maskedName: r.maskedName,
    maskedIdNumber: r.maskedIdNumber,
    health: r.health,
    active: r.active,
  };
}

const ID_NUMBER_SHAPE = /^\d{17}[\dXx]$/;

type Query = z.infer<typeof personSearchQuerySchema>;

export function personSearchRoutes(deps: PersonSearchDeps): Hono<AppEnv> {
  const search = async (c: Context<AppEnv>, { q, reason, compound }: Query, viaBody: boolean) => {
    const actor = c.var.actor;
    const compoundId = compoundFilter(actor, compound);
    const isIdNumber = ID_NUMBER_SHAPE.test(q);
    if (isIdNumber && !viaBody) {
      throw new ApiError(400, 'invalid-request', 'send an ID number in a POST body, never in a URL', [
        { path: 'q', message: 'use POST /api/v1/trace/search' },
      ]);
    }
    deps.limits.take(c, 'search');
    let matches: Resident[];
    if (isIdNumber) {
      const check = validateIdNumber(q, new Date(deps.now()));
      if (!check.ok) {
        throw new ApiError(400, 'invalid-request', 'not a valid ID number', [
          { path: 'q', message: `ID number: ${check.reason}` },
        ]);
      }
      const hits = await deps.store.findResidentsByIdHash([pseudonymizeIdNumber(check.idNumber, deps.pepper)]);
      matches = hits.filter(
        (r) => canSee(actor, r.compoundId) && (compoundId === undefined || r.compoundId === compoundId),
      );
    } else {
      const compounds = compoundId !== undefined ? [compoundId] : (await deps.store.listCompounds()).map((x) => x.id);
      matches = [];
      for (const id of compounds) {
        if (matches.length >= MAX_SEARCH_RESULTS) break;
        matches.push(...(await deps.byName(id, q, MAX_SEARCH_RESULTS - matches.length)));
      }
    }
    // One entry per compound the answer named, so each compound's managers see who searched their
    // people; a search that found nobody is recorded under the compound asked for (or the actor's).
    const found = new Map<string | null, number>();
    for (const m of matches.slice(0, MAX_SEARCH_RESULTS)) found.set(m.compoundId, (found.get(m.compoundId) ?? 0) + 1);
    if (found.size === 0) found.set(compoundId ?? actor.compound ?? null, 0);
    for (const [compound, results] of found) {
      await deps.store.recordAudit({
        at: deps.now(),
        actor: actor.username,
        role: actor.role,
        action: 'trace.search',
        compoundId: compound,
        target: null,
        detail: {
          reason,
          by: isIdNumber ? 'id-number' : 'name',
          // The clear ID number never reaches the audit log; a name query is kept as typed.
          query: isIdNumber ? maskIdNumber(q.toUpperCase()) : q,
          results,
        },
      });
    }
    return c.json({ persons: matches.slice(0, MAX_SEARCH_RESULTS).map(matchOf) });
  };
  const managers = deps.auth.requireRole(['manager']);
  return new Hono<AppEnv>()
    .get('/', managers, validate('query', personSearchQuerySchema), (c) => search(c, c.req.valid('query'), false))
    .post('/', managers, validate('json', personSearchQuerySchema), (c) => search(c, c.req.valid('json'), true));
}
