/**
 * The resident side's storage on SQLite (resident-side-store.ts): plain synchronous statements on
 * the store's connection, its tables versioned in `resident_side_migrations`
 * (resident-side-migrations.ts).
 */
import type { Database, Statement } from 'better-sqlite3';
import type { ResidentPolicy } from '../../shared/schemas/resident-side.ts';
import { runMigrations } from '../store/migration-runner.ts';
import { RESIDENT_SIDE_MIGRATIONS } from './resident-side-migrations.ts';
import {
  accountOfRow,
  codeOfRow,
  inviteOfRow,
  inviteValues,
  memberOfRow,
  policyOfText,
  type Raw,
  returnOfRow,
  returnValues,
} from './resident-side-rows.ts';
import type {
  ActivationCodeRow,
  ResidentAccount,
  ResidentSideStore,
  ReturnRow,
  ReturnStatus,
  VisitorInviteRow,
  VisitorStats,
} from './resident-side-store.ts';

const SQL = {
  insertCode: `INSERT INTO activation_codes (code_id, code_hash, person_id, compound_id, issued_by, issued_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  codeByHash: 'SELECT * FROM activation_codes WHERE code_hash = ?',
  codeById: 'SELECT * FROM activation_codes WHERE code_id = ?',
  revokeOpenOf: `UPDATE activation_codes SET revoked_at = ?, revoked_by = ?
     WHERE person_id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
  revokeCode:
    'UPDATE activation_codes SET revoked_at = ?, revoked_by = ? WHERE code_id = ? AND used_at IS NULL AND revoked_at IS NULL',
  useCode: `UPDATE activation_codes SET used_at = ?
     WHERE code_id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
  codesOfCompound: `SELECT * FROM activation_codes WHERE compound_id = ?
     AND (? = 'all' OR (used_at IS NULL AND revoked_at IS NULL AND expires_at > ?))
     AND (? IS NULL OR person_id = ?)
     ORDER BY issued_at DESC, code_id LIMIT 2000`,
  accountByPerson: 'SELECT * FROM resident_accounts WHERE person_id = ?',
  accountByLogin: 'SELECT * FROM resident_accounts WHERE login = ?',
  upsertAccount: `INSERT INTO resident_accounts (person_id, login, compound_id, password_hash, activated_at, code_id)
     VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT(person_id) DO UPDATE SET login = excluded.login, compound_id = excluded.compound_id,
       password_hash = excluded.password_hash, activated_at = excluded.activated_at, code_id = excluded.code_id`,
  setPassword: 'UPDATE resident_accounts SET password_hash = ? WHERE person_id = ?',
  activatedAmong: 'SELECT person_id FROM resident_accounts WHERE compound_id = ?',
  reserveInvite: `INSERT INTO visitor_invites (invite_id, compound_id, household_id, invited_by, visitor_person_id, pass_id,
       link_hash, masked_name, phone_tail, visit_date, uses, valid_from, valid_to, created_at, pending_until)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  invitesOf: `SELECT * FROM visitor_invites WHERE compound_id = ? AND household_id = ? AND pending_until IS NULL
     ORDER BY created_at DESC LIMIT 100`,
  completeInvite: 'UPDATE visitor_invites SET pending_until = NULL WHERE invite_id = ? AND pending_until > ?',
  abandonInvite: 'UPDATE visitor_invites SET pending_until = 0 WHERE invite_id = ?',
  abandonExpired: 'UPDATE visitor_invites SET pending_until = 0 WHERE invite_id = ? AND pending_until <= ?',
  dropInvite: 'DELETE FROM visitor_invites WHERE invite_id = ? AND pending_until = 0',
  expiredInvites:
    'SELECT * FROM visitor_invites WHERE pending_until <= ? ORDER BY pending_until DESC, created_at, invite_id LIMIT 100',
  invitesSince: `SELECT COUNT(*) AS n FROM visitor_invites WHERE compound_id = ? AND household_id = ? AND created_at >= ?
     AND (pending_until IS NULL OR pending_until > ?)`,
  inviteByLink: 'SELECT * FROM visitor_invites WHERE link_hash = ? AND pending_until IS NULL',
  inviteById: 'SELECT * FROM visitor_invites WHERE invite_id = ? AND pending_until IS NULL',
  revokeInvite:
    'UPDATE visitor_invites SET revoked_at = ? WHERE invite_id = ? AND revoked_at IS NULL AND pending_until IS NULL',
  isVisitorPerson: 'SELECT 1 FROM visitor_invites WHERE visitor_person_id = ?',
  insertReturn: `INSERT INTO return_registrations (return_id, compound_id, household_id, registered_by, origin, return_date,
       transport, transport_detail, created_at, yellow_until, status)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')`,
  insertReturnMember: 'INSERT INTO return_members (return_id, person_id, previous_colour, set_ts) VALUES (?, ?, ?, ?)',
  returnById: 'SELECT * FROM return_registrations WHERE return_id = ?',
  returnMembers: 'SELECT * FROM return_members WHERE return_id = ? ORDER BY person_id',
  returnsOfCompound: `SELECT * FROM return_registrations WHERE compound_id = ? AND (? = 'all' OR status = 'pending')
     ORDER BY created_at DESC LIMIT 500`,
  returnsOfHousehold: `SELECT * FROM return_registrations WHERE compound_id = ? AND (household_id = ? OR registered_by = ?)
     ORDER BY created_at DESC LIMIT 50`,
  dueReturns: `SELECT return_id FROM return_registrations
     WHERE status = 'pending' AND yellow_until IS NOT NULL AND yellow_until <= ? LIMIT 200`,
  setReturnStatus: `UPDATE return_registrations SET status = ?, reviewed_by = ?, reviewed_at = ?, review_note = ?
     WHERE return_id = ? AND status = 'pending'`,
  memberRestored: 'UPDATE return_members SET restored_at = ? WHERE return_id = ? AND person_id = ?',
  visitorPassages: `SELECT COUNT(*) AS passages, COALESCE(SUM(e.result = 'granted'), 0) AS granted,
       COUNT(DISTINCT e.person_id) AS visitors
     FROM visitor_invites v JOIN events e ON e.person_id = v.visitor_person_id
     WHERE v.compound_id = ? AND e.compound_id = v.compound_id AND e.ts >= ? AND e.ts < ?`,
  invitesBetween: `SELECT COUNT(*) AS n FROM visitor_invites WHERE compound_id = ? AND created_at >= ? AND created_at < ?
     AND pending_until IS NULL`,
  policyOf: 'SELECT policy FROM resident_policies WHERE compound_id = ?',
  setPolicy: `INSERT INTO resident_policies (compound_id, policy, updated_by, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT(compound_id) DO UPDATE SET policy = excluded.policy, updated_by = excluded.updated_by,
       updated_at = excluded.updated_at`,
} as const;

export class SqliteResidentSideStore implements ResidentSideStore {
  private readonly s: Record<keyof typeof SQL, Statement>;

  constructor(private readonly db: Database) {
    runMigrations(db, 'resident_side_migrations', RESIDENT_SIDE_MIGRATIONS);
    this.s = Object.fromEntries(Object.entries(SQL).map(([name, sql]) => [name, db.prepare(sql)])) as Record<
      keyof typeof SQL,
      Statement
    >;
  }

  get open(): boolean {
    return this.db.open;
  }

  private transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  private get<T>(name: keyof typeof SQL, map: (r: Raw) => T, ...params: unknown[]): T | undefined {
    const r = this.s[name].get(...params) as Raw | undefined;
    return r ? map(r) : undefined;
  }

  private all(name: keyof typeof SQL, ...params: unknown[]): Raw[] {
    return this.s[name].all(...params) as Raw[];
  }

  // ---- activation codes ------------------------------------------------------------------

  async issueCode(row: ActivationCodeRow & { codeHash: string }): Promise<void> {
    this.transaction(() => {
      this.s.revokeOpenOf.run(row.issuedAt, row.issuedBy, row.personId, row.issuedAt);
      this.s.insertCode.run(
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
    return this.get('codeByHash', codeOfRow, hash);
  }

  async codeById(codeId: string): Promise<ActivationCodeRow | undefined> {
    return this.get('codeById', codeOfRow, codeId);
  }

  async revokeCode(codeId: string, by: string, now: number): Promise<boolean> {
    return this.s.revokeCode.run(now, by, codeId).changes === 1;
  }

  async activate(codeId: string, account: ResidentAccount, now: number): Promise<boolean> {
    return this.transaction(() => {
      if (this.s.useCode.run(now, codeId, now).changes !== 1) return false;
      const a = account;
      this.s.upsertAccount.run(a.personId, a.login, a.compoundId, a.passwordHash, a.activatedAt, codeId);
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
    return this.all('codesOfCompound', compoundId, status, now, person, person).map(codeOfRow);
  }

  // ---- accounts ---------------------------------------------------------------------------

  async accountOf(personId: string): Promise<ResidentAccount | undefined> {
    return this.get('accountByPerson', accountOfRow, personId);
  }

  async accountByLogin(login: string): Promise<ResidentAccount | undefined> {
    return this.get('accountByLogin', accountOfRow, login);
  }

  async setPassword(personId: string, hash: string): Promise<void> {
    this.s.setPassword.run(hash, personId);
  }

  async activatedIn(compoundId: string): Promise<Set<string>> {
    return new Set(this.all('activatedAmong', compoundId).map((r) => String(r.person_id)));
  }

  // ---- visitors ---------------------------------------------------------------------------

  async reserveInvite(
    row: VisitorInviteRow & { linkHash: string },
    quota: { since: number; max: number; now: number; pendingUntil: number },
  ): Promise<number | undefined> {
    // One synchronous transaction: no other request's count or insert runs in between.
    return this.transaction(() => {
      const { compoundId, householdId } = row;
      const used = Number(this.get('invitesSince', (r) => r.n, compoundId, householdId, quota.since, quota.now));
      if (used >= quota.max) return undefined;
      this.s.reserveInvite.run(...inviteValues(row, quota.pendingUntil));
      return used;
    });
  }

  async completeInvite(inviteId: string, now: number): Promise<boolean> {
    return this.s.completeInvite.run(inviteId, now).changes === 1;
  }

  async abandonInvite(inviteId: string, now?: number): Promise<boolean> {
    const done = now === undefined ? this.s.abandonInvite.run(inviteId) : this.s.abandonExpired.run(inviteId, now);
    return done.changes === 1;
  }

  async dropInvite(inviteId: string): Promise<void> {
    this.s.dropInvite.run(inviteId);
  }

  async expiredInvites(now: number): Promise<VisitorInviteRow[]> {
    return this.all('expiredInvites', now).map(inviteOfRow);
  }

  async invitesOf(compoundId: string, householdId: string): Promise<VisitorInviteRow[]> {
    return this.all('invitesOf', compoundId, householdId).map(inviteOfRow);
  }

  async invitesSince(compoundId: string, householdId: string, since: number, now: number): Promise<number> {
    return Number(this.get('invitesSince', (r) => r.n, compoundId, householdId, since, now));
  }

  async inviteByLink(hash: string): Promise<VisitorInviteRow | undefined> {
    return this.get('inviteByLink', inviteOfRow, hash);
  }

  async inviteById(inviteId: string): Promise<VisitorInviteRow | undefined> {
    return this.get('inviteById', inviteOfRow, inviteId);
  }

  async revokeInvite(inviteId: string, now: number): Promise<boolean> {
    return this.s.revokeInvite.run(now, inviteId).changes === 1;
  }

  async isInvitedVisitor(personId: string): Promise<boolean> {
    return this.s.isVisitorPerson.get(personId) !== undefined;
  }

  // ---- return registrations -----------------------------------------------------------------

  async insertReturn(row: Omit<ReturnRow, 'status' | 'reviewedBy' | 'reviewedAt' | 'reviewNote'>): Promise<void> {
    this.transaction(() => {
      this.s.insertReturn.run(...returnValues(row));
      for (const m of row.members) this.s.insertReturnMember.run(row.returnId, m.personId, m.previousColour, m.setTs);
    });
  }

  private returnOf(r: Raw): ReturnRow {
    return returnOfRow(r, this.all('returnMembers', String(r.return_id)).map(memberOfRow));
  }

  async returnById(returnId: string): Promise<ReturnRow | undefined> {
    return this.get('returnById', (r) => this.returnOf(r), returnId);
  }

  async returnsOfCompound(compoundId: string, status: 'pending' | 'all'): Promise<ReturnRow[]> {
    return this.all('returnsOfCompound', compoundId, status).map((r) => this.returnOf(r));
  }

  async returnsOfHousehold(compoundId: string, householdId: string | null, personId: string): Promise<ReturnRow[]> {
    return this.all('returnsOfHousehold', compoundId, householdId, personId).map((r) => this.returnOf(r));
  }

  async dueReturns(now: number): Promise<string[]> {
    return this.all('dueReturns', now).map((r) => String(r.return_id));
  }

  async closeReturn(
    returnId: string,
    status: Exclude<ReturnStatus, 'pending'>,
    by: string,
    at: number,
    note: string | null,
  ): Promise<boolean> {
    return this.s.setReturnStatus.run(status, by, at, note, returnId).changes === 1;
  }

  async memberRestored(returnId: string, personId: string, at: number): Promise<void> {
    this.s.memberRestored.run(at, returnId, personId);
  }

  async visitorStats(compoundId: string, from: number, to: number): Promise<VisitorStats> {
    const r = this.s.visitorPassages.get(compoundId, from, to) as Raw;
    const n = this.s.invitesBetween.get(compoundId, from, to) as Raw;
    return {
      passages: Number(r.passages),
      granted: Number(r.granted),
      visitors: Number(r.visitors),
      invitations: Number(n.n),
    };
  }

  // ---- policy ------------------------------------------------------------------------------

  async policyOf(compoundId: string): Promise<ResidentPolicy> {
    return policyOfText(this.get('policyOf', (r) => String(r.policy), compoundId));
  }

  async setPolicy(compoundId: string, policy: ResidentPolicy, by: string, at: number): Promise<void> {
    this.s.setPolicy.run(compoundId, JSON.stringify(policy), by, at);
  }
}
