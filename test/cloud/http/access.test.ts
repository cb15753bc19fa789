/**
 * Every route: 401 without a token, 403 for a role it does not admit, the contract's error body.
 * A resident (cloud/me/) is refused by every one of them (test/security/compound-isolation.test.ts
 * walks every route of the full cloud for that role).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorBodySchema } from '../../../shared/schemas/http.ts';
import { createHarness, type Harness } from './app-harness.ts';

const ROUTES: { method: string; path: string; forbidden: ('guard' | 'manager' | 'provider')[] }[] = [
  { method: 'GET', path: '/api/v1/compounds', forbidden: ['guard'] },
  { method: 'POST', path: '/api/v1/compounds', forbidden: ['guard'] },
  { method: 'GET', path: '/api/v1/compounds/c-1', forbidden: ['guard'] },
  { method: 'PUT', path: '/api/v1/compounds/c-1/mode', forbidden: ['guard'] },
  { method: 'PUT', path: '/api/v1/compounds/c-1/quota', forbidden: ['guard'] },
  { method: 'GET', path: '/api/v1/compounds/c-1/exit-quota', forbidden: ['guard'] },
  { method: 'GET', path: '/api/v1/gates', forbidden: [] },
  { method: 'POST', path: '/api/v1/gates', forbidden: ['guard', 'manager'] },
  { method: 'GET', path: '/api/v1/gates/g-1', forbidden: [] },
  { method: 'PATCH', path: '/api/v1/gates/g-1', forbidden: ['guard'] },
  { method: 'POST', path: '/api/v1/gates/g-1/open', forbidden: [] },
  { method: 'POST', path: '/api/v1/gates/g-1/resync', forbidden: [] },
  { method: 'GET', path: '/api/v1/residents', forbidden: ['guard'] },
  { method: 'POST', path: '/api/v1/residents', forbidden: ['guard'] },
  { method: 'POST', path: '/api/v1/residents/import', forbidden: ['guard'] },
  { method: 'GET', path: '/api/v1/residents/p-1', forbidden: ['guard'] },
  { method: 'PATCH', path: '/api/v1/residents/p-1', forbidden: ['guard'] },
  { method: 'DELETE', path: '/api/v1/residents/p-1', forbidden: ['guard'] },
  { method: 'PUT', path: '/api/v1/health', forbidden: ['guard'] },
  { method: 'POST', path: '/api/v1/passes', forbidden: ['guard'] },
  { method: 'GET', path: '/api/v1/passes/abc/qr.svg', forbidden: ['guard'] },
  { method: 'GET', path: '/api/v1/passes/abc/qr.png', forbidden: ['guard'] },
  { method: 'DELETE', path: '/api/v1/passes/abc', forbidden: ['guard'] },
  { method: 'GET', path: '/api/v1/events', forbidden: [] },
  { method: 'GET', path: '/api/v1/live', forbidden: [] },
  { method: 'GET', path: '/api/v1/audit', forbidden: ['guard'] },
  { method: 'GET', path: '/api/v1/users', forbidden: ['guard', 'manager'] },
  { method: 'POST', path: '/api/v1/users', forbidden: ['guard', 'manager'] },
  { method: 'GET', path: '/api/v1/supply/rounds', forbidden: ['guard'] },
  { method: 'POST', path: '/api/v1/supply/rounds', forbidden: ['guard', 'provider'] },
  { method: 'GET', path: '/api/v1/supply/rounds/r-1', forbidden: ['guard'] },
  { method: 'PUT', path: '/api/v1/supply/rounds/r-1/stock', forbidden: ['guard'] },
  { method: 'POST', path: '/api/v1/supply/rounds/r-1/close', forbidden: ['guard', 'provider'] },
  { method: 'GET', path: '/api/v1/supply/rounds/r-1/claims', forbidden: ['guard', 'provider'] },
  { method: 'POST', path: '/api/v1/supply/rounds/r-1/claims', forbidden: ['provider'] },
  { method: 'POST', path: '/api/v1/supply/rounds/r-1/applicants', forbidden: ['guard', 'provider'] },
  { method: 'GET', path: '/api/v1/residents', forbidden: ['provider'] },
  { method: 'GET', path: '/api/v1/events', forbidden: ['provider'] },
  { method: 'GET', path: '/api/v1/gates', forbidden: ['provider'] },
];

describe('access control', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  for (const route of ROUTES) {
    it(`${route.method} ${route.path}: 401 without a token, 403 for ${route.forbidden.join(', ') || 'nobody'}`, async () => {
      const body = route.method === 'GET' ? undefined : {};
      const anonymous = await h.request(route.method, route.path, { body });
      expect(anonymous.status).toBe(401);
      expect(errorBodySchema.parse(await anonymous.json()).error.code).toBe('unauthorized');
      for (const role of [...route.forbidden, 'resident' as const]) {
        const res = await h.request(route.method, route.path, { token: await h.token(role, 'c-1'), body });
        expect(res.status).toBe(403);
        expect(errorBodySchema.parse(await res.json()).error.code).toBe('forbidden');
      }
    });
  }

  it('rejects bad, expired and non-HTTP tokens', async () => {
    const bad = await h.request('GET', '/api/v1/events', { token: 'nonsense' });
    expect(bad.status).toBe(401);
    const gate = await h.request('GET', '/api/v1/events', { token: await h.token('gate' as 'guard', 'c-1') });
    expect(gate.status).toBe(403);
  });

  it('answers unknown routes with the error body and never a stack', async () => {
    const res = await h.request('GET', '/api/v1/nowhere');
    expect(res.status).toBe(404);
    const body = errorBodySchema.parse(await res.json());
    expect(body.error.code).toBe('not-found');
    expect(JSON.stringify(body)).not.toMatch(/at .*\.ts/);
  });

  it('logs in with a password and rejects a wrong one', async () => {
    const ok = await h.request('POST', '/api/v1/auth/login', {
      body: { username: 'admin', password: 'admin-password' },
    });
    expect(ok.status).toBe(200);
    const session = (await ok.json()) as { token: string; role: string; expiresAt: number };
    expect(session.role).toBe('admin');
    expect(session.expiresAt).toBeGreaterThan(Date.now() + 11 * 3_600_000);
    expect((await h.request('GET', '/api/v1/users', { token: session.token })).status).toBe(200);
    const wrong = await h.request('POST', '/api/v1/auth/login', { body: { username: 'admin', password: 'nope' } });
    expect(wrong.status).toBe(401);
    const nobody = await h.request('POST', '/api/v1/auth/login', { body: { username: 'ghost', password: 'nope' } });
    expect(nobody.status).toBe(401);
    const malformed = await h.request('POST', '/api/v1/auth/login', { body: { username: '' } });
    expect(malformed.status).toBe(400);
    const body = errorBodySchema.parse(await malformed.json());
    expect(body.error.code).toBe('invalid-request');
    expect(body.error.issues?.map((i) => i.path)).toEqual(expect.arrayContaining(['username', 'password']));
  });

  it('answers malformed JSON with invalid-request', async () => {
    const res = await h.request('POST', '/api/v1/auth/login', { raw: '{"username":', contentType: 'application/json' });
    expect(res.status).toBe(400);
    expect(errorBodySchema.parse(await res.json()).error.code).toBe('invalid-request');
  });

  it('serves /healthz and Prometheus /metrics without a token', async () => {
    expect((await h.request('GET', '/healthz')).status).toBe(200);
    await h.request('GET', '/api/v1/events', { token: await h.token('manager') });
    const metrics = await (await h.request('GET', '/metrics')).text();
    expect(metrics).toContain('# TYPE anxin_http_request_duration_seconds histogram');
    expect(metrics).toMatch(
      /anxin_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/events",status="200"\} \d/,
    );
  });
});
