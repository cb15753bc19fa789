/**
 * Login throttling (docs/security.md, "Login throttling"): per username and per client address,
 * free failures, then doubling lock-outs answered 429 with Retry-After before any password is
 * checked; unknown users throttled exactly like known ones; every failure audited.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FREE_FAILURES_PER_ADDRESS, FREE_FAILURES_PER_USER } from '../../../cloud/auth/login-throttle.ts';
import { hashPassword } from '../../../cloud/auth/password-hash.ts';
import { createHarness, type Harness } from './app-harness.ts';

let h: Harness;
let clock: number;

beforeEach(async () => {
  clock = Date.UTC(2026, 0, 5);
  h = await createHarness({ now: () => clock });
  await h.core.store.createUser({
    username: 'li',
    passwordHash: await hashPassword('right-password'),
    role: 'manager',
    compoundId: 'c-1',
    createdAt: 1,
  });
});

afterEach(async () => {
  await h.close();
});

/** A login from `address`, as the node server would hand it over (its socket's remote address). */
function login(username: string, password: string, address = '203.0.113.7'): Promise<Response> {
  return Promise.resolve(
    h.core.app.request(
      '/api/v1/auth/login',
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) },
      { incoming: { socket: { remoteAddress: address } } },
    ),
  );
}

describe('login throttling', () => {
  it('per username: free failures, then 429 with Retry-After even for the right password, doubling', async () => {
    for (let i = 0; i < FREE_FAILURES_PER_USER; i++) expect((await login('li', 'wrong')).status).toBe(401);
    // The first failure beyond the free ones is still checked (401) and locks the name for 1 s.
    expect((await login('li', 'wrong')).status).toBe(401);
    const locked = await login('li', 'right-password');
    expect(locked.status).toBe(429);
    expect(locked.headers.get('retry-after')).toBe('1');
    expect(await locked.json()).toMatchObject({ error: { code: 'too-many-attempts', retryAfterSeconds: 1 } });
    clock += 1000;
    expect((await login('li', 'wrong')).status).toBe(401);
    expect((await login('li', 'right-password')).headers.get('retry-after')).toBe('2');
    clock += 2000;
    expect((await login('li', 'right-password')).status).toBe(200);
    // A success clears the name's count.
    expect((await login('li', 'wrong')).status).toBe(401);
    expect((await login('li', 'right-password')).status).toBe(200);
  });

  it('an unknown username is throttled exactly like a known one, with the same answers', async () => {
    const answers: string[] = [];
    for (const name of ['li', 'nobody']) {
      const seen: number[] = [];
      for (let i = 0; i <= FREE_FAILURES_PER_USER + 1; i++)
        seen.push((await login(name, 'wrong', `198.51.100.${name.length}`)).status);
      answers.push(seen.join(','));
    }
    expect(answers[0]).toBe(answers[1]);
    expect(answers[0]!.endsWith('429')).toBe(true);
  });

  it('per address: many usernames from one address lock that address only', async () => {
    for (let i = 0; i <= FREE_FAILURES_PER_ADDRESS; i++) {
      expect((await login(`guess-${i}`, 'wrong', '192.0.2.66')).status).toBe(401);
    }
    expect((await login('li', 'right-password', '192.0.2.66')).status).toBe(429);
    expect((await login('li', 'right-password', '192.0.2.67')).status).toBe(200);
  });

  it('every failure is audited with the address, and the lock when one is set', async () => {
    for (let i = 0; i <= FREE_FAILURES_PER_USER; i++) await login('li', 'wrong');
    const { entries } = await h.core.store.listAudit({ action: 'auth.login-failed', limit: 50 });
    expect(entries).toHaveLength(FREE_FAILURES_PER_USER + 1);
    expect(entries[0]).toMatchObject({ target: 'li', compoundId: 'c-1', detail: { address: '203.0.113.7' } });
    expect(entries.some((e) => e.detail?.lockedUsernameMs === 1000)).toBe(true);
  });
});
