/**
 * Sessions (cloud/auth/session-book.ts over a SessionStore) on every store backend: a token's
 * session is alive until logout, idleness, expiry or its user's password change; a disabled user
 * is remembered; counts of active sessions per user.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { openSessionStore } from '../../../cloud/auth/open-session-store.ts';
import { SessionBook } from '../../../cloud/auth/session-book.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { generateSigningKey } from '../../../shared/keys.ts';
import { storeBackends } from '../store/backends.ts';

const T0 = Date.UTC(2026, 11, 1);
const IDLE = 60_000;

describe.each(storeBackends())('sessions on the $name store', (backend) => {
  let store: CloudStore;
  let now = T0;
  let book: SessionBook;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await backend.open();
    now = T0;
    book = new SessionBook({
      store: openSessionStore(store.engine),
      signingKey: generateSigningKey(1),
      now: () => now,
      idleMs: IDLE,
      ttlMs: 10 * IDLE,
    });
  });

  it('keeps a session alive while used, and ends it on logout, idleness or expiry', async () => {
    const a = await book.issue({ username: 'li', role: 'manager', compound: 'c-1' });
    const b = await book.issue({ username: 'li', role: 'manager' });
    const c = await book.issue({ username: 'wang', role: 'guard', compound: 'c-1' });
    expect(await book.check({ jti: a.jti, sub: 'li' })).toBe('ok');
    expect(await book.check({ jti: a.jti, sub: 'wang' })).toBe('no-session');
    expect(await book.check({ jti: 'nope', sub: 'li' })).toBe('no-session');
    expect(Object.fromEntries(await book.activeCounts())).toEqual({ li: 2, wang: 1 });

    expect(await book.end(a.jti, 'logout')).toBe(true);
    expect(await book.end(a.jti, 'logout')).toBe(false);
    expect(await book.check({ jti: a.jti, sub: 'li' })).toBe('ended');

    // b is used every 40 s and stays; c is not and goes idle.
    for (let i = 0; i < 3; i++) {
      now += 40_000;
      expect(await book.check({ jti: b.jti, sub: 'li' })).toBe('ok');
    }
    expect(await book.alive(c.jti)).toBe(false);
    expect(await book.check({ jti: c.jti, sub: 'wang' })).toBe('idle');
    expect(await book.check({ jti: c.jti, sub: 'wang' })).toBe('ended');
    // A ticket is checked through its session and does not keep it alive.
    expect(await book.check({ jti: 'ticket-1', sid: b.jti, sub: 'li' })).toBe('ok');

    now = b.expiresAt;
    expect(await book.check({ jti: b.jti, sub: 'li' })).toBe('ended');
    expect(await book.activeCounts()).toEqual(new Map());
  });

  it('ends every session of a user at once, and remembers who is disabled', async () => {
    const a = await book.issue({ username: 'li', role: 'manager' });
    const b = await book.issue({ username: 'li', role: 'manager' });
    const other = await book.issue({ username: 'wang', role: 'guard', compound: 'c-1' });
    expect(await book.endAllOf('li', 'password')).toBe(2);
    expect(await book.check({ jti: a.jti, sub: 'li' })).toBe('ended');
    expect(await book.check({ jti: b.jti, sub: 'li' })).toBe('ended');
    expect(await book.check({ jti: other.jti, sub: 'wang' })).toBe('ok');

    await book.setDisabled('wang', true, 'admin');
    expect(await book.isDisabled('wang')).toBe(true);
    expect(await book.disabledUsers()).toEqual(new Map([['wang', T0]]));
    expect(await book.check({ jti: other.jti, sub: 'wang' })).toBe('ended');
    await book.setDisabled('wang', false, 'admin');
    expect(await book.isDisabled('wang')).toBe(false);
    await book.setDisabled('li', true, 'admin');
    await book.forget('li');
    expect(await book.disabledUsers()).toEqual(new Map());
  });
});
