/**
 * Where sessions and disabled users are kept (docs/security.md, "Sessions"): the rows behind
 * `SessionService`, on the cloud's database so that `anxin user passwd|disable` ending sessions takes
 * effect in a running cloud, and every cloud instance on one database sees the same sessions.
 * open-session-store.ts picks the engine's implementation.
 */
import type { SessionRole } from '../../shared/enums.ts';

export interface SessionRecord {
  username: string;
  role: SessionRole;
  compoundId: string | null;
  expiresAt: number;
  lastSeenAt: number;
  endedAt: number | null;
}

export interface NewSession {
  jti: string;
  username: string;
  role: SessionRole;
  compoundId: string | null;
  issuedAt: number;
  expiresAt: number;
}

export interface SessionStore {
  /** Stores a new session (`lastSeenAt` = `issuedAt`) and drops every session that expired before `expiredBefore`. */
  insert(session: NewSession, expiredBefore: number): Promise<void>;
  get(jti: string): Promise<SessionRecord | undefined>;
  /** Marks an open session as used at `at`. */
  touch(jti: string, at: number): Promise<void>;
  /** Ends one open session; false when it was not open. */
  end(jti: string, at: number, reason: string): Promise<boolean>;
  /** Ends every open session of a user; returns how many were open. */
  endAllOf(username: string, at: number, reason: string): Promise<number>;
  /** Open sessions per user that expire after `now` and were used after `seenAfter`. */
  activeCounts(now: number, seenAfter: number): Promise<Map<string, number>>;
  /** Users an admin disabled, with when. */
  disabledUsers(): Promise<Map<string, number>>;
  isDisabled(username: string): Promise<boolean>;
  disable(username: string, at: number, by: string): Promise<void>;
  /** Forgets a user's flags (enabled again, or deleted). */
  clearFlags(username: string): Promise<void>;
}
