/**
 * The newcomer's path (README.md, docs/quickstart.md): `anxin demo` as a child process on free ports, ready, passages
 * accumulating through the HTTP API, every gate online, and a clean exit on SIGINT.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePortRange } from './demo/free-ports.ts';
import { waitFor } from './demo/wait-for.ts';

const READY_TIMEOUT_MS = 60_000;

describe('anxin demo (child process)', () => {
  let child: ChildProcess;
  let dataDir: string;
  let base: string;
  let stdout = '';
  let exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'anxin-demo-'));
    // The cloud on `port`, the two gate terminals on port+1 and port+2, the broker elsewhere.
    const port = await freePortRange(3);
    const mqttPort = await freePortRange(1, [port, port + 1, port + 2]);
    base = `http://127.0.0.1:${port}`;
    child = spawn(
      process.execPath,
      [
        'bin/anxin.mjs',
        'demo',
        '--data',
        dataDir,
        '--port',
        String(port),
        '--mqtt-port',
        String(mqttPort),
        '--gates',
        '2',
        '--residents',
        '120',
        '--rate',
        '6',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    await waitFor('"ready" from anxin demo', READY_TIMEOUT_MS, async () => {
      if (child.exitCode !== null) throw new Error(`demo exited early (${child.exitCode}): ${stderr}`);
      return /^ready$/m.test(stdout) ? true : undefined;
    });
  }, READY_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints the URLs of the console, the dashboard and every gate terminal', () => {
    expect(stdout).toContain(`${base}/console`);
    expect(stdout).toContain(`${base}/dashboard`);
    expect(stdout.match(/gate terminal\s+http:\/\/127\.0\.0\.1:\d+/g)).toHaveLength(2);
  });

  it('accumulates passages through the HTTP API and reports every gate online', async () => {
    const login = await fetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'manager', password: 'anxin-demo' }),
    });
    expect(login.status).toBe(200);
    const { token } = (await login.json()) as { token: string };
    const auth = { authorization: `Bearer ${token}` };

    const events = await waitFor('5 stored passages', 30_000, async () => {
      const res = await fetch(`${base}/api/v1/events?limit=100`, { headers: auth });
      const body = (await res.json()) as { events: { gateId: string; seq: number }[] };
      return body.events.length >= 5 ? body.events : undefined;
    });
    expect(new Set(events.map((e) => `${e.gateId}/${e.seq}`)).size).toBe(events.length);

    const gates = await waitFor('every gate online', 20_000, async () => {
      const res = await fetch(`${base}/api/v1/gates`, { headers: auth });
      const body = (await res.json()) as { gates: { id: string; status?: { online: boolean } }[] };
      return body.gates.length === 2 && body.gates.every((g) => g.status?.online) ? body.gates : undefined;
    });
    expect(gates.map((g) => g.id).sort()).toEqual(['north-in', 'north-out']);
  });

  it('stops cleanly on SIGINT with exit code 0 within a few seconds', async () => {
    const started = Date.now();
    child.kill('SIGINT');
    const result = await Promise.race([
      exit,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('demo did not exit within 10 s')), 10_000)),
    ]);
    expect(result).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(stdout).toMatch(/stopped\s*$/);
  }, 15_000);
});

describe('anxin demo interrupted while seeding (child process)', () => {
  let dataDir: string;
  let port: number;
  let mqttPort: number;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'anxin-demo-'));
    port = await freePortRange(2);
    mqttPort = await freePortRange(1, [port, port + 1]);
  });

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  function startChild(residents: number) {
    const child = spawn(
      process.execPath,
      [
        'bin/anxin.mjs',
        'demo',
        '--data',
        dataDir,
        '--port',
        String(port),
        '--mqtt-port',
        String(mqttPort),
        '--gates',
        '1',
        '--residents',
        String(residents),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const out = { stdout: '', stderr: '' };
    child.stdout?.on('data', (chunk: Buffer) => {
      out.stdout += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      out.stderr += chunk.toString();
    });
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    return { child, out, exit };
  }

  async function stopWithin(run: ReturnType<typeof startChild>, ms: number) {
    run.child.kill('SIGINT');
    return Promise.race([
      run.exit,
      new Promise<never>((_, reject) =>
        setTimeout(() => {
          run.child.kill('SIGKILL');
          reject(new Error(`demo did not exit within ${ms} ms:\n${run.out.stdout}\n${run.out.stderr}`));
        }, ms),
      ),
    ]);
  }

  it(
    'stops cleanly (exit 0) on SIGINT during seeding, and the next start gets ready',
    async () => {
      const first = startChild(5000);
      await waitFor('seeding to begin', READY_TIMEOUT_MS, async () => {
        if (first.child.exitCode !== null) throw new Error(`demo exited early: ${first.out.stderr}`);
        return /seeding 5000 residents/.test(first.out.stdout) ? true : undefined;
      });
      expect(await stopWithin(first, 10_000)).toEqual({ code: 0, signal: null });
      expect(first.out.stdout).not.toMatch(/^ready$/m);
      expect(first.out.stdout).toMatch(/stopping …\n[\s\S]*stopped\s*$/);
      expect(first.out.stderr).toBe('');

      const second = startChild(5000);
      try {
        await waitFor('"ready" after the interrupted start', READY_TIMEOUT_MS, async () => {
          if (second.child.exitCode !== null) throw new Error(`demo exited early: ${second.out.stderr}`);
          return /^ready$/m.test(second.out.stdout) ? true : undefined;
        });
        expect(second.out.stdout).toContain('seeding 5000 residents');
      } finally {
        expect(await stopWithin(second, 10_000)).toEqual({ code: 0, signal: null });
      }
    },
    2 * READY_TIMEOUT_MS + 30_000,
  );
});
