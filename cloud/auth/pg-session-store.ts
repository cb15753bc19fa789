/** Sessions and disabled users on PostgreSQL: `sessions`, `user_flags`, versioned in `session_migrations`. */
import type pg from 'pg';
import type { SessionRole } from '../../shared/enums.ts';
import type { Migration } from '../store/migration-runner.ts';
import { migratedOnFirstUse } from '../store/postgres/pg-migrated.ts';
import { one, run, statement, transaction } from '../store/postgres/pg-pool.ts';
import type { NewSession, SessionRecord, SessionStore } from './session-store.ts';

export const PG_SESSION_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'sessions and disabled users',
    sql: `
CREATE TABLE sessions (
  jti text PRIMARY KEY,
  username text NOT NULL,
  role text NOT NULL,
  compound_id text,
  issued_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  last_seen_at bigint NOT NULL,
  ended_at bigint,
  end_reason text
);
CREATE INDEX sessions_by_username ON sessions(username);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);
CREATE TABLE user_flags (
  username text PRIMARY KEY,
  disabled_at bigint,
  disabled_by text
);
`,
  },
];

const insert = statement<[string, string, SessionRole, string | null, number, number]>(
  'session_insert',
  `INSERT INTO sessions (jti, username, role, compound_id, issued_at, expires_at, last_seen_at)
   VALUES ($1, $2, $3, $4, $5, $6, $5)`,
);
const purge = statement<[number]>('session_purge', 'DELETE FROM sessions WHERE expires_at < $1');
const get = statement<
  [string],
  {
    username: string;
    role: SessionRole;
    compound_id: string | null;
    expires_at: number;
    last_seen_at: number;
    ended_at: number | null;
  }
>('session_get', 'SELECT username, role, compound_id, expires_at, last_seen_at, ended_at FROM sessions WHERE jti = $1');
const touch = statement<[number, string]>(
  'session_touch',
  'UPDATE sessions SET last_seen_at = $1 WHERE jti = $2 AND ended_at IS NULL',
);
const end = statement<[number, string, string]>(
  'session_end',
  'UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE jti = $3 AND ended_at IS NULL',
);
const endAllOf = statement<[number, string, string]>(
  'session_end_all_of',
  'UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE username = $3 AND ended_at IS NULL',
);
const activeCounts = statement<[number, number], { username: string; n: number }>(
  'session_active_counts',
  `SELECT username, COUNT(*)::int8 AS n FROM sessions
   WHERE ended_at IS NULL AND expires_at > $1 AND last_seen_at > $2 GROUP BY username`,
);
const disabled = statement<[], { username: string; disabled_at: number }>(
  'session_disabled_users',
  'SELECT username, disabled_at FROM user_flags WHERE disabled_at IS NOT NULL',
);
const isDisabled = statement<[string], { one: number }>(
  'session_is_disabled',
  'SELECT 1 AS one FROM user_flags WHERE username = $1 AND disabled_at IS NOT NULL',
);
const disable = statement<[string, number, string]>(
  'session_disable',
  `INSERT INTO user_flags (username, disabled_at, disabled_by) VALUES ($1, $2, $3)
   ON CONFLICT (username) DO UPDATE SET disabled_at = excluded.disabled_at, disabled_by = excluded.disabled_by`,
);
const clearFlags = statement<[string]>('session_clear_flags', 'DELETE FROM user_flags WHERE username = $1');

export class PgSessionStore implements SessionStore {
  private readonly ready: () => Promise<pg.Pool>;

  constructor(pool: pg.Pool) {
    this.ready = migratedOnFirstUse(pool, 'session_migrations', PG_SESSION_MIGRATIONS);
  }

  async insert(n: NewSession, expiredBefore: number): Promise<void> {
    await transaction(await this.ready(), async (client) => {
      await run(client, purge, [expiredBefore]);
      await run(client, insert, [n.jti, n.username, n.role, n.compoundId, n.issuedAt, n.expiresAt]);
    });
  }

  async get(jti: string): Promise<SessionRecord | undefined> {
    const row = await one(await this.ready(), get, [jti]);
    if (!row) return undefined;
    return {
      username: row.username,
      role: row.role,
      compoundId: row.compound_id,
      expiresAt: row.expires_at,
      lastSeenAt: row.last_seen_at,
      endedAt: row.ended_at,
    };
  }

  async touch(jti: string, at: number): Promise<void> {
    await run(await this.ready(), touch, [at, jti]);
  }

  async end(jti: string, at: number, reason: string): Promise<boolean> {
    return (await run(await this.ready(), end, [at, reason, jti])).rowCount === 1;
  }

  async endAllOf(username: string, at: number, reason: string): Promise<number> {
    return (await run(await this.ready(), endAllOf, [at, reason, username])).rowCount;
  }

  async activeCounts(now: number, seenAfter: number): Promise<Map<string, number>> {
    const { rows } = await run(await this.ready(), activeCounts, [now, seenAfter]);
    return new Map(rows.map((r) => [r.username, r.n]));
  }

  async disabledUsers(): Promise<Map<string, number>> {
    const { rows } = await run(await this.ready(), disabled, []);
    return new Map(rows.map((r) => [r.username, r.disabled_at]));
  }

  async isDisabled(username: string): Promise<boolean> {
    return (await one(await this.ready(), isDisabled, [username])) !== undefined;
  }

  async disable(username: string, at: number, by: string): Promise<void> {
    await run(await this.ready(), disable, [username, at, by]);
  }

  async clearFlags(username: string): Promise<void> {
    await run(await this.ready(), clearFlags, [username]);
  }
}
