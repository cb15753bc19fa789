/** The audit log and the console's logins, on SQLite. */
import { addAuditConditions } from '../store-filters.ts';
import type { Database, Statement } from 'better-sqlite3';
import type { HttpRole } from '../../../shared/enums.ts';
import { ConflictError } from '../../cloud-errors.ts';
import { encodeCursor } from '../cursor.ts';
import type { AuditEntry, AuditQuery, User } from '../store.ts';
import { isUniqueViolation, WhereClause } from './rows.ts';
import { type AuditRow, auditEntryOfRow, type UserRow, userOfRow } from '../store-rows.ts';

export class SqliteAuditUserTables {
  private readonly insertAudit: Statement<
    [number, string, string, string, string | null, string | null, string | null]
  >;
  private readonly insertUser: Statement<[string, string, HttpRole, string | null, number]>;
  private readonly getUser: Statement<[string], UserRow>;
  private readonly setHash: Statement<[string, string]>;
  private readonly listUserRows: Statement<[], UserRow>;
  private readonly updateUserRow: Statement<[HttpRole, string | null, string]>;
  private readonly deleteUserRow: Statement<[string]>;
  private readonly purgeAuditRows: Statement<[number, number]>;

  constructor(private readonly db: Database) {
    this.insertAudit = db.prepare(`INSERT INTO audit_log (at, actor, role, action, compound_id, target, detail)
      VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.purgeAuditRows = db.prepare(
      'DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ? ORDER BY at LIMIT ?)',
    );
    this.insertUser = db.prepare(
      'INSERT INTO users (username, password_hash, role, compound_id, created_at) VALUES (?, ?, ?, ?, ?)',
    );
    this.getUser = db.prepare('SELECT * FROM users WHERE username = ?');
    this.setHash = db.prepare('UPDATE users SET password_hash = ? WHERE username = ?');
    this.listUserRows = db.prepare('SELECT * FROM users ORDER BY username');
    this.updateUserRow = db.prepare('UPDATE users SET role = ?, compound_id = ? WHERE username = ?');
    this.deleteUserRow = db.prepare('DELETE FROM users WHERE username = ?');
  }

  // ---- audit --------------------------------------------------------------------------------

  recordAudit(e: AuditEntry): void {
    const detail = e.detail === null ? null : JSON.stringify(e.detail);
    this.insertAudit.run(e.at, e.actor, e.role, e.action, e.compoundId, e.target, detail);
  }

  listAudit(query: AuditQuery): { entries: (AuditEntry & { id: number })[]; nextCursor: string | null } {
    const where = new WhereClause();
    addAuditConditions(where, query);
    const sql = `SELECT * FROM audit_log ${where.sql()} ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare<unknown[], AuditRow>(sql).all(...where.args, query.limit + 1);
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      entries: page.map(auditEntryOfRow),
      nextCursor: rows.length > query.limit && last ? encodeCursor([Number(last.id)]) : null,
    };
  }

  // ---- users --------------------------------------------------------------------------------

  createUser(u: User): void {
    try {
      this.insertUser.run(u.username, u.passwordHash, u.role, u.compoundId, u.createdAt);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError('user', u.username);
      throw err;
    }
  }

  user(username: string): User | undefined {
    const row = this.getUser.get(username);
    return row ? userOfRow(row) : undefined;
  }

  users(): User[] {
    return this.listUserRows.all().map(userOfRow);
  }

  setPasswordHash(username: string, passwordHash: string): boolean {
    return this.setHash.run(passwordHash, username).changes === 1;
  }

  updateUser(username: string, change: { role: HttpRole; compoundId: string | null }): boolean {
    return this.updateUserRow.run(change.role, change.compoundId, username).changes === 1;
  }

  deleteUser(username: string): boolean {
    return this.deleteUserRow.run(username).changes === 1;
  }

  /** Deletes up to `limit` audit entries recorded before `before` (the audit horizon). */
  purgeAudit(before: number, limit: number): number {
    return this.purgeAuditRows.run(before, limit).changes;
  }
}
