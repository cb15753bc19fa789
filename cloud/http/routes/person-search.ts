/**
 * `GET /api/v1/trace/search?q&reason[&compound]` (manager): finds the person a contact tracer
 * starts from, by full name or by national ID number (docs/web.md). The full name and ID
 * number live only in the cloud, so this look-up is manager-only, needs a reason and is written to
 * the audit log (docs/architecture.md rule 5). An ID number is matched through its pseudonym
 * (`idHash`), never by decrypting every sealed number; the audit record keeps only its masked form.
 * A name is matched against the residents of one compound: a few thousand rows, scanned in pages.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { maskIdNumber, validateIdNumber } from '../../../shared/id-number.ts';
import { idSchema } from '../../../shared/ids.ts';
import { pseudonymizeIdNumber } from '../../../shared/pseudonym.ts';
import type { AuditStore, CloudStore, Resident } from '../../store/store.ts';
import { ApiError } from '../api-error.ts';
import type { AppEnv } from '../app-env.ts';
import { type Auth, canSee, compoundFilter } from '../auth-middleware.ts';
import { validate } from '../validation.ts';

/** At most this many matches are returned; a tracer narrows the query instead of paging. */
export const MAX_SEARCH_RESULTS = 50;
const SCAN_PAGE = 1000;

export interface PersonSearchDeps {
  auth: Auth;
  store: Pick<CloudStore, 'listResidents' | 'findResidentsByIdHash' | 'listCompounds'> &
    Pick<AuditStore, 'recordAudit'>;
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
  name: string;
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
    name: r.name,
    maskedName: r.maskedName,
    maskedIdNumber: r.maskedIdNumber,
    health: r.health,
    active: r.active,
  };
}

const ID_NUMBER_SHAPE = /^\d{17}[\dXx]$/;

async function byName(store: PersonSearchDeps['store'], compoundIds: readonly string[], q: string) {
  const needle = q.toLowerCase();
  const found: Resident[] = [];
  for (const compoundId of compoundIds) {
    let cursor: string | undefined;
    do {
      const page = await store.listResidents({ compoundId, limit: SCAN_PAGE, ...(cursor ? { cursor } : {}) });
      for (const r of page.residents) {
        if (r.personId === q || r.name.toLowerCase().includes(needle)) found.push(r);
        if (found.length >= MAX_SEARCH_RESULTS) return found;
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }
  return found;
}

export function personSearchRoutes(deps: PersonSearchDeps): Hono<AppEnv> {
  return new Hono<AppEnv>().get(
    '/',
    deps.auth.requireRole(['manager']),
    validate('query', personSearchQuerySchema),
    async (c) => {
      const { q, reason, compound } = c.req.valid('query');
      const actor = c.var.actor;
      const compoundId = compoundFilter(actor, compound);
      const isIdNumber = ID_NUMBER_SHAPE.test(q);
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
        matches = await byName(deps.store, compounds, q);
      }
      await deps.store.recordAudit({
        at: deps.now(),
        actor: actor.username,
        role: actor.role,
        action: 'trace.search',
        compoundId: compoundId ?? null,
        target: null,
        detail: {
          reason,
          by: isIdNumber ? 'id-number' : 'name',
          // The clear ID number never reaches the audit log; a name query is kept as typed.
          query: isIdNumber ? maskIdNumber(q.toUpperCase()) : q,
          results: matches.length,
        },
      });
      return c.json({ persons: matches.slice(0, MAX_SEARCH_RESULTS).map(matchOf) });
    },
  );
}
