import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { GATE_DB_FILE } from '../../edge-agent/gate-database.ts';
import { MAX_BODY_BYTES } from '../../edge-agent/terminal/terminal-http.ts';
import { silentLogger } from '../../shared/log.ts';
import { guardCookie, TEST_GUARD } from '../../testkit/terminal-guard.ts';
import { waitFor } from './cloud-stand-in.ts';
import { benchGateConfig, type CloudBench, startCloudBench } from './cloud-bench.ts';
import { FakeIdCardReader, FakeQrScanner, FakeTurnstile } from './fake-devices.ts';
import { NOW } from './fixtures.ts';

interface Route {
  method: 'GET' | 'POST';
  path: string;
  /** A valid body (POST routes). */
  body?: Record<string, unknown>;
}

/** Every route that needs a guard session (terminal-app.ts, terminal-supply-routes.ts). */
const GUARDED: Route[] = [
  { method: 'GET', path: '/api/guard/session' },
  { method: 'GET', path: '/api/state' },
  { method: 'GET', path: '/api/guard/events' },
  { method: 'POST', path: '/api/open', body: { direction: 'in', reason: 'delivery' } },
  { method: 'GET', path: '/api/supply/household?id=h1' },
  { method: 'POST', path: '/api/supply/claim', body: { personId: 'alice', reason: 'no card' } },
  { method: 'GET', path: '/api/guard/role' },
  { method: 'POST', path: '/api/guard/role', body: { role: 'distribution', reason: 'rice arrived' } },
];
/** Every route that reads a body: the guarded ones and the sign-in. */
const WITH_BODY: Route[] = [
  ...GUARDED.filter((r) => r.method === 'POST'),
  { method: 'POST', path: '/api/guard/session', body: { guardId: TEST_GUARD.id, pin: '000000' } },
];

let bench: CloudBench;
let dir: string;
let agent: EdgeAgent;
let turnstile: FakeTurnstile;
let base: string;
let cookie: string;
const startedAt = Date.now();
/** Moved forward to let a session lapse (the last test). */
let skewMs = 0;
const clock = { now: () => NOW + (Date.now() - startedAt) + skewMs };

beforeAll(async () => {
  bench = await startCloudBench('anxin-guard-routes-');
  dir = bench.dir;
  turnstile = new FakeTurnstile();
  agent = createEdgeAgent(
    parseEdgeConfig(benchGateConfig(bench, { http: { port: 0 }, terminal: { guards: [TEST_GUARD] } })),
    {
      logger: silentLogger,
      clock,
      devices: { qr: new FakeQrScanner(), idreader: new FakeIdCardReader(), turnstile },
      version: 'test',
    },
  );
  await agent.start();
  await waitFor(() => agent.status().rev === 5 && agent.status().online, 'the first sync');
  base = agent.terminalUrl!;
  cookie = await guardCookie(base);
});

afterAll(async () => {
  await agent?.stop();
  await bench.stop();
});

const JSON_TYPE = { 'content-type': 'application/json' };

async function send(
  route: Route,
  init: { headers?: Record<string, string>; body?: string | ReadableStream<Uint8Array> } = {},
) {
  const res = await fetch(`${base}${route.path}`, {
    method: route.method,
    headers: init.headers ?? {},
    ...(init.body === undefined ? {} : { body: init.body, duplex: 'half' }),
  } as RequestInit);
  const text = await res.text();
  let json: { error?: { code?: string; message?: string } } | undefined;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** Nothing a refusal may have done: no unlock, no passage journaled, no claim, the role unchanged. */
function expectNothingHappened(): void {
  expect(turnstile.unlocks).toEqual([]);
  expect(agent.journalDepth).toBe(0);
  expect(agent.counters.decisions).toBe(0);
  expect(agent.gateSettings).toMatchObject({ role: 'entry', roleSwitch: null });
}

describe('the terminal guard routes refuse', () => {
  it('401 without a session or with a forged one, whatever the body', async () => {
    for (const route of GUARDED) {
      const body = route.body ? JSON.stringify(route.body) : undefined;
      for (const headers of [{}, { cookie: 'anxin_guard=forged' }, { cookie: `${cookie}x` }] as Record<
        string,
        string
      >[]) {
        const res = await send(route, { headers: { ...JSON_TYPE, ...headers }, ...(body ? { body } : {}) });
        expect(res.status, `${route.method} ${route.path} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.json?.error?.code).toBe('unauthorized');
      }
    }
    expectNothingHappened();
  });

  it('413 for a body over the limit, announced or streamed, before reading it', async () => {
    for (const route of WITH_BODY) {
      const big = JSON.stringify({ ...route.body, reason: 'x'.repeat(MAX_BODY_BYTES) });
      const announced = await send(route, { headers: { ...JSON_TYPE, cookie }, body: big });
      expect(announced.status, `${route.path} announced`).toBe(413);
      expect(announced.json?.error?.code).toBe('payload-too-large');
      // No Content-Length: a stream of chunks, counted as it is read.
      const encoder = new TextEncoder();
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 8; i++) controller.enqueue(encoder.encode(' '.repeat(1024)));
          controller.enqueue(encoder.encode(JSON.stringify(route.body)));
          controller.close();
        },
      });
      const streamed = await send(route, { headers: { ...JSON_TYPE, cookie }, body: stream });
      expect(streamed.status, `${route.path} streamed`).toBe(413);
      expect(streamed.json?.error?.code).toBe('payload-too-large');
    }
    expectNothingHappened();
  });

  it('400 with a structured error for a body that is not the route’s', async () => {
    for (const route of WITH_BODY) {
      const bad: [string, Record<string, string>, string][] = [
        ['not JSON', JSON_TYPE, '{"role":'],
        ['an array', JSON_TYPE, '[]'],
        ['a string', JSON_TYPE, '"distribution"'],
        ['empty', JSON_TYPE, ''],
        ['a field too many', JSON_TYPE, JSON.stringify({ ...route.body, guard: 'someone else' })],
        ['a field missing', JSON_TYPE, JSON.stringify({ ...route.body, reason: undefined, pin: undefined })],
        ['a blank reason', JSON_TYPE, JSON.stringify({ ...route.body, reason: '   ' })],
        ['a prototype key', JSON_TYPE, `{"__proto__":{"admin":true},${JSON.stringify(route.body).slice(1)}`],
        ['another content type', { 'content-type': 'text/plain' }, JSON.stringify(route.body)],
        ['no content type', {}, JSON.stringify(route.body)],
      ];
      for (const [what, headers, body] of bad) {
        if (what === 'a blank reason' && route.path === '/api/guard/session') continue;
        const res = await send(route, { headers: { ...headers, cookie }, body });
        expect(res.status, `${route.path}: ${what} → ${res.text}`).toBe(400);
        expect(res.json?.error?.code, `${route.path}: ${what}`).toBe('invalid-request');
        expect(res.json?.error?.message).toEqual(expect.any(String));
      }
    }
    for (const query of ['?id=../../etc', '', '?id=', `?id=${'h'.repeat(65)}`]) {
      const res = await send({ method: 'GET', path: `/api/supply/household${query}` }, { headers: { cookie } });
      expect(res.status, query).toBe(400);
      expect(res.json?.error?.code).toBe('invalid-request');
    }
    expectNothingHappened();
  });

  it('409 not-crisis for a role switch outside controlled and lockdown, audited at the gate', async () => {
    expect(agent.status().mode).toBe('normal');
    const switchRoute = GUARDED.find((r) => r.path === '/api/guard/role' && r.method === 'POST')!;
    const res = await send(switchRoute, { headers: { ...JSON_TYPE, cookie }, body: JSON.stringify(switchRoute.body) });
    expect(res.status).toBe(409);
    expect(res.json).toMatchObject({ error: { code: 'not-crisis' }, role: 'entry' });
    const log = await send({ method: 'GET', path: '/api/guard/role' }, { headers: { cookie } });
    expect(log.status).toBe(200);
    expect((log.json as unknown as { log: unknown[] }).log[0]).toMatchObject({
      outcome: 'refused',
      from: 'entry',
      to: 'distribution',
      mode: 'normal',
      guard: TEST_GUARD.name,
      reason: 'rice arrived',
    });
    expectNothingHappened();
  });

  it('409 not-a-distribution-point for a supply claim at a passage gate: refused in status and body, nothing shown', async () => {
    expect(agent.gateSettings.role).toBe('entry');
    const claimRoute = GUARDED.find((r) => r.path === '/api/supply/claim')!;
    const scansBefore = agent.state().lastScans.length;
    const res = await send(claimRoute, { headers: { ...JSON_TYPE, cookie }, body: JSON.stringify(claimRoute.body) });
    expect(res.status, res.text).toBe(409);
    expect(res.json).toEqual({
      error: { code: 'not-a-distribution-point', message: 'This gate is not a distribution point now' },
      verdict: 'refused',
      refusal: 'not-a-distribution-point',
      zh: '本闸口现在不是物资发放点',
      en: 'This gate is not a distribution point now',
      role: 'entry',
    });
    // Nothing on the passage screen, nothing journaled.
    expect(agent.state().lastScans).toHaveLength(scansBefore);
    const db = new Database(join(dir, GATE_DB_FILE), { readonly: true });
    expect(db.prepare('SELECT COUNT(*) AS n FROM claim_journal').get()).toEqual({ n: 0 });
    db.close();
    expectNothingHappened();
  });

  it('401 once the session lapsed (15 minutes idle), on every route', async () => {
    expect((await send({ method: 'GET', path: '/api/state' }, { headers: { cookie } })).status).toBe(200);
    skewMs += 15 * 60_000 + 1_000;
    for (const route of GUARDED) {
      const body = route.body ? JSON.stringify(route.body) : undefined;
      const res = await send(route, { headers: { ...JSON_TYPE, cookie }, ...(body ? { body } : {}) });
      expect(res.status, `${route.method} ${route.path}`).toBe(401);
      expect(res.json?.error?.code).toBe('unauthorized');
    }
    expectNothingHappened();
  });
});
