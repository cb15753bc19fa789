/**
 * The resident directory on PostgreSQL (docs/web.md, "API added for the pages"): the same pages,
 * ranking and name search as the SQLite one (sqlite-resident-directory.ts), over the store's
 * `residents` and `passes`. Read-only, so it needs no tables of its own.
 */
import type pg from 'pg';
import { run, statement } from '../store/postgres/pg-pool.ts';
import type { Row } from '../store/postgres/pg-rows.ts';
import { type ResidentRow, residentOfRow } from '../store/store-rows.ts';
import type { Resident } from '../store/store.ts';
import {
  DIRECTORY_COLUMNS as COLUMNS,
  type DirectoryPage,
  type DirectoryQuery,
  directoryEntryOf as entryOf,
  likeEscaped,
  MAX_DIRECTORY_PAGE,
  MAX_HOUSEHOLD_MEMBERS,
  MAX_PASSES_LISTED,
  PHONE_TAIL,
  type PassListing,
  passListingOf,
  type ResidentDirectory,
} from './resident-directory.ts';

const passesOf = statement<[string, string, number], Row>(
  'directory_passes_of',
  `SELECT pass_id, person_id, compound_id, kind, not_before, expires_at, use_limit, issued_by, issued_at, revoked_at
   FROM passes WHERE person_id = $1 AND compound_id = $2 ORDER BY issued_at DESC, pass_id LIMIT $3`,
);
// One strpos scan over one compound's residents (residents_by_compound).
const nameMatches = statement<[string, string, string, number], ResidentRow>(
  'directory_name_matches',
  `SELECT * FROM residents WHERE compound_id = $1 AND (person_id = $2 OR strpos(lower(name), $3) > 0)
   ORDER BY person_id LIMIT $4`,
);
const byIds = statement<[string[]], Row>(
  'directory_by_ids',
  `SELECT ${COLUMNS} FROM residents WHERE person_id = ANY($1::text[])`,
);

/** The status filter's SQL for the residents table (aliased `prefix`). */
function statusSql(status: DirectoryQuery['status'], prefix = ''): string {
  if (status === 'active') return ` AND ${prefix}active`;
  if (status === 'inactive') return ` AND NOT ${prefix}active`;
  return '';
}

/**
 * The ranked ids of a search: one rank per row, the strongest way it matched; household members
 * of a direct match last. NULL households first, as SQLite orders them.
 */
function searchSql(status: DirectoryQuery['status']): string {
  return `WITH direct AS MATERIALIZED (
      SELECT person_id, household_id,
        CASE WHEN person_id = $1 THEN 0
             WHEN masked_name LIKE $2 ESCAPE '\\' THEN 1
             WHEN household_id = $1 THEN 2
             ELSE 3 END AS match_rank
      FROM residents
      WHERE compound_id = $4${statusSql(status)}
        AND (person_id = $1 OR masked_name LIKE $2 ESCAPE '\\' OR household_id = $1
             OR ($3::text IS NOT NULL AND phone LIKE $3::text))
    ),
    members AS (
      SELECT r.person_id, r.household_id, 4 AS match_rank
      FROM residents r
      WHERE r.compound_id = $4${statusSql(status, 'r.')}
        AND r.household_id IN (SELECT household_id FROM direct WHERE household_id IS NOT NULL AND match_rank <> 2)
        AND r.person_id NOT IN (SELECT person_id FROM direct)
      LIMIT ${MAX_HOUSEHOLD_MEMBERS}
    )
    SELECT person_id, match_rank FROM (
      SELECT person_id, household_id, match_rank FROM direct
      UNION ALL SELECT person_id, household_id, match_rank FROM members
    ) AS hits ORDER BY match_rank, household_id NULLS FIRST, person_id`;
}

export class PgResidentDirectory implements ResidentDirectory {
  constructor(private readonly pool: pg.Pool) {}

  async byName(compoundId: string, needle: string, limit: number): Promise<Resident[]> {
    const { rows } = await run(this.pool, nameMatches, [compoundId, needle, needle.toLowerCase(), limit]);
    return rows.map(residentOfRow);
  }

  async page(query: DirectoryQuery): Promise<DirectoryPage> {
    const q = query.q?.trim() ?? '';
    const limit = Math.min(query.limit, MAX_DIRECTORY_PAGE);
    const status = statusSql(query.status);
    if (q === '') {
      const total = await this.pool.query<{ n: number }>(
        `SELECT COUNT(*)::int8 AS n FROM residents WHERE compound_id = $1${status}`,
        [query.compoundId],
      );
      const rows = await this.pool.query<Row>(
        `SELECT ${COLUMNS} FROM residents WHERE compound_id = $1${status} ORDER BY person_id LIMIT $2 OFFSET $3`,
        [query.compoundId, limit, query.offset],
      );
      return { residents: rows.rows.map(entryOf), total: Number(total.rows[0]?.n ?? 0), offset: query.offset, limit };
    }
    const like = `%${likeEscaped(q)}%`;
    const phoneTail = PHONE_TAIL.test(q) ? `%${q}` : null;
    const { rows: hits } = await this.pool.query<{ person_id: string; match_rank: number }>(searchSql(query.status), [
      q,
      like,
      phoneTail,
      query.compoundId,
    ]);
    const page = hits.slice(query.offset, query.offset + limit);
    if (page.length === 0) return { residents: [], total: hits.length, offset: query.offset, limit };
    const { rows } = await run(this.pool, byIds, [page.map((h) => h.person_id)]);
    const byId = new Map(rows.map((r) => [String(r.person_id), r]));
    const residents = page.flatMap((h) => {
      const row = byId.get(h.person_id);
      return row ? [entryOf({ ...row, match_rank: h.match_rank })] : [];
    });
    return { residents, total: hits.length, offset: query.offset, limit };
  }

  async passes(personId: string, compoundId: string): Promise<PassListing[]> {
    const { rows } = await run(this.pool, passesOf, [personId, compoundId, MAX_PASSES_LISTED]);
    return rows.map(passListingOf);
  }
}
