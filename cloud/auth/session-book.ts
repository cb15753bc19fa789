/**
 * Server-side sessions of the HTTP API and the pages (docs/security.md, "Sessions").
 *
 * A bearer token is signed (shared/token.ts) *and* names a session row by its `jti`: a request is
 * let through only while that row exists, is not ended and has not been idle longer than the idle
 * timeout. Ending a session is one UPDATE, and every request checks the row, so a logout, a
 * password change, a disabled, re-roled or deleted user ends every token at once — the next
 * request, however soon, is refused; an open live stream re-checks its session every second.
 *
 * The rows live in the cloud's database (own tables, own version table `session_migrations`), so
 * `anxin user passwd|disable` ending sessions in the file takes effect in a running cloud too.
 * Users that an admin disabled are kept in `user_flags`, beside the store's `users` table.
 *
 * A live-stream ticket (`use: 'live'`, cloud/http/routes/live-ticket.ts) has no row of its own: it
 * carries its session's id in `sid` and lives only while that session does.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { SessionRole } from '../../shared/enums.ts';
import type { SigningKey } from '../../shared/keys.ts';
import { newTokenId, signToken, type TokenClaims } from '../../shared/token.ts';
import { type Migration, runMigrations } from '../store/migration-runner.ts';

/** How long a sign-in lasts at most. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** A session not used for this long ends (the pages also sign out after this long without input). */
export const SESSION_IDLE_MS = 30 * 60 * 1000;
/** `last_seen_at` is written at most this often per session (a request is not a write). */
const TOUCH_EVERY_MS = 15_000;

export const SESSION_MIGRATIONS: readonly Migration[] = [
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

export type SessionEndReason = 'logout' | 'password' | 'disabled' | 'changed' | 'deleted';
export type SessionRefusal = 'no-session' | 'ended' | 'idle';

export interface IssuedSession {
  token: string;
  jti: string;
  expiresAt: number;
}

export interface SessionIdentity {
  username: string;
  role: SessionRole;
  compound?: string;
}

export interface SessionBookOptions {
  db: Database;
  /** Needed to issue sessions; a tool that only ends them goes without. */
  signingKey?: SigningKey;
  now: () => number;
  idleMs?: number;
  ttlMs?: number;
}

type Row = Record<string, unknown>;

export class SessionBook {
  readonly idleMs: number;
  readonly ttlMs: number;
  private stmt: Record<string, Statement> | undefined;

  constructor(private readonly options: SessionBookOptions) {
    this.idleMs = options.idleMs ?? SESSION_IDLE_MS;
    this.ttlMs = options.ttlMs ?? SESSION_TTL_MS;
  }

  /** Creates the tables if needed and prepares the statements. */
  start(): this {
    runMigrations(this.options.db, 'session_migrations', SESSION_MIGRATIONS);
    const p = (sql: string) => this.options.db.prepare(sql);
    this.stmt = {
      insert: p(
        `INSERT INTO sessions (jti, username, role, compound_id, issued_at, expires_at, last_seen_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      get: p('SELECT username, role, compound_id, expires_at, last_seen_at, ended_at FROM sessions WHERE jti = ?'),
      touch: p('UPDATE sessions SET last_seen_at = ? WHERE jti = ? AND ended_at IS NULL'),
      end: p('UPDATE sessions SET ended_at = ?, end_reason = ? WHERE jti = ? AND ended_at IS NULL'),
      endAllOf: p('UPDATE sessions SET ended_at = ?, end_reason = ? WHERE username = ? AND ended_at IS NULL'),
      purge: p('DELETE FROM sessions WHERE expires_at < ?'),
      activeCounts: p(
        `SELECT username, COUNT(*) AS n FROM sessions
         WHERE ended_at IS NULL AND expires_at > ? AND last_seen_at > ? GROUP BY username`,
      ),
      flags: p('SELECT username, disabled_at FROM user_flags'),
      isDisabled: p('SELECT disabled_at FROM user_flags WHERE username = ? AND disabled_at IS NOT NULL'),
      disable: p(
        `INSERT INTO user_flags (username, disabled_at, disabled_by) VALUES (?, ?, ?)
         ON CONFLICT(username) DO UPDATE SET disabled_at = excluded.disabled_at, disabled_by = excluded.disabled_by`,
      ),
      enable: p('DELETE FROM user_flags WHERE username = ?'),
    };
    return this;
  }

  private get s(): Record<string, Statement> {
    if (!this.stmt) throw new Error('SessionBook.start() was not called');
    return this.stmt;
  }

  /** A new session and its bearer token. Expired rows of everyone are dropped on the way. */
  issue(who: SessionIdentity): IssuedSession {
    const key = this.options.signingKey;
    if (!key) throw new Error('SessionBook: issuing a session needs the signing key');
    const now = this.options.now();
    const jti = newTokenId();
    const expiresAt = now + this.ttlMs;
    this.s.purge!.run(now - this.idleMs);
    this.s.insert!.run(jti, who.username, who.role, who.compound ?? null, now, expiresAt, now);
    const token = signToken(
      {
        sub: who.username,
        role: who.role,
        ...(who.compound !== undefined ? { compound: who.compound } : {}),
        exp: expiresAt,
        iat: now,
        jti,
      },
      key,
    );
    return { token, jti, expiresAt };
  }

  /**
   * Whether the session of a verified token is alive; a live one is marked as used. A ticket is
   * checked through the session it was minted from (`sid`).
   */
  check(claims: Pick<TokenClaims, 'jti' | 'sub' | 'sid'>): SessionRefusal | 'ok' {
    const id = claims.sid ?? claims.jti;
    const row = this.s.get!.get(id) as Row | undefined;
    if (!row || String(row.username) !== claims.sub) return 'no-session';
    if (row.ended_at !== null) return 'ended';
    const now = this.options.now();
    if (Number(row.expires_at) <= now) return 'ended';
    const lastSeen = Number(row.last_seen_at);
    if (now - lastSeen > this.idleMs) {
      this.s.end!.run(now, 'idle', id);
      return 'idle';
    }
    // A ticket's stream does not count as use: an unattended page still times out.
    if (claims.sid === undefined && now - lastSeen >= TOUCH_EVERY_MS) this.s.touch!.run(now, id);
    return 'ok';
  }

  /** Whether a session is still alive, without counting this as use (open live streams ask every second). */
  alive(jti: string): boolean {
    const row = this.s.get!.get(jti) as Row | undefined;
    const now = this.options.now();
    return (
      row !== undefined &&
      row.ended_at === null &&
      Number(row.expires_at) > now &&
      now - Number(row.last_seen_at) <= this.idleMs
    );
  }

  /** Ends one session (logout); false when it was already over. */
  end(jti: string, reason: SessionEndReason): boolean {
    return this.s.end!.run(this.options.now(), reason, jti).changes === 1;
  }

  /** Ends every session of a user; returns how many were open. */
  endAllOf(username: string, reason: SessionEndReason): number {
    return this.s.endAllOf!.run(this.options.now(), reason, username).changes;
  }

  /** Open, unexpired, not idle sessions per user. */
  activeCounts(): Map<string, number> {
    const now = this.options.now();
    const rows = this.s.activeCounts!.all(now, now - this.idleMs) as Row[];
    return new Map(rows.map((r) => [String(r.username), Number(r.n)]));
  }

  isDisabled(username: string): boolean {
    return this.s.isDisabled!.get(username) !== undefined;
  }

  /** Users an admin disabled, with when. */
  disabledUsers(): Map<string, number> {
    const rows = this.s.flags!.all() as Row[];
    return new Map(rows.filter((r) => r.disabled_at !== null).map((r) => [String(r.username), Number(r.disabled_at)]));
  }

  /** Disables a user (and ends their sessions) or enables them again. */
  setDisabled(username: string, disabled: boolean, by: string): void {
    if (disabled) {
      this.s.disable!.run(username, this.options.now(), by);
      this.endAllOf(username, 'disabled');
    } else {
      this.s.enable!.run(username);
    }
  }

  /** Forgets a deleted user's flags and ends their sessions. */
  forget(username: string): void {
    this.s.enable!.run(username);
    this.endAllOf(username, 'deleted');
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
    return new SessionBook({ db, signingKey, now: Date.now }).start().issue(who);
  } finally {
    db.close();
  }
}
