/**
 * Guard sign-in at the gate terminal (docs/edge-agent.md "Guard sign-in"). It must work with the
 * network, the broker and the cloud down, so it needs nothing but the gate itself: each guard of
 * the gate has an id, a display name and a scrypt-hashed PIN in the gate config
 * (`terminal.guards`). A sign-in gives a random session token in an HttpOnly, SameSite=Strict
 * cookie; the session ends after `idleMs` without use, after `maxMs` in any case, or on sign-out.
 * The name written into a manual open's event comes from the session, never from the request.
 *
 * Guessing is bounded: one PIN check at a time (scrypt on the thread pool, which the serial ports
 * share), and after `maxFailures` wrong PINs in a row sign-in is locked for `lockMs`, doubling
 * with each further lockout up to `MAX_LOCK_MS`; each lockout raises a `tamper` alarm.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../shared/log.ts';
import { DUMMY_PIN_HASH, verifyGuardPin } from './guard-pin.ts';

export interface GuardAccount {
  id: string;
  name: string;
  /** `scrypt$…` hash (guard-pin.ts). */
  pin: string;
}

export interface GuardIdentity {
  id: string;
  name: string;
}

export interface GuardSessionOptions {
  guards: readonly GuardAccount[];
  idleMs: number;
  maxMs: number;
  now?: () => number;
  maxFailures?: number;
  lockMs?: number;
  logger: Logger;
  /** Called when sign-in locks after too many wrong PINs. */
  onLockout?: (detail: string) => void;
}

export type SignInResult =
  | { ok: true; token: string; guard: GuardIdentity; expiresAt: number }
  | { ok: false; code: 'bad-credentials' }
  | { ok: false; code: 'locked' | 'busy'; retryAfterMs: number };

interface Session {
  guard: GuardIdentity;
  createdAt: number;
  lastSeenAt: number;
}

export const GUARD_COOKIE = 'anxin_guard';
const MAX_SESSIONS = 32;
const MAX_LOCK_MS = 15 * 60_000;

export class GuardSessions {
  private readonly sessions = new Map<string, Session>();
  private readonly guards: Map<string, GuardAccount>;
  private readonly now: () => number;
  private readonly maxFailures: number;
  private readonly lockMs: number;
  private failures = 0;
  private lockouts = 0;
  private lockedUntil = 0;
  private checking = false;
  readonly counters = { signIns: 0, failures: 0, lockouts: 0 };

  constructor(private readonly options: GuardSessionOptions) {
    this.guards = new Map(options.guards.map((g) => [g.id, g]));
    this.now = options.now ?? Date.now;
    this.maxFailures = options.maxFailures ?? 5;
    this.lockMs = options.lockMs ?? 60_000;
  }

  /** Whether any guard can sign in at all (no guards configured: the guard panel stays shut). */
  get configured(): boolean {
    return this.guards.size > 0;
  }

  async signIn(id: string, pin: string): Promise<SignInResult> {
    const now = this.now();
    if (now < this.lockedUntil) return { ok: false, code: 'locked', retryAfterMs: this.lockedUntil - now };
    if (this.checking) return { ok: false, code: 'busy', retryAfterMs: 1_000 };
    this.checking = true;
    let ok: boolean;
    const account = this.guards.get(id);
    try {
      // An unknown id costs one scrypt too: the timing does not tell which ids exist.
      ok = (await verifyGuardPin(pin, account?.pin ?? DUMMY_PIN_HASH)) && account !== undefined;
    } finally {
      this.checking = false;
    }
    const log = this.options.logger;
    if (!ok || !account) {
      this.failures += 1;
      this.counters.failures += 1;
      log.warn({ guardId: id.slice(0, 64), failures: this.failures }, 'guard sign-in refused');
      if (this.failures >= this.maxFailures) {
        const lockFor = Math.min(MAX_LOCK_MS, this.lockMs * 2 ** this.lockouts);
        this.lockouts += 1;
        this.counters.lockouts += 1;
        this.failures = 0;
        this.lockedUntil = this.now() + lockFor;
        this.options.onLockout?.(
          `terminal sign-in locked for ${Math.round(lockFor / 1000)} s after ${this.maxFailures} wrong PINs`,
        );
      }
      return { ok: false, code: 'bad-credentials' };
    }
    this.failures = 0;
    this.lockouts = 0;
    this.counters.signIns += 1;
    const token = randomBytes(32).toString('base64url');
    const guard = { id: account.id, name: account.name };
    const at = this.now();
    this.sessions.set(token, { guard, createdAt: at, lastSeenAt: at });
    while (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    log.info({ guardId: guard.id }, 'guard signed in');
    return { ok: true, token, guard, expiresAt: at + this.options.maxMs };
  }

  /** The signed-in guard of a session token (and the session is used: its idle clock restarts). */
  check(token: string | undefined): GuardIdentity | undefined {
    if (!token) return undefined;
    const session = this.sessions.get(token);
    if (!session) return undefined;
    const now = this.now();
    if (now - session.lastSeenAt > this.options.idleMs || now - session.createdAt > this.options.maxMs) {
      this.sessions.delete(token);
      return undefined;
    }
    session.lastSeenAt = now;
    return session.guard;
  }

  signOut(token: string | undefined): void {
    if (!token) return;
    const session = this.sessions.get(token);
    if (!session) return;
    this.sessions.delete(token);
    this.options.logger.info({ guardId: session.guard.id }, 'guard signed out');
  }

  /** Sessions still open (the terminal's guard panel shows whether someone is signed in). */
  get active(): number {
    return this.sessions.size;
  }
}
