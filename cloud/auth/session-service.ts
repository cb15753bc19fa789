/**
 * Server-side sessions of the HTTP API and the pages (docs/security.md, "Sessions").
 *
 * A bearer token is signed (shared/token.ts) *and* names a session row by its `jti`: a request is
 * let through only while that row exists, is not ended and has not been idle longer than the idle
 * timeout. Ending a session is one UPDATE, and every request checks the row, so a logout, a
 * password change, a disabled, re-roled or deleted user ends every token at once — the next
 * request, however soon, is refused; an open live stream re-checks its session every second.
 *
 * The rows live in the cloud's database (a `SessionStore`, session-store.ts: own tables, own version
 * table), so `anxin user passwd|disable` ending sessions there takes effect in a running cloud too.
 * Users that an admin disabled are kept beside the store's `users` table.
 *
 * A live-stream ticket (`use: 'live'`, cloud/http/routes/live-ticket.ts) has no row of its own: it
 * carries its session's id in `sid` and lives only while that session does.
 */
import type { SessionRole } from '../../shared/enums.ts';
import type { SigningKey } from '../../shared/keys.ts';
import { newTokenId, signToken, type TokenClaims } from '../../shared/token.ts';
import type { NewSession, SessionStore } from './session-store.ts';

/** How long a sign-in lasts at most. */
const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** A session not used for this long ends (the pages also sign out after this long without input). */
export const SESSION_IDLE_MS = 30 * 60 * 1000;
/** `last_seen_at` is written at most this often per session (a request is not a write). */
const TOUCH_EVERY_MS = 15_000;

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

export interface SessionServiceOptions {
  store: SessionStore;
  /** Needed to issue sessions; a tool that only ends them goes without. */
  signingKey?: SigningKey;
  now: () => number;
  idleMs?: number;
  ttlMs?: number;
}

export class SessionService {
  readonly idleMs: number;
  readonly ttlMs: number;
  private readonly store: SessionStore;

  constructor(private readonly options: SessionServiceOptions) {
    this.idleMs = options.idleMs ?? SESSION_IDLE_MS;
    this.ttlMs = options.ttlMs ?? SESSION_TTL_MS;
    this.store = options.store;
  }

  /** A new session and its bearer token. Expired rows of everyone are dropped on the way. */
  async issue(who: SessionIdentity): Promise<IssuedSession> {
    const { row, issued } = this.mint(who);
    await this.store.insert(row, row.issuedAt - this.idleMs);
    return issued;
  }

  /** The row and the signed token of a new session, not stored yet. */
  mint(who: SessionIdentity): { row: NewSession; issued: IssuedSession } {
    const key = this.options.signingKey;
    if (!key) throw new Error('SessionService: issuing a session needs the signing key');
    const now = this.options.now();
    const jti = newTokenId();
    const expiresAt = now + this.ttlMs;
    const claims = {
      sub: who.username,
      role: who.role,
      ...(who.compound !== undefined ? { compound: who.compound } : {}),
      exp: expiresAt,
      iat: now,
      jti,
    };
    const row = {
      jti,
      username: who.username,
      role: who.role,
      compoundId: who.compound ?? null,
      issuedAt: now,
      expiresAt,
    };
    return { row, issued: { token: signToken(claims, key), jti, expiresAt } };
  }

  /**
   * Whether the session of a verified token is alive; a live one is marked as used. A ticket is
   * checked through the session it was minted from (`sid`).
   */
  async check(claims: Pick<TokenClaims, 'jti' | 'sub' | 'sid'>): Promise<SessionRefusal | 'ok'> {
    const id = claims.sid ?? claims.jti;
    const row = await this.store.get(id);
    if (!row || row.username !== claims.sub) return 'no-session';
    if (row.endedAt !== null) return 'ended';
    const now = this.options.now();
    if (row.expiresAt <= now) return 'ended';
    if (now - row.lastSeenAt > this.idleMs) {
      await this.store.end(id, now, 'idle');
      return 'idle';
    }
    // A ticket's stream does not count as use: an unattended page still times out.
    if (claims.sid === undefined && now - row.lastSeenAt >= TOUCH_EVERY_MS) await this.store.touch(id, now);
    return 'ok';
  }

  /** Whether a session is still alive, without counting this as use (open live streams ask every second). */
  async alive(jti: string): Promise<boolean> {
    const row = await this.store.get(jti);
    const now = this.options.now();
    return row !== undefined && row.endedAt === null && row.expiresAt > now && now - row.lastSeenAt <= this.idleMs;
  }

  /** Ends one session (logout); false when it was already over. */
  end(jti: string, reason: SessionEndReason): Promise<boolean> {
    return this.store.end(jti, this.options.now(), reason);
  }

  /** Ends every session of a user; returns how many were open. */
  endAllOf(username: string, reason: SessionEndReason): Promise<number> {
    return this.store.endAllOf(username, this.options.now(), reason);
  }

  /** Open, unexpired, not idle sessions per user. */
  activeCounts(): Promise<Map<string, number>> {
    const now = this.options.now();
    return this.store.activeCounts(now, now - this.idleMs);
  }

  isDisabled(username: string): Promise<boolean> {
    return this.store.isDisabled(username);
  }

  /** Users an admin disabled, with when. */
  disabledUsers(): Promise<Map<string, number>> {
    return this.store.disabledUsers();
  }

  /** Disables a user (and ends their sessions) or enables them again. */
  async setDisabled(username: string, disabled: boolean, by: string): Promise<void> {
    if (disabled) {
      await this.store.disable(username, this.options.now(), by);
      await this.endAllOf(username, 'disabled');
    } else {
      await this.store.clearFlags(username);
    }
  }

  /** Forgets a deleted user's flags and ends their sessions. */
  async forget(username: string): Promise<void> {
    await this.store.clearFlags(username);
    await this.endAllOf(username, 'deleted');
  }
}
