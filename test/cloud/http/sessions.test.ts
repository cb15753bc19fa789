/**
 * Server-side sessions (docs/security.md, "Sessions"): logout, own password change, admin reset,
 * disable, re-role, re-bind and delete each end every token of the user — the very next request
 * is 401 — and the live-stream ticket opens `GET /live` only, expires, cannot mint, and dies with
 * its session. Idle sessions end. Driven through `app.request()` with a controllable clock.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashPassword } from '../../../cloud/auth/password-hash.ts';
import { SESSION_IDLE_MS } from '../../../cloud/auth/session-service.ts';
import { LIVE_TICKET_TTL_MS } from '../../../cloud/http/routes/live-ticket.ts';
import type { HttpRole } from '../../../shared/enums.ts';
import { signToken } from '../../../shared/token.ts';
import { createHarness, type Harness } from './app-harness.ts';

let h: Harness;
let clock: number;

beforeEach(async () => {
  clock = Date.now();
  h = await createHarness({
    now: () => clock,
  });
  const passwordHash = await hashPassword('old-password');
  for (const [username, role, compoundId] of [
    ['li', 'manager', 'c-1'],
    ['wu', 'guard', 'c-1'],
    ['root2', 'admin', null],
    ['veg-co', 'provider', 'c-1'],
  ] as const) {
    await h.core.store.createUser({ username, passwordHash, role, compoundId, createdAt: 1 });
  }
});

afterEach(async () => {
  await h.close();
});

async function login(username: string, password = 'old-password'): Promise<Response> {
  return h.request('POST', '/api/v1/auth/login', { body: { username, password } });
}

async function tokenOf(username: string, password = 'old-password'): Promise<string> {
  const res = await login(username, password);
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

const me = (token: string) => h.request('GET', '/api/v1/gates', { token });

describe('sessions end', () => {
  it('logout: that token is 401 at once, another session of the same user lives on', async () => {
    const a = await tokenOf('li');
    const b = await tokenOf('li');
    expect((await me(a)).status).toBe(200);
    expect((await h.request('POST', '/api/v1/auth/logout', { token: a })).status).toBe(204);
    expect((await me(a)).status).toBe(401);
    expect((await h.request('POST', '/api/v1/auth/logout', { token: a })).status).toBe(401);
    expect((await me(b)).status).toBe(200);
  });

  it('every signed-in role can log out, the supply provider too', async () => {
    for (const username of ['li', 'wu', 'root2', 'veg-co']) {
      const token = await tokenOf(username);
      expect([username, (await h.request('POST', '/api/v1/auth/logout', { token })).status]).toEqual([username, 204]);
      expect([username, (await h.request('POST', '/api/v1/auth/logout', { token })).status]).toEqual([username, 401]);
    }
  });

  it('own password change needs the old password and ends every session of the user', async () => {
    const a = await tokenOf('li');
    const b = await tokenOf('li');
    const wrong = await h.request('PUT', '/api/v1/users/li/password', {
      token: a,
      body: { oldPassword: 'nope-nope', newPassword: 'new-password' },
    });
    expect(wrong.status).toBe(403);
    const missing = await h.request('PUT', '/api/v1/users/li/password', {
      token: a,
      body: { newPassword: 'x-new-pass' },
    });
    expect(missing.status).toBe(403);
    expect((await me(a)).status).toBe(200);
    const ok = await h.request('PUT', '/api/v1/users/li/password', {
      token: a,
      body: { oldPassword: 'old-password', newPassword: 'new-password' },
    });
    expect(ok.status).toBe(204);
    expect((await me(a)).status).toBe(401);
    expect((await me(b)).status).toBe(401);
    expect((await login('li')).status).toBe(401);
    expect((await me(await tokenOf('li', 'new-password'))).status).toBe(200);
  });

  it("a manager cannot change another user's password; an admin resets it and their tokens end", async () => {
    const manager = await tokenOf('li');
    const guard = await tokenOf('wu');
    const denied = await h.request('PUT', '/api/v1/users/wu/password', {
      token: manager,
      body: { oldPassword: 'old-password', newPassword: 'taken-over' },
    });
    expect(denied.status).toBe(403);
    expect((await me(guard)).status).toBe(200);
    const admin = await tokenOf('root2');
    const reset = await h.request('PUT', '/api/v1/users/wu/password', {
      token: admin,
      body: { newPassword: 'fresh-one' },
    });
    expect(reset.status).toBe(204);
    expect((await me(guard)).status).toBe(401);
    expect((await tokenOf('wu', 'fresh-one')).length).toBeGreaterThan(0);
  });

  it('a stolen admin token cannot create a back-door account once the password changed', async () => {
    const stolen = await tokenOf('root2');
    const owner = await tokenOf('root2');
    await h.request('PUT', '/api/v1/users/root2/password', {
      token: owner,
      body: { oldPassword: 'old-password', newPassword: 'changed-now' },
    });
    const backdoor = await h.request('POST', '/api/v1/users', {
      token: stolen,
      body: { username: 'backdoor', password: 'backdoor-pass', role: 'admin' },
    });
    expect(backdoor.status).toBe(401);
    expect(await h.core.store.getUser('backdoor')).toBeUndefined();
  });

  it('disable ends the sessions and refuses sign-in with the same answer as a wrong password; enable restores', async () => {
    const admin = await tokenOf('root2');
    const guard = await tokenOf('wu');
    const wrongPassword = await (await login('wu', 'not-it')).json();
    const res = await h.request('PATCH', '/api/v1/users/wu', { token: admin, body: { disabled: true } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ username: 'wu', disabled: true });
    expect((await me(guard)).status).toBe(401);
    const refused = await login('wu');
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual(wrongPassword);
    expect(await (await login('nobody-at-all')).json()).toEqual(wrongPassword);
    await h.request('PATCH', '/api/v1/users/wu', { token: admin, body: { disabled: false } });
    expect((await me(await tokenOf('wu'))).status).toBe(200);
  });

  it('a new role or compound ends the old tokens, which carried the old ones', async () => {
    const admin = await tokenOf('root2');
    const guard = await tokenOf('wu');
    const res = await h.request('PATCH', '/api/v1/users/wu', {
      token: admin,
      body: { role: 'manager', compoundId: 'c-2' },
    });
    expect(res.status).toBe(200);
    expect((await me(guard)).status).toBe(401);
    const again = (await (await login('wu')).json()) as { role: HttpRole; compound: string };
    expect(again).toMatchObject({ role: 'manager', compound: 'c-2' });
    const unbound = await h.request('PATCH', '/api/v1/users/wu', {
      token: admin,
      body: { role: 'guard', compoundId: null },
    });
    expect(unbound.status).toBe(400);
  });

  it('delete ends the sessions; GET /users lists users with their state; the last admin stays', async () => {
    const admin = await tokenOf('root2');
    const manager = await tokenOf('li');
    await tokenOf('li');
    const list = (await (await h.request('GET', '/api/v1/users', { token: admin })).json()) as {
      users: { username: string; disabled: boolean; activeSessions: number; passwordHash?: string }[];
    };
    expect(list.users.find((u) => u.username === 'li')).toMatchObject({ disabled: false, activeSessions: 2 });
    expect(list.users.every((u) => u.passwordHash === undefined)).toBe(true);
    expect((await h.request('GET', '/api/v1/users', { token: manager })).status).toBe(403);

    expect((await h.request('DELETE', '/api/v1/users/li', { token: admin })).status).toBe(204);
    expect((await me(manager)).status).toBe(401);
    expect((await login('li')).status).toBe(401);
    expect((await h.request('DELETE', '/api/v1/users/li', { token: admin })).status).toBe(404);

    // Two admins: one may go; the last one may not be deleted, disabled or demoted.
    expect((await h.request('DELETE', '/api/v1/users/admin', { token: admin })).status).toBe(204);
    expect((await h.request('DELETE', '/api/v1/users/root2', { token: admin })).status).toBe(409);
    expect((await h.request('PATCH', '/api/v1/users/root2', { token: admin, body: { disabled: true } })).status).toBe(
      409,
    );
    expect((await h.request('PATCH', '/api/v1/users/root2', { token: admin, body: { role: 'manager' } })).status).toBe(
      409,
    );
    expect((await me(admin)).status).toBe(200);
  });

  it('every user change is audited with the compound of the user', async () => {
    const admin = await tokenOf('root2');
    await h.request('PATCH', '/api/v1/users/wu', { token: admin, body: { disabled: true } });
    await h.request('PUT', '/api/v1/users/li/password', { token: admin, body: { newPassword: 'reset-pass' } });
    const { entries } = await h.core.store.listAudit({ limit: 10 });
    expect(entries.find((e) => e.action === 'user.update')).toMatchObject({ target: 'wu', compoundId: 'c-1' });
    expect(entries.find((e) => e.action === 'user.password-reset')).toMatchObject({ target: 'li', compoundId: 'c-1' });
  });

  it('a session unused for the idle timeout ends; use keeps it alive', async () => {
    const token = await tokenOf('li');
    clock += SESSION_IDLE_MS - 60_000;
    expect((await me(token)).status).toBe(200);
    clock += SESSION_IDLE_MS - 60_000;
    expect((await me(token)).status).toBe(200);
    clock += SESSION_IDLE_MS + 1;
    const idle = await me(token);
    expect(idle.status).toBe(401);
    expect(await idle.json()).toMatchObject({ error: { message: 'session idle' } });
  });

  it('a signed token that names no session is refused', async () => {
    // The deployment's own key, a fresh jti: a perfectly signed token without a session row.
    const forged = signToken({ sub: 'li', role: 'manager', compound: 'c-1', exp: clock + 60_000 }, h.signingKey);
    expect((await me(forged)).status).toBe(401);
  });
});

describe('the live-stream ticket', () => {
  async function ticketOf(token: string): Promise<string> {
    const res = await h.request('POST', '/api/v1/auth/live-ticket', { token });
    expect(res.status).toBe(200);
    return ((await res.json()) as { ticket: string }).ticket;
  }

  it('opens GET /live from the query string and nothing else', async () => {
    const token = await tokenOf('wu');
    const ticket = await ticketOf(token);
    const stream = await h.core.app.request(`/api/v1/live?token=${ticket}`);
    expect(stream.status).toBe(200);
    await stream.body?.cancel();
    // Not as a bearer header, not to mint another ticket, not on any other route.
    expect((await h.request('GET', '/api/v1/live', { token: ticket })).status).toBe(401);
    expect((await h.request('POST', '/api/v1/auth/live-ticket', { token: ticket })).status).toBe(401);
    expect((await h.core.app.request(`/api/v1/auth/live-ticket?token=${ticket}`, { method: 'POST' })).status).toBe(401);
    expect((await h.core.app.request(`/api/v1/events?token=${ticket}`)).status).toBe(401);
    expect((await me(ticket)).status).toBe(401);
    // A sign-in token never travels in a URL.
    expect((await h.core.app.request(`/api/v1/live?token=${token}`)).status).toBe(401);
  });

  it('expires after its short life', async () => {
    const ticket = await ticketOf(await tokenOf('wu'));
    clock += LIVE_TICKET_TTL_MS;
    expect((await h.core.app.request(`/api/v1/live?token=${ticket}`)).status).toBe(401);
  });

  it('dies with its session: refused after logout, and an open stream ends', async () => {
    const token = await tokenOf('wu');
    const ticket = await ticketOf(token);
    const stream = await h.core.app.request(`/api/v1/live?token=${ticket}`);
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    const drained = (async () => {
      for (;;) if ((await reader.read()).done) return 'ended';
    })();
    expect((await h.request('POST', '/api/v1/auth/logout', { token })).status).toBe(204);
    expect(await drained).toBe('ended');
    expect((await h.core.app.request(`/api/v1/live?token=${ticket}`)).status).toBe(401);
  });
});
