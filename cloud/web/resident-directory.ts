/**
 * What the manager dashboard reads about residents and their passes, one page at a time
 * (docs/web.md, "API added for the pages"): a server-side page of a compound's residents with
 * its total, searchable by what a manager may see without a reveal — masked name, household,
 * the last digits of the phone number or the person id — and the QR passes issued to one person.
 *
 * Full names and ID numbers never leave through here (docs/web.md, "Privacy on the pages"): a
 * row carries the masked name, the masked ID number and the phone's last four digits only.
 *
 * SQLite on the store's own connection (`SqliteCloudStore.db`), like the alarm book; read-only.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { HealthColour, PassKind, PersonKind } from '../../shared/enums.ts';

/** Rows per page at most (the dashboard asks for 50). */
export const MAX_DIRECTORY_PAGE = 200;
/** Passes listed per person at most, newest first. */
export const MAX_PASSES_LISTED = 200;
/** Household members of the direct matches shown after them, at most. */
export const MAX_HOUSEHOLD_MEMBERS = 50;

/** Why a row is in the answer, strongest first (the order of the ranking). */
export const MATCH_KINDS = ['person-id', 'masked-name', 'household', 'phone-tail', 'household-member'] as const;
export type MatchKind = (typeof MATCH_KINDS)[number];

export interface DirectoryQuery {
  compoundId: string;
  /** Search text; empty or absent: every resident of the compound. */
  q?: string;
  status: 'all' | 'active' | 'inactive';
  offset: number;
  limit: number;
}

export interface DirectoryEntry {
  personId: string;
  compoundId: string;
  householdId: string | null;
  kind: PersonKind;
  maskedName: string;
  maskedIdNumber: string | null;
  /** The last four digits of the phone number, or null without one. */
  phoneTail: string | null;
  elderly: boolean;
  validFrom: number | null;
  validTo: number | null;
  active: boolean;
  health: HealthColour;
  healthTs: number | null;
  updatedAt: number;
  /** Set when a search placed the row: how it matched. */
  matchedBy?: MatchKind;
}

export interface DirectoryPage {
  residents: DirectoryEntry[];
  /** Rows the whole query has (not only this page). */
  total: number;
  offset: number;
  limit: number;
}

export interface PassListing {
  passId: string;
  personId: string;
  compoundId: string;
  kind: PassKind;
  notBefore: number;
  expiresAt: number;
  useLimit: number | null;
  issuedBy: string;
  issuedAt: number;
  revokedAt: number | null;
}

type Row = Record<string, unknown>;

/** `LIKE` text of a user's query: `%`, `_` and `\` match themselves. */
function likeEscaped(text: string): string {
  return text.replace(/[\\%_]/g, (ch) => `\\${ch}`);
}

const PHONE_TAIL = /^\d{3,11}$/;

function entryOf(r: Row): DirectoryEntry {
  const phone = r.phone === null || r.phone === undefined ? null : String(r.phone);
  const entry: DirectoryEntry = {
    personId: String(r.person_id),
    compoundId: String(r.compound_id),
    householdId: r.household_id === null ? null : String(r.household_id),
    kind: String(r.kind) as PersonKind,
    maskedName: String(r.masked_name),
    maskedIdNumber: r.masked_id_number === null ? null : String(r.masked_id_number),
    phoneTail: phone === null ? null : phone.slice(-4),
    elderly: Number(r.elderly) === 1,
    validFrom: r.valid_from === null ? null : Number(r.valid_from),
    validTo: r.valid_to === null ? null : Number(r.valid_to),
    active: Number(r.active) === 1,
    health: String(r.health) as HealthColour,
    healthTs: r.health_ts === null ? null : Number(r.health_ts),
    updatedAt: Number(r.updated_at),
  };
  if (typeof r.match_rank === 'number') entry.matchedBy = MATCH_KINDS[r.match_rank]!;
  return entry;
}

const COLUMNS = `person_id, compound_id, household_id, kind, masked_name, masked_id_number, phone, elderly,
  valid_from, valid_to, active, health, health_ts, updated_at`;

export class SqliteResidentDirectory {
  private readonly passesOf: Statement;

  constructor(private readonly db: Database) {
    this.passesOf = db.prepare(
      `SELECT pass_id, person_id, compound_id, kind, not_before, expires_at, use_limit, issued_by, issued_at, revoked_at
       FROM passes WHERE person_id = ? AND compound_id = ? ORDER BY issued_at DESC, pass_id LIMIT ?`,
    );
  }

  /**
   * A page of the compound's residents. Without `q`: ordered by person id. With `q`: the rows it
   * matches ranked by how (person id, masked name, household id, phone tail), then the other
   * members of the matched people's households, flagged `household-member`.
   */
  page(query: DirectoryQuery): DirectoryPage {
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

  /** The passes issued to `personId` in `compoundId`, newest first (the signed text left out). */
  passes(personId: string, compoundId: string): PassListing[] {
    return (this.passesOf.all(personId, compoundId, MAX_PASSES_LISTED) as Row[]).map((r) => ({
      passId: String(r.pass_id),
      personId: String(r.person_id),
      compoundId: String(r.compound_id),
      kind: String(r.kind) as PassKind,
      notBefore: Number(r.not_before),
      expiresAt: Number(r.expires_at),
      useLimit: r.use_limit === null ? null : Number(r.use_limit),
      issuedBy: String(r.issued_by),
      issuedAt: Number(r.issued_at),
      revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
    }));
  }
}
