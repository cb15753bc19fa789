/**
 * What the manager dashboard reads about residents and their passes, one page at a time
 * (docs/web.md, "API added for the pages"): a server-side page of a compound's residents with
 * its total, searchable by what a manager may see without a reveal — masked name, household,
 * the last digits of the phone number or the person id — and the QR passes issued to one person.
 *
 * Full names and ID numbers never leave through here (docs/web.md, "Privacy on the pages"): a
 * row carries the masked name, the masked ID number and the phone's last four digits only.
 *
 * Read-only; open-resident-directory.ts picks the implementation of the engine the cloud runs on.
 */
import type { HealthColour, PassKind, PersonKind } from '../../shared/enums.ts';
import type { Resident } from '../store/store.ts';

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

export interface ResidentDirectory {
  /**
   * A page of the compound's residents. Without `q`: ordered by person id. With `q`: the rows it
   * matches ranked by how (person id, masked name, household id, phone tail), then the other
   * members of the matched people's households, flagged `household-member`.
   */
  page(query: DirectoryQuery): Promise<DirectoryPage>;
  /** The passes issued to `personId` in `compoundId`, newest first (the signed text left out). */
  passes(personId: string, compoundId: string): Promise<PassListing[]>;
  /**
   * Residents of `compoundId` whose full name contains `needle` (case-insensitive) or whose person
   * id is `needle`, by person id, at most `limit` — the tracer's name search (person-search.ts).
   * One scan of that compound's residents; no row leaves the database unless it matches.
   */
  byName(compoundId: string, needle: string, limit: number): Promise<Resident[]>;
}

/** A row as either engine returns it (booleans as 0/1 or true/false). */
type Row = Record<string, unknown>;

/** `LIKE` text of a user's query: `%`, `_` and `\` match themselves. */
export function likeEscaped(text: string): string {
  return text.replace(/[\\%_]/g, (ch) => `\\${ch}`);
}

export const PHONE_TAIL = /^\d{3,11}$/;

export function directoryEntryOf(r: Row): DirectoryEntry {
  const phone = r.phone === null || r.phone === undefined ? null : String(r.phone);
  const entry: DirectoryEntry = {
    personId: String(r.person_id),
    compoundId: String(r.compound_id),
    householdId: r.household_id === null ? null : String(r.household_id),
    kind: String(r.kind) as PersonKind,
    maskedName: String(r.masked_name),
    maskedIdNumber: r.masked_id_number === null ? null : String(r.masked_id_number),
    phoneTail: phone === null ? null : phone.slice(-4),
    elderly: r.elderly === true || Number(r.elderly) === 1,
    validFrom: r.valid_from === null ? null : Number(r.valid_from),
    validTo: r.valid_to === null ? null : Number(r.valid_to),
    active: r.active === true || Number(r.active) === 1,
    health: String(r.health) as HealthColour,
    healthTs: r.health_ts === null ? null : Number(r.health_ts),
    updatedAt: Number(r.updated_at),
  };
  if (typeof r.match_rank === 'number') entry.matchedBy = MATCH_KINDS[r.match_rank]!;
  return entry;
}

export const DIRECTORY_COLUMNS = `person_id, compound_id, household_id, kind, masked_name, masked_id_number, phone, elderly,
  valid_from, valid_to, active, health, health_ts, updated_at`;

export function passListingOf(r: Row): PassListing {
  return {
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
  };
}
