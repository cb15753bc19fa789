/**
 * Sessions (cloud/auth/session-service.ts over a SessionStore) on every store backend: a token's
 * session is alive until logout, idleness, expiry or its user's password change; a disabled user
 * is remembered; counts of active sessions per user.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { openSessionStore } from '../../../cloud/auth/open-session-store.ts';
import { SessionService } from '../../../cloud/auth/session-service.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { generateSigningKey } from '../../../shared/keys.ts';
import { storeBackends } from '../store/backends.ts';

const T0 = Date.UTC(2026, 11, 1);
const IDLE = 60_000;

describe.each(storeBackends())('sessions on the $name store', (backend) => {
  let store: CloudStore;
  let now = T0;
  let sessions: SessionService;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await backend.open();
    now = T0;
    sessions = new SessionService({
      store: openSessionStore(store.engine),
      signingKey: generateSigningKey(1),
      now: () => now,
      idleMs: IDLE,
      ttlMs: 10 * IDLE,
    });
  });

  it('keeps a session alive while used, and ends it on logout, idleness or expiry', async () => {
    const a = await sessions.issue({ username: 'li', role: 'manager', compound: 'c-1' });
    const b = await sessions.issue({ username: 'li', role: 'manager' });
    const c = await sessions.issue({ username: 'wang', role: 'guard', compound: 'c-1' });
    expect(await sessions.check({ jti: a.jti, sub: 'li' })).toBe('ok');
    expect(await sessions.check({ jti: a.jti, sub: 'wang' })).toBe('no-session');
    expect(await sessions.check({ jti: 'nope', sub: 'li' })).toBe('no-session');
    expect(Object.fromEntries(await sessions.activeCounts())).toEqual({ li: 2, wang: 1 });

    expect(await sessions.end(a.jti, 'logout')).toBe(true);
    expect(await sessions.end(a.jti, 'logout')).toBe(false);
    expect(await sessions.check({ jti: a.jti, sub: 'li' })).toBe('ended');

    // b is used every 40 s and stays; c is not and goes idle.
    for (let i = 0; i < 3; i++) {
      now += 40_000;
      expect(await sessions.check({ jti: b.jti, sub: 'li' })).toBe('ok');
    }
    expect(await sessions.alive(c.jti)).toBe(false);
    expect(await sessions.check({ jti: c.jti, sub: 'wang' })).toBe('idle');
    expect(await sessions.check({ jti: c.jti, sub: 'wang' })).toBe('ended');
    // A ticket is checked through its session and does not keep it alive.
    expect(await sessions.check({ jti: 'ticket-1', sid: b.jti, sub: 'li' })).toBe('ok');

    now = b.expiresAt;
    expect(await sessions.check({ jti: b.jti, sub: 'li' })).toBe('ended');
    expect(await sessions.activeCounts()).toEqual(new Map());
  });

  it('ends every session of a user at once, and remembers who is disabled', async () => {
    const a = await sessions.issue({ username: 'li', role: 'manager' });
    const b = await sessions.issue({ username: 'li', role: 'manager' });
    const other = await sessions.issue({ username: 'wang', role: 'guard', compound: 'c-1' });
    expect(await sessions.endAllOf('li', 'password')).toBe(2);
    expect(await sessions.check({ jti: a.jti, sub: 'li' })).toBe('ended');
    expect(await sessions.check({ jti: b.jti, sub: 'li' })).toBe('ended');
    expect(await sessions.check({ jti: other.jti, sub: 'wang' })).toBe('ok');

    await sessions.setDisabled('wang', true, 'admin');
    expect(await sessions.isDisabled('wang')).toBe(true);
    expect(await sessions.disabledUsers()).toEqual(new Map([['wang', T0]]));
    expect(await sessions.check({ jti: other.jti, sub: 'wang' })).toBe('ended');
    await sessions.setDisabled('wang', false, 'admin');
    expect(await sessions.isDisabled('wang')).toBe(false);
    await sessions.setDisabled('li', true, 'admin');
    await sessions.forget('li');
    expect(await sessions.disabledUsers()).toEqual(new Map());
  });
});
