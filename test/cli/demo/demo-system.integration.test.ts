/**
 * `startDemo` (cli/demo/demo-system.ts) in this process, one gate, a small compound: what a second
 * start on the same data directory does with `--password` and `--residents`, and a start-up
 * interrupted while seeding (Ctrl-C) stopping what had started, the next start recovering.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEMO_GUARD,
  type DemoOptions,
  DemoStartInterrupted,
  type RunningDemo,
  startDemo,
} from '../../../cli/demo/demo-system.ts';
import { silentLogger } from '../../../shared/log.ts';
import { freePortRange } from './free-ports.ts';

let dataDir: string;
let port: number;
let running: RunningDemo | undefined;

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'anxin-demo-system-'));
  port = await freePortRange(2);
});

afterEach(async () => {
  await running?.stop();
  running = undefined;
  rmSync(dataDir, { recursive: true, force: true });
});

function options(overrides: Partial<DemoOptions> & { lines?: string[] } = {}): DemoOptions {
  const { lines = [], ...rest } = overrides;
  return {
    gates: 1,
    residents: 20,
    port,
    mqttPort: 0,
    dataDir,
    rate: 0.5,
    password: 'anxin-demo',
    pty: false,
    host: '127.0.0.1',
    logger: silentLogger,
    progress: (line) => lines.push(line),
    ...rest,
  };
}

async function login(username: string, password: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  await res.body?.cancel();
  return res.status;
}

async function residentCount(password: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password }),
  });
  const { token } = (await res.json()) as { token: string };
  let count = 0;
  let cursor: string | null = null;
  do {
    const url = `http://127.0.0.1:${port}/api/v1/residents?compound=sunny-garden&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = (await (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      residents: unknown[];
      nextCursor: string | null;
    };
    count += page.residents.length;
    cursor = page.nextCursor;
  } while (cursor);
  return count;
}

function portIsFree(p: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(p, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

describe('startDemo on a data directory of an earlier start', () => {
  it('sets the demo sign-ins to the --password of this start, and says the compound is kept', async () => {
    running = await startDemo(options({ password: 'first-password' }));
    expect(await login('manager', 'first-password')).toBe(200);
    await running.stop();
    running = undefined;

    const lines: string[] = [];
    running = await startDemo(options({ password: 'second-password', residents: 50, lines }));
    for (const user of ['admin', 'manager', 'guard']) {
      expect(await login(user, 'second-password')).toBe(200);
      expect(await login(user, 'first-password')).toBe(401);
    }
    const notice = lines.filter((l) => /reused with its 20 residents/.test(l));
    expect(notice).toHaveLength(1);
    expect(notice[0]).toContain('--residents 50');
    expect(notice[0]).toContain('--data');
    expect(notice[0]).toContain(`delete ${dataDir}`);
    expect(await residentCount('second-password')).toBe(20);
  });

  it('says nothing about residents when the count is the same', async () => {
    running = await startDemo(options());
    await running.stop();
    const lines: string[] = [];
    running = await startDemo(options({ lines }));
    expect(lines.some((l) => /reused with its/.test(l))).toBe(false);
  });
});

describe('startDemo interrupted during start-up', () => {
  it('stops what had started when the signal aborts while seeding; the next start seeds and runs', async () => {
    const controller = new AbortController();
    const lines: string[] = [];
    const progress = (line: string) => {
      lines.push(line);
      if (line.startsWith('issued 500/')) controller.abort();
    };
    const started = startDemo(options({ residents: 1500, progress, signal: controller.signal }));
    await expect(started).rejects.toBeInstanceOf(DemoStartInterrupted);
    expect(lines.some((l) => l.startsWith('issued 1000/'))).toBe(false);
    expect(lines.some((l) => l.startsWith('gate '))).toBe(false);
    // The cloud's port is released again, and nothing says the seeding was complete.
    expect(await portIsFree(port)).toBe(true);
    expect(existsSync(join(dataDir, 'demo-state.json'))).toBe(false);

    const again: string[] = [];
    running = await startDemo(options({ residents: 1500, lines: again }));
    expect(again.some((l) => l.startsWith('seeding 1500 residents'))).toBe(true);
    expect(existsSync(join(dataDir, 'demo-state.json'))).toBe(true);
    expect(await residentCount('anxin-demo')).toBe(1500);
    expect(running.traffic().arrivals).toBeGreaterThanOrEqual(0);
  });

  it('stops before anything when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(startDemo(options({ signal: controller.signal }))).rejects.toBeInstanceOf(DemoStartInterrupted);
    expect(await portIsFree(port)).toBe(true);
  });
});

describe('startDemo with --pty', () => {
  it("runs the lane's devices over socat ptys with the OS serial binding: every device ok, traffic decided", async () => {
    running = await startDemo(options({ pty: true, rate: 2 }));
    const terminal = running.urls.terminals[0]!.url.replace(/\/$/, '');
    const signIn = await fetch(`${terminal}/api/guard/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ guardId: DEMO_GUARD.id, pin: DEMO_GUARD.pinText }),
    });
    expect(signIn.status).toBe(200);
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
    let state: { devices: Record<string, string>; lastScans: unknown[] } | undefined;
    const deadline = Date.now() + 30_000;
    do {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const res = await fetch(`${terminal}/api/state`, { headers: { cookie } });
      state = (await res.json()) as typeof state;
    } while (
      Date.now() < deadline &&
      !(Object.values(state!.devices).every((s) => s === 'ok') && state!.lastScans.length > 0)
    );
    expect(Object.values(state!.devices)).toEqual(['ok', 'ok', 'ok']);
    expect(state!.lastScans.length).toBeGreaterThan(0);
  });
});
