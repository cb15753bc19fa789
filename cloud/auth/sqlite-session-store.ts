/** Sessions and disabled users on SQLite: `sessions`, `user_flags`, versioned in `session_migrations`. */
import type { Database, Statement } from 'better-sqlite3';
import type { SessionRole } from '../../shared/enums.ts';
import { type Migration, runMigrations } from '../store/migration-runner.ts';
import type { SigningKey } from '../../shared/keys.ts';
import { type IssuedSession, SessionService, type SessionIdentity } from './session-service.ts';
import type { NewSession, SessionRecord, SessionStore } from './session-store.ts';

const SESSION_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'sessions and disabled users',
    sql: `
CREATE TABLE sessions (
  jti TEXT PRIMARY KEY,
  username TEXT NOT NULL,
  role TEXT NOT NULL,
  compound_id TEXT,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  ended_at INTEGER,
  end_reason TEXT
);
CREATE INDEX sessions_by_username ON sessions(username);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);
CREATE TABLE user_flags (
  username TEXT PRIMARY KEY,
  disabled_at INTEGER,
  disabled_by TEXT
);
`,
  },
];

interface SessionRow {
  username: string;
  role: SessionRole;
  compound_id: string | null;
  expires_at: number;
  last_seen_at: number;
  ended_at: number | null;
}

interface Statements {
  insert: Statement<[string, string, SessionRole, string | null, number, number, number]>;
  get: Statement<[string], SessionRow>;
  touch: Statement<[number, string]>;
  end: Statement<[number, string, string]>;
  endAllOf: Statement<[number, string, string]>;
  purge: Statement<[number]>;
  activeCounts: Statement<[number, number], { username: string; n: number }>;
  flags: Statement<[], { username: string; disabled_at: number | null }>;
  isDisabled: Statement<[string], 1>;
  disable: Statement<[string, number, string]>;
  enable: Statement<[string]>;
}

export class SqliteSessionStore implements SessionStore {
  private readonly s: Statements;

  /** Creates the tables if need be and prepares the statements. */
  constructor(db: Database) {
    runMigrations(db, 'session_migrations', SESSION_MIGRATIONS);
    this.s = {
      insert: db.prepare(`INSERT INTO sessions (jti, username, role, compound_id, issued_at, expires_at, last_seen_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      get: db.prepare(
        'SELECT username, role, compound_id, expires_at, last_seen_at, ended_at FROM sessions WHERE jti = ?',
      ),
      touch: db.prepare('UPDATE sessions SET last_seen_at = ? WHERE jti = ? AND ended_at IS NULL'),
      end: db.prepare('UPDATE sessions SET ended_at = ?, end_reason = ? WHERE jti = ? AND ended_at IS NULL'),
      endAllOf: db.prepare('UPDATE sessions SET ended_at = ?, end_reason = ? WHERE username = ? AND ended_at IS NULL'),
      purge: db.prepare('DELETE FROM sessions WHERE expires_at < ?'),
      activeCounts: db.prepare(`SELECT username, COUNT(*) AS n FROM sessions
        WHERE ended_at IS NULL AND expires_at > ? AND last_seen_at > ? GROUP BY username`),
      flags: db.prepare('SELECT username, disabled_at FROM user_flags'),
      isDisabled: db
        .prepare<[string], 1>('SELECT 1 FROM user_flags WHERE username = ? AND disabled_at IS NOT NULL')
        .pluck(),
      disable: db.prepare(`INSERT INTO user_flags (username, disabled_at, disabled_by) VALUES (?, ?, ?)
        ON CONFLICT(username) DO UPDATE SET disabled_at = excluded.disabled_at, disabled_by = excluded.disabled_by`),
      enable: db.prepare('DELETE FROM user_flags WHERE username = ?'),
    };
  }

  async insert(n: NewSession, expiredBefore: number): Promise<void> {
    this.insertNow(n, expiredBefore);
  }

  /** `insert`, done when it returns (for tools that open a session in a database file). */
  insertNow(n: NewSession, expiredBefore: number): void {
    this.s.purge.run(expiredBefore);
    this.s.insert.run(n.jti, n.username, n.role, n.compoundId, n.issuedAt, n.expiresAt, n.issuedAt);
  }

  async get(jti: string): Promise<SessionRecord | undefined> {
    const row = this.s.get.get(jti);
    if (!row) return undefined;
    return {
      username: row.username,
      role: row.role,
      compoundId: row.compound_id,
      expiresAt: Number(row.expires_at),
      lastSeenAt: Number(row.last_seen_at),
      endedAt: row.ended_at === null ? null : Number(row.ended_at),
    };
  }

  async touch(jti: string, at: number): Promise<void> {
    this.s.touch.run(at, jti);
  }

  async end(jti: string, at: number, reason: string): Promise<boolean> {
    return this.s.end.run(at, reason, jti).changes === 1;
  }

  async endAllOf(username: string, at: number, reason: string): Promise<number> {
    return this.s.endAllOf.run(at, reason, username).changes;
  }

  async activeCounts(now: number, seenAfter: number): Promise<Map<string, number>> {
    return new Map(this.s.activeCounts.all(now, seenAfter).map((r) => [r.username, Number(r.n)]));
  }

  async disabledUsers(): Promise<Map<string, number>> {
    const rows = this.s.flags.all();
    return new Map(rows.flatMap((r) => (r.disabled_at === null ? [] : [[r.username, Number(r.disabled_at)]])));
  }

  async isDisabled(username: string): Promise<boolean> {
    return this.s.isDisabled.get(username) !== undefined;
  }

  async disable(username: string, at: number, by: string): Promise<void> {
    this.s.disable.run(username, at, by);
  }

  async clearFlags(username: string): Promise<void> {
    this.s.enable.run(username);
  }
}

/**
 * Opens a session in a cloud database file from outside the cloud process (provisioning tools,
 * benchmarks, test deployments): the running cloud sees the row at the next request.
 */
export function issueSessionInFile(
  dbPath: string,
  signingKey: SigningKey,
  who: SessionIdentity,
  openDb: (path: string) => Database,
): IssuedSession {
  const db = openDb(dbPath);
  try {
    db.pragma('busy_timeout = 5000');
    const store = new SqliteSessionStore(db);
    const sessions = new SessionService({ store, signingKey, now: Date.now });
    const { row, issued } = sessions.mint(who);
    store.insertNow(row, row.issuedAt - sessions.idleMs);
    return issued;
  } finally {
    db.close();
  }
}
