/**
 * Activation and the resident session (cloud/me/activation-routes.ts, cloud/me/me-routes.ts):
 * codes issued per resident and household (audited, CSV), stored only as keyed hashes, single use,
 * expiring after 14 days, revocable, guessing throttled; the resident's session reaches `/me` only,
 * ends on logout, on idle and when the resident is deactivated.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { residentSideExtension } from '../../../cloud/me/resident-side-extension.ts';
import type { Actor } from '../../../cloud/registry/actor.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { createHarness, type Harness } from '../http/app-harness.ts';
import { selectRows, storeBackends } from '../store/backends.ts';
import { entryEvent } from '../fixtures.ts';

const ADMIN: Actor = { username: 'seed', role: 'admin' };
const T0 = Date.UTC(2026, 11, 1, 2, 0, 0);
const DAY = 24 * 3_600_000;

interface Issued {
  codeId: string;
  personId: string;
  code: string;
  link: string;
  qrSvg: string;
  maskedName: string;
  expiresAt: number;
}

describe.each(storeBackends())('activation and the resident session on the $name store', (backend) => {
  afterAll(() => backend.dispose());
  let h: Harness<CloudStore>;
  let clock: number;
  let manager: string;
  const json = async <T>(res: Response, status: number): Promise<T> => {
    const text = await res.text();
    expect([res.status, text]).toEqual([status, expect.anything()]);
    return (text ? JSON.parse(text) : undefined) as T;
  };

  beforeEach(async () => {
    clock = T0;
    h = await createHarness({
      store: await backend.open(),
      now: () => clock,
      extensions: [residentSideExtension({ pepper: randomBytes(32) })],
    });
    const people: [string, string, string, string][] = [
      ['p-zhang', 'c-1', 'h-101', '张三明'],
      ['p-li', 'c-1', 'h-101', '李四'],
      ['p-wang', 'c-1', 'h-202', '王芳'],
      ['p-other', 'c-2', 'h-101', '赵六'],
    ];
    for (const [personId, compoundId, householdId, name] of people) {
      await h.core.registry.createResident(
        {
          personId,
          compoundId,
          householdId,
          kind: 'resident',
          name,
          cards: [],
          elderly: false,
          validFrom: null,
          validTo: null,
        },
        ADMIN,
      );
    }
    manager = await h.token('manager', 'c-1', 'mgr-1');
  });
  afterEach(async () => {
    await h.close();
  });

  const issue = async (body: unknown) =>
    (await json<{ codes: Issued[] }>(await h.request('POST', '/api/v1/activations', { token: manager, body }), 201))
      .codes;

  const activate = (code: string, login: string, password = 'correct horse battery') =>
    h.request('POST', '/api/v1/me/activate', { body: { code, login, password } });

  it('issues one code per household member, audited, with a letter link and QR; stores only a hash', async () => {
    const codes = await issue({ householdId: 'h-101' });
    expect(codes.map((c) => c.personId).sort()).toEqual(['p-li', 'p-zhang']);
    for (const c of codes) {
      expect(c.code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
      expect(c.link).toBe(`http://localhost/me/activate#code=${c.code}`);
      expect(c.qrSvg).toMatch(/^<svg/);
      expect(c.expiresAt).toBe(T0 + 14 * DAY);
      expect(c.maskedName).not.toContain('三');
    }
    // Neither the code nor its plain form is anywhere in the database.
    const dump = JSON.stringify(await selectRows(h.core.store, 'SELECT * FROM activation_codes'));
    for (const c of codes) {
      expect(dump).not.toContain(c.code);
      expect(dump).not.toContain(c.code.replaceAll('-', ''));
    }
    const audit = await h.core.store.listAudit({ action: 'activation.issue', limit: 10 });
    expect(audit.entries.map((e) => e.target).sort()).toEqual(['p-li', 'p-zhang']);
    expect(JSON.stringify(audit.entries)).not.toContain(codes[0]!.code);
  });

  it('refuses another compound’s people and exports many codes as CSV', async () => {
    const res = await h.request('POST', '/api/v1/activations', { token: manager, body: { personIds: ['p-other'] } });
    expect(res.status).toBe(400);
    expect(await res.text()).not.toContain('赵');
    const csv = await h.request('POST', '/api/v1/activations?format=csv', {
      token: manager,
      body: { personIds: ['p-zhang', 'p-wang'] },
    });
    expect(csv.status).toBe(201);
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = (await csv.text())
      .replace(/^\uFEFF/, '')
      .trim()
      .split('\r\n');
    expect(lines[0]).toBe('personId,householdId,maskedName,code,link,expiresAt');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^p-zhang,h-101,张\*明,[0-9A-Z-]{14},http:\/\/localhost\/me\/activate#code=/);
  });

  it('activates once: a session for /me, the code then used; a new code replaces the old one', async () => {
    const [zhang] = await issue({ personIds: ['p-zhang'] });
    const check = await json<{ maskedName: string; compound: { name: string } }>(
      await h.request('POST', '/api/v1/me/activation/check', { body: { code: zhang!.code.toLowerCase() } }),
      200,
    );
    expect(check).toMatchObject({ maskedName: '张*明', compound: { name: 'One' } });
    const session = await json<{ token: string; role: string; personId: string }>(
      await activate(zhang!.code.replaceAll('-', ' '), 'zhang.sm'),
      201,
    );
    expect(session).toMatchObject({ role: 'resident', personId: 'p-zhang' });
    const me = await json<{ personId: string; members: { maskedName: string; activated: boolean }[] }>(
      await h.request('GET', '/api/v1/me', { token: session.token }),
      200,
    );
    expect(me.personId).toBe('p-zhang');
    expect(new Map(me.members.map((m) => [m.maskedName, m.activated]))).toEqual(
      new Map([
        ['李*', false],
        ['张*明', true],
      ]),
    );
    expect(JSON.stringify(me)).not.toMatch(/张三明|李四|王|赵/);

    // Single use.
    const again = await activate(zhang!.code, 'zhang.two');
    expect(again.status).toBe(410);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('code-used');
    // Sign-in with the chosen name.
    const login = await json<{ token: string }>(
      await h.request('POST', '/api/v1/me/login', { body: { login: 'zhang.sm', password: 'correct horse battery' } }),
      200,
    );
    expect((await h.request('GET', '/api/v1/me', { token: login.token })).status).toBe(200);

    // A second code (lost phone): the first session ends when it is used.
    const [second] = await issue({ personIds: ['p-zhang'] });
    await json(await activate(second!.code, 'zhang.sm', 'a new password 2'), 201);
    expect((await h.request('GET', '/api/v1/me', { token: login.token })).status).toBe(401);
    const list = await json<{ codes: { codeId: string; state: string }[] }>(
      await h.request('GET', '/api/v1/activations?compound=c-1&status=all&person=p-zhang', { token: manager }),
      200,
    );
    expect(list.codes.map((c) => c.state).sort()).toEqual(['used', 'used']);
    expect(JSON.stringify(list)).not.toContain(second!.code);
  });

  it('refuses expired, revoked and superseded codes, and a taken sign-in name', async () => {
    const [li] = await issue({ personIds: ['p-li'] });
    const [wang] = await issue({ personIds: ['p-wang'] });
    const [wang2] = await issue({ personIds: ['p-wang'] });
    const superseded = await activate(wang!.code, 'wang');
    expect([superseded.status, ((await superseded.json()) as { error: { code: string } }).error.code]).toEqual([
      410,
      'code-revoked',
    ]);
    expect((await h.request('DELETE', `/api/v1/activations/${wang2!.codeId}`, { token: manager })).status).toBe(204);
    expect((await activate(wang2!.code, 'wang')).status).toBe(410);
    const revokes = await h.core.store.listAudit({ action: 'activation.revoke', limit: 10 });
    expect(revokes.entries).toHaveLength(1);

    await json(await activate(li!.code, 'li.si'), 201);
    const [wang3] = await issue({ personIds: ['p-wang'] });
    const taken = await activate(wang3!.code, 'li.si');
    expect(taken.status).toBe(409);
    clock += 14 * DAY;
    const expired = await activate(wang3!.code, 'wang.fang');
    expect([expired.status, ((await expired.json()) as { error: { code: string } }).error.code]).toEqual([
      410,
      'code-expired',
    ]);
  });

  it('throttles guessing per address: after a few wrong codes even a right one waits', async () => {
    const [li] = await issue({ personIds: ['p-li'] });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const res = await h.request('POST', '/api/v1/me/activation/check', { body: { code: `AAAA-BBBB-CCC${i}` } });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 5)).toEqual([404, 404, 404, 404, 404]);
    const locked = await h.request('POST', '/api/v1/me/activation/check', { body: { code: li!.code } });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    clock += 60 * 60_000;
    expect((await h.request('POST', '/api/v1/me/activation/check', { body: { code: li!.code } })).status).toBe(200);
  });

  it('a resident session: own passages of 14 days only, staff routes refused, logout, idle, deactivation', async () => {
    const [zhang] = await issue({ personIds: ['p-zhang'] });
    const { token } = await json<{ token: string }>(await activate(zhang!.code, 'zhang'), 201);
    const events = [
      entryEvent('g-1', 1, { personId: 'p-zhang', ts: clock - 15 * DAY }),
      entryEvent('g-1', 2, { personId: 'p-zhang', ts: clock - 2 * DAY }),
      entryEvent('g-1', 3, { personId: 'p-li', ts: clock - DAY }),
      entryEvent('g-1', 4, { personId: 'p-zhang', ts: clock - 3_600_000, result: 'denied', reason: 'health-red' }),
    ];
    await h.core.ingest.accept('g-1', JSON.stringify({ events }));
    await h.core.ingest.flush();
    const own = await json<{ passages: { ts: number; gateName: string; reason: string }[] }>(
      await h.request('GET', '/api/v1/me/passages', { token }),
      200,
    );
    expect(own.passages.map((p) => [p.ts, p.gateName, p.reason])).toEqual([
      [clock - 3_600_000, 'North', 'health-red'],
      [clock - 2 * DAY, 'North', 'ok'],
    ]);
    for (const [method, path] of [
      ['GET', '/api/v1/residents'],
      ['GET', '/api/v1/events?person=p-zhang'],
      ['GET', '/api/v1/residents/p-zhang'],
      ['GET', '/api/v1/activations?compound=c-1'],
      ['GET', '/api/v1/gates'],
      ['POST', '/api/v1/passes'],
      ['PUT', '/api/v1/users/zhang/password'],
    ] as const) {
      const res = await h.request(method, path, { token, ...(method === 'GET' ? {} : { body: {} }) });
      expect([path, res.status]).toEqual([path, 403]);
    }
    // A staff token is not a resident: not even an admin has a household.
    expect((await h.request('GET', '/api/v1/me', { token: await h.token('admin') })).status).toBe(403);
    expect((await h.request('GET', '/api/v1/me', { token: manager })).status).toBe(403);

    // Idle for longer than the timeout: the session is over.
    clock += 31 * 60_000;
    expect((await h.request('GET', '/api/v1/me', { token })).status).toBe(401);
    const fresh = await json<{ token: string }>(
      await h.request('POST', '/api/v1/me/login', { body: { login: 'zhang', password: 'correct horse battery' } }),
      200,
    );
    expect((await h.request('POST', '/api/v1/auth/logout', { token: fresh.token })).status).toBe(204);
    expect((await h.request('GET', '/api/v1/me', { token: fresh.token })).status).toBe(401);

    // Deactivated by a manager: refused at the next request, and no new sign-in.
    const third = await json<{ token: string }>(
      await h.request('POST', '/api/v1/me/login', { body: { login: 'zhang', password: 'correct horse battery' } }),
      200,
    );
    await h.core.registry.patchResident('p-zhang', { active: false }, ADMIN);
    expect((await h.request('GET', '/api/v1/me', { token: third.token })).status).toBe(401);
    expect(
      (await h.request('POST', '/api/v1/me/login', { body: { login: 'zhang', password: 'correct horse battery' } }))
        .status,
    ).toBe(401);
  });

  it('a password change ends the resident’s sessions', async () => {
    const [li] = await issue({ personIds: ['p-li'] });
    const { token } = await json<{ token: string }>(await activate(li!.code, 'li.si'), 201);
    const wrong = await h.request('PUT', '/api/v1/me/password', {
      token,
      body: { oldPassword: 'nope', newPassword: 'another password' },
    });
    expect(wrong.status).toBe(400);
    const ok = await h.request('PUT', '/api/v1/me/password', {
      token,
      body: { oldPassword: 'correct horse battery', newPassword: 'another password' },
    });
    expect(ok.status).toBe(204);
    expect((await h.request('GET', '/api/v1/me', { token })).status).toBe(401);
    expect(
      (await h.request('POST', '/api/v1/me/login', { body: { login: 'li.si', password: 'another password' } })).status,
    ).toBe(200);
  });

  it('serves the resident side’s pages and assets from this origin only', async () => {
    const { ME_ASSETS } = await import('../../../cloud/me/me-pages.ts');
    const { residentSidePages } = await import('../../../cloud/me/me-pages.ts');
    const pages = residentSidePages();
    for (const path of ['/me', '/me/activate', '/visit', '/dashboard/resident-side']) {
      const res = await pages.request(path);
      expect(res.status, path).toBe(200);
      const page = await res.text();
      expect(page).toContain('<html lang="zh-CN">');
      expect(page).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      for (const [, src] of page.matchAll(/(?:src|href)="([^"]+)"/g)) {
        expect(src, `${path} refers to ${src}`).toMatch(/^(\/assets\/|\/me\/assets\/|\/me\/activate$|\/dashboard$)/);
      }
    }
    for (const name of ME_ASSETS) {
      const res = await pages.request(`/me/assets/${name}`);
      expect(res.status, name).toBe(200);
      const text = await res.text();
      expect(
        [...text.matchAll(/https?:\/\/[^\s"')]+/g)].map((m) => m[0]),
        name,
      ).toEqual([]);
    }
    expect((await pages.request('/me/assets/..%2Fme-pages.ts')).status).toBe(404);
  });
});
