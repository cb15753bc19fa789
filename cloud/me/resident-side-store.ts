/**
 * The resident side's tables in the cloud database (own version table `resident_side_migrations`,
 * like the alarm and session books): activation codes (hashed), resident accounts, visitor
 * invitations, return registrations with their travellers, and each compound's resident-side
 * policy. Plain synchronous statements on the store's connection; the registry's own tables
 * (residents, passes, health) are changed only through `RegistryService`, so every change a gate
 * must know still goes through the change log.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { HealthColour } from '../../shared/enums.ts';
import {
  DEFAULT_RESIDENT_POLICY,
  type ResidentPolicy,
  residentPolicySchema,
  type Transport,
} from '../../shared/schemas/resident-side.ts';
import { type StoreEngine, UnsupportedEngineError } from '../store/engine.ts';
import { type Migration, runMigrations } from '../store/migration-runner.ts';

export const RESIDENT_SIDE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'activation codes, resident accounts, visitors, return registrations, policies',
    sql: `
CREATE TABLE activation_codes (
  code_id TEXT PRIMARY KEY,
  code_hash TEXT NOT NULL UNIQUE,
  person_id TEXT NOT NULL,
  compound_id TEXT NOT NULL,
  issued_by TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER,
  revoked_at INTEGER,
  revoked_by TEXT
);
CREATE INDEX activation_codes_by_person ON activation_codes(person_id);
CREATE INDEX activation_codes_by_compound ON activation_codes(compound_id, issued_at);
CREATE TABLE resident_accounts (
  person_id TEXT PRIMARY KEY,
  login TEXT NOT NULL UNIQUE,
  compound_id TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  activated_at INTEGER NOT NULL,
  code_id TEXT NOT NULL
);
CREATE TABLE visitor_invites (
  invite_id TEXT PRIMARY KEY,
  compound_id TEXT NOT NULL,
  household_id TEXT NOT NULL,
  invited_by TEXT NOT NULL,
  visitor_person_id TEXT NOT NULL,
  pass_id TEXT NOT NULL,
  link_hash TEXT NOT NULL UNIQUE,
  masked_name TEXT NOT NULL,
  phone_tail TEXT NOT NULL,
  visit_date TEXT NOT NULL,
  uses INTEGER NOT NULL,
  valid_from INTEGER NOT NULL,
  valid_to INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX visitor_invites_by_household ON visitor_invites(compound_id, household_id, created_at);
CREATE TABLE return_registrations (
  return_id TEXT PRIMARY KEY,
  compound_id TEXT NOT NULL,
  household_id TEXT,
  registered_by TEXT NOT NULL,
  origin TEXT NOT NULL,
  return_date TEXT NOT NULL,
  transport TEXT NOT NULL,
  transport_detail TEXT,
  created_at INTEGER NOT NULL,
  yellow_until INTEGER,
  status TEXT NOT NULL,
  reviewed_by TEXT,
  reviewed_at INTEGER,
  review_note TEXT
);
CREATE INDEX return_registrations_by_compound ON return_registrations(compound_id, status, created_at);
CREATE TABLE return_members (
  return_id TEXT NOT NULL,
  person_id TEXT NOT NULL,
  previous_colour TEXT NOT NULL,
  set_ts INTEGER,
  restored_at INTEGER,
  PRIMARY KEY (return_id, person_id)
);
CREATE TABLE resident_policies (
  compound_id TEXT PRIMARY KEY,
  policy TEXT NOT NULL,
  updated_by TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
`,
  },
];

export interface ActivationCodeRow {
  codeId: string;
  personId: string;
  compoundId: string;
  issuedBy: string;
  issuedAt: number;
  expiresAt: number;
  usedAt: number | null;
  revokedAt: number | null;
}

export interface ResidentAccount {
  personId: string;
  login: string;
  compoundId: string;
  passwordHash: string;
  activatedAt: number;
}

export interface VisitorInviteRow {
  inviteId: string;
  compoundId: string;
  householdId: string;
  invitedBy: string;
  visitorPersonId: string;
  passId: string;
  maskedName: string;
  phoneTail: string;
  visitDate: string;
  uses: number;
  validFrom: number;
  validTo: number;
  createdAt: number;
  revokedAt: number | null;
}

export type ReturnStatus = 'pending' | 'released' | 'cleared' | 'kept';

export interface ReturnMemberRow {
  personId: string;
  previousColour: HealthColour;
  /** The `ts` of the yellow colour this registration set; null when none was set (already red). */
  setTs: number | null;
  restoredAt: number | null;
}

export interface ReturnRow {
  returnId: string;
  compoundId: string;
  householdId: string | null;
  registeredBy: string;
  origin: string;
  returnDate: string;
  transport: Transport;
  transportDetail: string | null;
  createdAt: number;
  yellowUntil: number | null;
  status: ReturnStatus;
  reviewedBy: string | null;
  reviewedAt: number | null;
  reviewNote: string | null;
  members: ReturnMemberRow[];
}

type Row = Record<string, unknown>;
const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown) => (v === null || v === undefined ? null : String(v));

function codeRow(r: Row): ActivationCodeRow {
  return {
    codeId: String(r.code_id),
    personId: String(r.person_id),
    compoundId: String(r.compound_id),
    issuedBy: String(r.issued_by),
    issuedAt: Number(r.issued_at),
    expiresAt: Number(r.expires_at),
    usedAt: num(r.used_at),
    revokedAt: num(r.revoked_at),
  };
}

function inviteRow(r: Row): VisitorInviteRow {
  return {
    inviteId: String(r.invite_id),
    compoundId: String(r.compound_id),
    householdId: String(r.household_id),
    invitedBy: String(r.invited_by),
    visitorPersonId: String(r.visitor_person_id),
    passId: String(r.pass_id),
    maskedName: String(r.masked_name),
    phoneTail: String(r.phone_tail),
    visitDate: String(r.visit_date),
    uses: Number(r.uses),
    validFrom: Number(r.valid_from),
    validTo: Number(r.valid_to),
    createdAt: Number(r.created_at),
    revokedAt: num(r.revoked_at),
  };
}

/**
 * The resident side's storage as the routes see it: async, engine-neutral (cloud/store/engine.ts).
 * The SQLite implementation below is the one there is; `openResidentSideBook` picks it.
 */
export type ResidentSideBook = Pick<SqliteResidentSideBook, keyof SqliteResidentSideBook>;

export class SqliteResidentSideBook {
  private readonly s: Record<string, Statement>;

  constructor(private readonly db: Database) {
    runMigrations(db, 'resident_side_migrations', RESIDENT_SIDE_MIGRATIONS);
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      insertCode: p(
        `INSERT INTO activation_codes (code_id, code_hash, person_id, compound_id, issued_by, issued_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      codeByHash: p('SELECT * FROM activation_codes WHERE code_hash = ?'),
      codeById: p('SELECT * FROM activation_codes WHERE code_id = ?'),
      revokeOpenOf: p(
        `UPDATE activation_codes SET revoked_at = ?, revoked_by = ?
         WHERE person_id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
      ),
      revokeCode: p(
        'UPDATE activation_codes SET revoked_at = ?, revoked_by = ? WHERE code_id = ? AND used_at IS NULL AND revoked_at IS NULL',
      ),
      useCode: p(
        `UPDATE activation_codes SET used_at = ?
         WHERE code_id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
      ),
      codesOfCompound: p(
        `SELECT * FROM activation_codes WHERE compound_id = ?
         AND (? = 'all' OR (used_at IS NULL AND revoked_at IS NULL AND expires_at > ?))
         AND (? IS NULL OR person_id = ?)
         ORDER BY issued_at DESC, code_id LIMIT 2000`,
      ),
      accountByPerson: p('SELECT * FROM resident_accounts WHERE person_id = ?'),
      accountByLogin: p('SELECT * FROM resident_accounts WHERE login = ?'),
      upsertAccount: p(
        `INSERT INTO resident_accounts (person_id, login, compound_id, password_hash, activated_at, code_id)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(person_id) DO UPDATE SET login = excluded.login, compound_id = excluded.compound_id,
           password_hash = excluded.password_hash, activated_at = excluded.activated_at, code_id = excluded.code_id`,
      ),
      setPassword: p('UPDATE resident_accounts SET password_hash = ? WHERE person_id = ?'),
      activatedAmong: p('SELECT person_id FROM resident_accounts WHERE compound_id = ?'),
      insertInvite: p(
        `INSERT INTO visitor_invites (invite_id, compound_id, household_id, invited_by, visitor_person_id, pass_id,
           link_hash, masked_name, phone_tail, visit_date, uses, valid_from, valid_to, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      invitesOf: p(
        `SELECT * FROM visitor_invites WHERE compound_id = ? AND household_id = ? ORDER BY created_at DESC LIMIT 100`,
      ),
      invitesSince: p(
        'SELECT COUNT(*) AS n FROM visitor_invites WHERE compound_id = ? AND household_id = ? AND created_at >= ?',
      ),
      inviteByLink: p('SELECT * FROM visitor_invites WHERE link_hash = ?'),
      inviteById: p('SELECT * FROM visitor_invites WHERE invite_id = ?'),
      revokeInvite: p('UPDATE visitor_invites SET revoked_at = ? WHERE invite_id = ? AND revoked_at IS NULL'),
      isVisitorPerson: p('SELECT 1 FROM visitor_invites WHERE visitor_person_id = ?'),
      insertReturn: p(
        `INSERT INTO return_registrations (return_id, compound_id, household_id, registered_by, origin, return_date,
           transport, transport_detail, created_at, yellow_until, status)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')`,
      ),
      insertReturnMember: p(
        'INSERT INTO return_members (return_id, person_id, previous_colour, set_ts) VALUES (?, ?, ?, ?)',
      ),
      returnById: p('SELECT * FROM return_registrations WHERE return_id = ?'),
      returnMembers: p('SELECT * FROM return_members WHERE return_id = ? ORDER BY person_id'),
      returnsOfCompound: p(
        `SELECT * FROM return_registrations WHERE compound_id = ? AND (? = 'all' OR status = 'pending')
         ORDER BY created_at DESC LIMIT 500`,
      ),
      returnsOfHousehold: p(
        `SELECT * FROM return_registrations WHERE compound_id = ? AND (household_id = ? OR registered_by = ?)
         ORDER BY created_at DESC LIMIT 50`,
      ),
      dueReturns: p(
        `SELECT return_id FROM return_registrations
         WHERE status = 'pending' AND yellow_until IS NOT NULL AND yellow_until <= ? LIMIT 200`,
      ),
      setReturnStatus: p(
        `UPDATE return_registrations SET status = ?, reviewed_by = ?, reviewed_at = ?, review_note = ?
         WHERE return_id = ? AND status = 'pending'`,
      ),
      memberRestored: p('UPDATE return_members SET restored_at = ? WHERE return_id = ? AND person_id = ?'),
      visitorPassages: p(
        `SELECT COUNT(*) AS passages, COALESCE(SUM(e.result = 'granted'), 0) AS granted,
           COUNT(DISTINCT e.person_id) AS visitors
         FROM visitor_invites v JOIN events e ON e.person_id = v.visitor_person_id
         WHERE v.compound_id = ? AND e.compound_id = v.compound_id AND e.ts >= ? AND e.ts < ?`,
      ),
      invitesBetween: p(
        'SELECT COUNT(*) AS n FROM visitor_invites WHERE compound_id = ? AND created_at >= ? AND created_at < ?',
      ),
      policyOf: p('SELECT policy FROM resident_policies WHERE compound_id = ?'),
      setPolicy: p(
        `INSERT INTO resident_policies (compound_id, policy, updated_by, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(compound_id) DO UPDATE SET policy = excluded.policy, updated_by = excluded.updated_by,
           updated_at = excluded.updated_at`,
      ),
    };
  }

  /** Whether the connection is still open (the release job stops once the cloud closed the store). */
  get open(): boolean {
    return this.db.open;
  }

  private transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // ---- activation codes ------------------------------------------------------------------

  /** Stores a new code for a person and revokes their older open ones, in one transaction. */
  async issueCode(row: ActivationCodeRow & { codeHash: string }): Promise<void> {
    this.transaction(() => {
      this.s.revokeOpenOf!.run(row.issuedAt, row.issuedBy, row.personId, row.issuedAt);
      this.s.insertCode!.run(
        row.codeId,
        row.codeHash,
        row.personId,
        row.compoundId,
        row.issuedBy,
        row.issuedAt,
        row.expiresAt,
      );
    });
  }

  async codeByHash(hash: string): Promise<ActivationCodeRow | undefined> {
    const r = this.s.codeByHash!.get(hash) as Row | undefined;
    return r ? codeRow(r) : undefined;
  }

  async codeById(codeId: string): Promise<ActivationCodeRow | undefined> {
    const r = this.s.codeById!.get(codeId) as Row | undefined;
    return r ? codeRow(r) : undefined;
  }

  async revokeCode(codeId: string, by: string, now: number): Promise<boolean> {
    return this.s.revokeCode!.run(now, by, codeId).changes === 1;
  }

  /**
   * Uses a code and saves the account it opens, in one transaction; false (and nothing saved) when
   * the code was used, revoked or expired meanwhile (single use).
   */
  async activate(codeId: string, account: ResidentAccount, now: number): Promise<boolean> {
    return this.transaction(() => {
      if (this.s.useCode!.run(now, codeId, now).changes !== 1) return false;
      this.s.upsertAccount!.run(
        account.personId,
        account.login,
        account.compoundId,
        account.passwordHash,
        account.activatedAt,
        codeId,
      );
      return true;
    });
  }

  async codesOfCompound(
    compoundId: string,
    status: 'open' | 'all',
    now: number,
    personId?: string,
  ): Promise<ActivationCodeRow[]> {
    const person = personId ?? null;
    return (this.s.codesOfCompound!.all(compoundId, status, now, person, person) as Row[]).map(codeRow);
  }

  // ---- accounts ---------------------------------------------------------------------------

  private account(r: Row | undefined): ResidentAccount | undefined {
    return r
      ? {
          personId: String(r.person_id),
          login: String(r.login),
          compoundId: String(r.compound_id),
          passwordHash: String(r.password_hash),
          activatedAt: Number(r.activated_at),
        }
      : undefined;
  }

  async accountOf(personId: string): Promise<ResidentAccount | undefined> {
    return this.account(this.s.accountByPerson!.get(personId) as Row | undefined);
  }

  async accountByLogin(login: string): Promise<ResidentAccount | undefined> {
    return this.account(this.s.accountByLogin!.get(login) as Row | undefined);
  }

  async setPassword(personId: string, hash: string): Promise<void> {
    this.s.setPassword!.run(hash, personId);
  }

  async activatedIn(compoundId: string): Promise<Set<string>> {
    return new Set((this.s.activatedAmong!.all(compoundId) as Row[]).map((r) => String(r.person_id)));
  }

  // ---- visitors ---------------------------------------------------------------------------

  async insertInvite(row: VisitorInviteRow & { linkHash: string }): Promise<void> {
    this.s.insertInvite!.run(
      row.inviteId,
      row.compoundId,
      row.householdId,
      row.invitedBy,
      row.visitorPersonId,
      row.passId,
      row.linkHash,
      row.maskedName,
      row.phoneTail,
      row.visitDate,
      row.uses,
      row.validFrom,
      row.validTo,
      row.createdAt,
    );
  }

  async invitesOf(compoundId: string, householdId: string): Promise<VisitorInviteRow[]> {
    return (this.s.invitesOf!.all(compoundId, householdId) as Row[]).map(inviteRow);
  }

  async invitesSince(compoundId: string, householdId: string, since: number): Promise<number> {
    return Number((this.s.invitesSince!.get(compoundId, householdId, since) as Row).n);
  }

  async inviteByLink(hash: string): Promise<VisitorInviteRow | undefined> {
    const r = this.s.inviteByLink!.get(hash) as Row | undefined;
    return r ? inviteRow(r) : undefined;
  }

  async inviteById(inviteId: string): Promise<VisitorInviteRow | undefined> {
    const r = this.s.inviteById!.get(inviteId) as Row | undefined;
    return r ? inviteRow(r) : undefined;
  }

  async revokeInvite(inviteId: string, now: number): Promise<boolean> {
    return this.s.revokeInvite!.run(now, inviteId).changes === 1;
  }

  /** Whether this person was created for a visitor invitation. */
  async isInvitedVisitor(personId: string): Promise<boolean> {
    return this.s.isVisitorPerson!.get(personId) !== undefined;
  }

  // ---- return registrations -----------------------------------------------------------------

  async insertReturn(row: Omit<ReturnRow, 'status' | 'reviewedBy' | 'reviewedAt' | 'reviewNote'>): Promise<void> {
    this.transaction(() => {
      this.s.insertReturn!.run(
        row.returnId,
        row.compoundId,
        row.householdId,
        row.registeredBy,
        row.origin,
        row.returnDate,
        row.transport,
        row.transportDetail,
        row.createdAt,
        row.yellowUntil,
      );
      for (const m of row.members) this.s.insertReturnMember!.run(row.returnId, m.personId, m.previousColour, m.setTs);
    });
  }

  private returnOf(r: Row): ReturnRow {
    const returnId = String(r.return_id);
    return {
      returnId,
      compoundId: String(r.compound_id),
      householdId: str(r.household_id),
      registeredBy: String(r.registered_by),
      origin: String(r.origin),
      returnDate: String(r.return_date),
      transport: String(r.transport) as Transport,
      transportDetail: str(r.transport_detail),
      createdAt: Number(r.created_at),
      yellowUntil: num(r.yellow_until),
      status: String(r.status) as ReturnStatus,
      reviewedBy: str(r.reviewed_by),
      reviewedAt: num(r.reviewed_at),
      reviewNote: str(r.review_note),
      members: (this.s.returnMembers!.all(returnId) as Row[]).map((m) => ({
        personId: String(m.person_id),
        previousColour: String(m.previous_colour) as HealthColour,
        setTs: num(m.set_ts),
        restoredAt: num(m.restored_at),
      })),
    };
  }

  async returnById(returnId: string): Promise<ReturnRow | undefined> {
    const r = this.s.returnById!.get(returnId) as Row | undefined;
    return r ? this.returnOf(r) : undefined;
  }

  async returnsOfCompound(compoundId: string, status: 'pending' | 'all'): Promise<ReturnRow[]> {
    return (this.s.returnsOfCompound!.all(compoundId, status) as Row[]).map((r) => this.returnOf(r));
  }

  async returnsOfHousehold(compoundId: string, householdId: string | null, personId: string): Promise<ReturnRow[]> {
    return (this.s.returnsOfHousehold!.all(compoundId, householdId, personId) as Row[]).map((r) => this.returnOf(r));
  }

  /** Pending registrations whose yellow period is over. */
  async dueReturns(now: number): Promise<string[]> {
    return (this.s.dueReturns!.all(now) as Row[]).map((r) => String(r.return_id));
  }

  /** Moves a pending registration on; false when it was no longer pending (someone was faster). */
  async closeReturn(
    returnId: string,
    status: Exclude<ReturnStatus, 'pending'>,
    by: string,
    at: number,
    note: string | null,
  ): Promise<boolean> {
    return this.s.setReturnStatus!.run(status, by, at, note, returnId).changes === 1;
  }

  async memberRestored(returnId: string, personId: string, at: number): Promise<void> {
    this.s.memberRestored!.run(at, returnId, personId);
  }

  /** Visitors' passages of a compound in `[from, to)`, and the invitations made then (statistics). */
  async visitorStats(
    compoundId: string,
    from: number,
    to: number,
  ): Promise<{ passages: number; granted: number; visitors: number; invitations: number }> {
    const r = this.s.visitorPassages!.get(compoundId, from, to) as Row;
    const n = this.s.invitesBetween!.get(compoundId, from, to) as Row;
    return {
      passages: Number(r.passages),
      granted: Number(r.granted),
      visitors: Number(r.visitors),
      invitations: Number(n.n),
    };
  }

  // ---- policy ------------------------------------------------------------------------------

  async policyOf(compoundId: string): Promise<ResidentPolicy> {
    const r = this.s.policyOf!.get(compoundId) as Row | undefined;
    if (!r) return DEFAULT_RESIDENT_POLICY;
    const parsed = residentPolicySchema.safeParse(JSON.parse(String(r.policy)));
    return parsed.success ? parsed.data : DEFAULT_RESIDENT_POLICY;
  }

  async setPolicy(compoundId: string, policy: ResidentPolicy, by: string, at: number): Promise<void> {
    this.s.setPolicy!.run(compoundId, JSON.stringify(policy), by, at);
  }
}

/** The resident side's storage on the engine the cloud runs on, its tables created if need be. */
export function openResidentSideBook(engine: StoreEngine): ResidentSideBook {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteResidentSideBook(engine.db);
    default:
      throw new UnsupportedEngineError('resident side', engine.kind);
  }
}
