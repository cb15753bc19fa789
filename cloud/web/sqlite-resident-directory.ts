/**
 * The resident directory on SQLite, on the store's connection (docs/web.md, "API added for the
 * pages"): the dashboard's pages of residents, a person's passes, and the tracer's name search.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { HealthColour, PassKind, PersonKind } from '../../shared/enums.ts';
import { type ResidentRow, residentOfRow } from '../store/store-rows.ts';
import type { Resident } from '../store/store.ts';
import { yieldToEventLoop } from '../../shared/yield.ts';
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

type Row = Record<string, unknown>;

/** Residents looked at per slice of the name search (well under 1 ms of `instr` on a quiet core). */
export const NAME_SCAN_SLICE = 1000;

export class SqliteResidentDirectory implements ResidentDirectory {
  private readonly passesOf: Statement<[string, string, number], Row>;
  private readonly sliceEnd: Statement<[string, string, number], string>;
  private readonly nameMatchesIn: Statement<[string, string, string, string, string, number], ResidentRow>;
  private readonly nameMatchesFrom: Statement<[string, string, string, string, number], ResidentRow>;

  constructor(private readonly db: Database) {
    this.passesOf = db.prepare(
      `SELECT pass_id, person_id, compound_id, kind, not_before, expires_at, use_limit, issued_by, issued_at, revoked_at
       FROM passes WHERE person_id = ? AND compound_id = ? ORDER BY issued_at DESC, pass_id LIMIT ?`,
    );
    // The name search walks one compound's residents in slices of NAME_SCAN_SLICE person ids
    // (over residents(compound_id, person_id)): the last id of the next slice, then the matches in it.
    this.sliceEnd = db
      .prepare<[string, string, number], string>(
        'SELECT person_id FROM residents WHERE compound_id = ? AND person_id > ? ORDER BY person_id LIMIT 1 OFFSET ?',
      )
      .pluck();
    this.nameMatchesIn = db.prepare(
      `SELECT * FROM residents WHERE compound_id = ? AND person_id > ? AND person_id <= ?
       AND (person_id = ? OR instr(lower(name), ?) > 0) ORDER BY person_id LIMIT ?`,
    );
    this.nameMatchesFrom = db.prepare(
      `SELECT * FROM residents WHERE compound_id = ? AND person_id > ?
       AND (person_id = ? OR instr(lower(name), ?) > 0) ORDER BY person_id LIMIT ?`,
    );
  }

  /**
   * A contains-match cannot use an index, so the scan is made incremental instead (docs/security.md,
   * "Heavy work"): slices of NAME_SCAN_SLICE residents in person-id order, yielding to the event
   * loop between slices, so 20 managers searching 50 k residents at once never hold the server for
   * more than a slice each. Same answer as one scan: matches by person id, at most `limit`.
   */
  async byName(compoundId: string, needle: string, limit: number): Promise<Resident[]> {
    const lower = needle.toLowerCase();
    const found: Resident[] = [];
    let after = '';
    for (;;) {
      const want = limit - found.length;
      const end = this.sliceEnd.get(compoundId, after, NAME_SCAN_SLICE - 1);
      const rows =
        end === undefined
          ? this.nameMatchesFrom.all(compoundId, after, needle, lower, want)
          : this.nameMatchesIn.all(compoundId, after, end, needle, lower, want);
      for (const row of rows) found.push(residentOfRow(row));
      if (end === undefined || found.length >= limit) return found;
      after = end;
      await yieldToEventLoop();
    }
  }

  async page(query: DirectoryQuery): Promise<DirectoryPage> {
    const status = query.status === 'active' ? ' AND active = 1' : query.status === 'inactive' ? ' AND active = 0' : '';
    const q = query.q?.trim() ?? '';
    const limit = Math.min(query.limit, MAX_DIRECTORY_PAGE);
    if (q === '') {
      const total = this.db
        .prepare(`SELECT COUNT(*) AS n FROM residents WHERE compound_id = ?${status}`)
        .get(query.compoundId) as { n: number };
      const rows = this.db
        .prepare(`SELECT ${COLUMNS} FROM residents WHERE compound_id = ?${status} ORDER BY person_id LIMIT ? OFFSET ?`)
        .all(query.compoundId, limit, query.offset) as Row[];
      return { residents: rows.map(entryOf), total: total.n, offset: query.offset, limit };
    }
    const like = `%${likeEscaped(q)}%`;
    const phoneTail = PHONE_TAIL.test(q) ? `%${q}` : null;
    // One rank per row: the strongest way it matched. Household members of a direct match come
    // last. `direct` is one scan of the compound (a contains-match cannot use an index),
    // materialized once; the ranked ids are read once and the total and the page cut from them.
    const hits = this.db
      .prepare(
        `WITH direct AS MATERIALIZED (
          SELECT person_id, household_id,
            CASE WHEN person_id = @q THEN 0
                 WHEN masked_name LIKE @like ESCAPE '\\' THEN 1
                 WHEN household_id = @q THEN 2
                 ELSE 3 END AS match_rank
          FROM residents
          WHERE compound_id = @compound${status}
            AND (person_id = @q OR masked_name LIKE @like ESCAPE '\\' OR household_id = @q
                 OR (@phoneTail IS NOT NULL AND phone LIKE @phoneTail))
        ),
        members AS (
          SELECT r.person_id, r.household_id, 4 AS match_rank
          FROM residents r
          WHERE r.compound_id = @compound${status.replaceAll('active', 'r.active')}
            AND r.household_id IN (SELECT household_id FROM direct WHERE household_id IS NOT NULL AND match_rank <> 2)
            AND r.person_id NOT IN (SELECT person_id FROM direct)
          LIMIT ${MAX_HOUSEHOLD_MEMBERS}
        )
        SELECT person_id, match_rank FROM (
          SELECT person_id, household_id, match_rank FROM direct
          UNION ALL SELECT person_id, household_id, match_rank FROM members
        ) ORDER BY match_rank, household_id, person_id`,
      )
      .all({ q, like, phoneTail, compound: query.compoundId }) as { person_id: string; match_rank: number }[];
    const page = hits.slice(query.offset, query.offset + limit);
    if (page.length === 0) return { residents: [], total: hits.length, offset: query.offset, limit };
    const rank = new Map(page.map((h) => [h.person_id, h.match_rank]));
    const rows = this.db
      .prepare(`SELECT ${COLUMNS} FROM residents WHERE person_id IN (${page.map(() => '?').join(',')})`)
      .all(...page.map((h) => h.person_id)) as Row[];
    const byId = new Map(rows.map((r) => [String(r.person_id), r]));
    const residents = page.flatMap((h) => {
      const row = byId.get(h.person_id);
      return row ? [entryOf({ ...row, match_rank: rank.get(h.person_id) })] : [];
    });
    return { residents, total: hits.length, offset: query.offset, limit };
  }

  async passes(personId: string, compoundId: string): Promise<PassListing[]> {
    return this.passesOf.all(personId, compoundId, MAX_PASSES_LISTED).map(passListingOf);
  }
}
