import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EdgeConfigInput, parseEdgeConfig } from '../../edge-agent/config.ts';
import { createEdgeAgent, type EdgeAgent } from '../../edge-agent/edge-agent.ts';
import { silentLogger } from '../../shared/log.ts';
import { entryEventSchema } from '../../shared/schemas/mqtt.ts';
import { guardCookie, rawRequest, TEST_GUARD, TEST_GUARD_PIN } from '../../testkit/terminal-guard.ts';
import { type CloudStandIn, waitFor } from './cloud-stand-in.ts';
import { benchGateConfig, type CloudBench, startCloudBench } from './cloud-bench.ts';
import { FakeIdCardReader, FakeQrScanner, FakeTurnstile } from './fake-devices.ts';
import { NOW, pass } from './fixtures.ts';

let bench: CloudBench;
let cloud: CloudStandIn;
let agent: EdgeAgent | undefined;
let qr: FakeQrScanner;
let turnstile: FakeTurnstile;
const startedAt = Date.now();
const clock = { now: () => NOW + (Date.now() - startedAt) };

async function start(over: Partial<EdgeConfigInput> = {}): Promise<{ agent: EdgeAgent; base: string; port: number }> {
  qr = new FakeQrScanner();
  turnstile = new FakeTurnstile();
  const config = parseEdgeConfig(
    benchGateConfig(bench, {
      http: { port: 0 },
      timeouts: { passageMs: 400 },
      terminal: { guards: [TEST_GUARD] },
      ...over,
    }),
  );
  agent = createEdgeAgent(config, {
    logger: silentLogger,
    clock,
    devices: { qr, idreader: new FakeIdCardReader(), turnstile },
    version: 'test',
  });
  await agent.start();
  await waitFor(() => agent!.status().rev === 5 && agent!.status().online, 'the first sync');
  const base = agent.terminalUrl!;
  return { agent, base, port: Number(new URL(base).port) };
}

beforeEach(async () => {
  bench = await startCloudBench('anxin-terminal-');
  cloud = bench.cloud;
});

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await bench.stop();
});

const json = { 'content-type': 'application/json' };

describe('gate terminal HTTP', () => {
  it('refuses POST /api/open with a foreign Host (DNS rebinding) and opens nothing, even for a signed-in guard', async () => {
    const { agent: a, base, port } = await start();
    const cookie = await guardCookie(base);
    const body = JSON.stringify({ direction: 'in', reason: 'rebinding' });
    for (const host of [
      'attacker.example',
      `attacker.example:${port}`,
      'gate.attacker.example',
      '127.0.0.1.attacker.example',
    ]) {
      const res = await rawRequest(port, {
        method: 'POST',
        path: '/api/open',
        headers: { ...json, host, cookie },
        body,
      });
      expect(res.status, host).toBe(421);
      expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'foreign-host' } });
    }
    // Read-only routes too: a rebinding page cannot read the screen, the state or the session.
    const state = await rawRequest(port, { path: '/api/state', headers: { host: 'attacker.example', cookie } });
    expect(state.status).toBe(421);
    expect(turnstile.unlocks).toEqual([]);
    expect(a.journalDepth).toBe(0);
    expect(a.terminalRefusals.foreignHost).toBeGreaterThanOrEqual(5);
  });

  it('refuses a state-changing request from another Origin or a cross-site fetch', async () => {
    const { base, port } = await start();
    const cookie = await guardCookie(base);
    const body = JSON.stringify({ direction: 'in', reason: 'csrf' });
    const host = `127.0.0.1:${port}`;
    const foreign: Record<string, string>[] = [
      { origin: 'http://attacker.example' },
      { origin: `http://127.0.0.1:${port + 1}` },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
    ];
    for (const headers of foreign) {
      const res = await rawRequest(port, {
        method: 'POST',
        path: '/api/open',
        headers: { ...json, host, cookie, ...headers },
        body,
      });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'foreign-origin' } });
    }
    const signIn = await rawRequest(port, {
      method: 'POST',
      path: '/api/guard/session',
      headers: { ...json, host, origin: 'http://attacker.example' },
      body: JSON.stringify({ guardId: TEST_GUARD.id, pin: TEST_GUARD_PIN }),
    });
    expect(signIn.status).toBe(403);
    expect(turnstile.unlocks).toEqual([]);
    // The same request from the terminal's own page is taken.
    const own = await rawRequest(port, {
      method: 'POST',
      path: '/api/open',
      headers: { ...json, host, cookie, origin: `http://${host}`, 'sec-fetch-site': 'same-origin' },
      body,
    });
    expect(own.status).toBe(200);
    expect(turnstile.unlocks).toEqual(['in']);
  });

  it('keeps the guard controls behind a sign-in and the public screen free of guard data', async () => {
    const { agent: a, base } = await start();
    qr.scan(pass('bob'));
    // Without a session: no state, no stream, no open.
    expect((await fetch(`${base}/api/state`)).status).toBe(401);
    expect((await fetch(`${base}/api/guard/events`)).status).toBe(401);
    const refused = await fetch(`${base}/api/open`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ direction: 'in', reason: 'no session' }),
    });
    expect(refused.status).toBe(401);
    expect(turnstile.unlocks).toEqual([]);
    // A forged cookie is no session.
    const forged = await fetch(`${base}/api/state`, { headers: { cookie: 'anxin_guard=forged' } });
    expect(forged.status).toBe(401);

    // The public screen: the current result and the banners only.
    const screen = (await (await fetch(`${base}/api/screen`)).json()) as Record<string, unknown>;
    expect(Object.keys(screen).sort()).toEqual(['results', 'state']);
    expect(JSON.stringify(screen)).not.toMatch(/lastScans|alarms|journalDepth|"devices"|personId|idHash|"guard"/);
    expect(screen.results).toMatchObject([{ reason: 'health-red', colour: 'red', icon: '✗' }]);
    const page = await (await fetch(`${base}/`)).text();
    expect(page).not.toMatch(/<script>|<style>|style=|onclick|id="open"|Manual open/);

    // A wrong PIN, then the right one.
    const wrong = await fetch(`${base}/api/guard/session`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ guardId: TEST_GUARD.id, pin: '000000' }),
    });
    expect(wrong.status).toBe(401);
    const cookie = await guardCookie(base);
    const state = (await (await fetch(`${base}/api/state`, { headers: { cookie } })).json()) as {
      guard: unknown;
      lastScans: unknown[];
    };
    expect(state.guard).toEqual({ id: TEST_GUARD.id, name: TEST_GUARD.name });
    expect(state.lastScans).toHaveLength(1);

    // Sign-out ends the session.
    const out = await fetch(`${base}/api/guard/session`, { method: 'DELETE', headers: { cookie } });
    expect(out.status).toBe(204);
    expect((await fetch(`${base}/api/state`, { headers: { cookie } })).status).toBe(401);
    expect(a.counters.decisions).toBe(1);
  });

  it("writes the signed-in guard's name and the reason into the event the cloud stores", async () => {
    const { base } = await start();
    const cookie = await guardCookie(base);
    // The guard's name cannot be chosen by the request.
    const named = await fetch(`${base}/api/open`, {
      method: 'POST',
      headers: { ...json, cookie },
      body: JSON.stringify({ direction: 'in', reason: 'x', guard: 'someone else' }),
    });
    expect(named.status).toBe(400);
    const blank = await fetch(`${base}/api/open`, {
      method: 'POST',
      headers: { ...json, cookie },
      body: JSON.stringify({ direction: 'in', reason: '  ' }),
    });
    expect(blank.status).toBe(400);
    const opened = await fetch(`${base}/api/open`, {
      method: 'POST',
      headers: { ...json, cookie },
      body: JSON.stringify({ direction: 'out', reason: '快递员送货 delivery' }),
    });
    expect(await opened.json()).toEqual({ seq: 1 });
    turnstile.pass('out');
    await waitFor(() => cloud.stored.has(1), 'the manual open in the cloud');
    const event = cloud.stored.get(1)!;
    expect(entryEventSchema.parse(event)).toMatchObject({
      method: 'manual',
      reason: 'manual',
      direction: 'out',
      guard: TEST_GUARD.name,
      openReason: '快递员送货 delivery',
      passed: true,
    });
  });

  it('refuses a body over the limit before reading it', async () => {
    const { base, port } = await start();
    const cookie = (await guardCookie(base)).split('=');
    // Headers announce 10 MB; only the headers are sent: the answer must come without the body.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk.toString();
        if (received.includes('\r\n\r\n')) {
          socket.destroy();
          resolve(received);
        }
      });
      socket.on('error', reject);
      socket.write(
        `POST /api/guard/session HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
          `Cookie: ${cookie.join('=')}\r\nContent-Length: 10485760\r\n\r\n{"guardId":`,
      );
    });
    expect(answer).toMatch(/^HTTP\/1\.1 413/);
    const chunked = await fetch(`${base}/api/open`, {
      method: 'POST',
      headers: { ...json, cookie: cookie.join('=') },
      body: JSON.stringify({ direction: 'in', reason: 'x'.repeat(8_000) }),
    });
    expect(chunked.status).toBe(413);
    expect(turnstile.unlocks).toEqual([]);
  });

  it('sends the security headers on pages, assets and the API', async () => {
    const { base } = await start();
    for (const path of ['/', '/guard', '/assets/screen.js', '/api/screen', '/healthz', '/api/state', '/nowhere']) {
      const res = await fetch(`${base}${path}`);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).toContain("script-src 'self'");
      expect(csp, path).not.toContain('unsafe-inline');
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
    }
    expect((await fetch(`${base}/assets/..%2Fterminal-app.ts`)).status).toBe(404);
    expect((await fetch(`${base}/assets/constructor`)).status).toBe(404);
  });

  it('locks sign-in after repeated wrong PINs and raises a tamper alarm', async () => {
    const { agent: a, base } = await start();
    const alarms: string[] = [];
    a.on('alarm', (alarm) => alarms.push(alarm.kind));
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${base}/api/guard/session`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ guardId: TEST_GUARD.id, pin: `00000${i}` }),
      });
      expect(res.status).toBe(401);
    }
    const locked = await fetch(`${base}/api/guard/session`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ guardId: TEST_GUARD.id, pin: TEST_GUARD_PIN }),
    });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(alarms).toContain('tamper');
  });

  it('never shows a grant as plain green while the turnstile is out of order', async () => {
    const { agent: a, base } = await start();
    qr.scan(pass('alice'));
    expect(a.state().lastScans[0]).toMatchObject({ result: 'granted', colour: 'green', icon: '✓' });
    turnstile.status = 'fault';
    turnstile.emit('status', 'fault');
    qr.scan(pass('alice'));
    expect(a.state().lastScans[0]).toMatchObject({
      result: 'granted',
      colour: 'amber',
      icon: '!',
      zh: '闸机故障，请找门卫',
    });
    const screen = (await (await fetch(`${base}/api/screen`)).json()) as {
      state: { turnstileFault: boolean };
      results: { zh: string; colour: string }[];
    };
    expect(screen.state.turnstileFault).toBe(true);
    expect(screen.results[0]).toMatchObject({ colour: 'amber', zh: '闸机故障，请找门卫' });
    expect(a.status()).toMatchObject({ health: 'degraded', problems: expect.arrayContaining(['turnstile-fault']) });
  });

  it('reports its health and event-loop delay on /healthz, /metrics and in the status', async () => {
    const { agent: a, base } = await start();
    const health = (await (await fetch(`${base}/healthz`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'ok', mqtt: { state: 'connected' }, problems: [] });
    expect(health.eventLoop).toMatchObject({ p99Ms: expect.any(Number) });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/anxin_gate_event_loop_delay_seconds\{gate="g1",quantile="0.99"\} \d/);
    expect(metrics).toContain('anxin_gate_mqtt_connected{gate="g1"} 1');
    expect(a.status()).toMatchObject({ health: 'ok', eventLoopP99Ms: expect.any(Number) });
    await waitFor(() => cloud.statuses.some((s) => typeof s.eventLoopP99Ms === 'number'), 'the p99 in a status');
  });
});
