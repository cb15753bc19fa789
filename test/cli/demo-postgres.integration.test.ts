/**
 * `anxin demo --db postgres://… --db-pool N` as a child process on a throwaway PostgreSQL database
 * (testkit/postgres.ts): ready, the seeded compound and the gates' passages stored in PostgreSQL
 * (counted in its own tables, each passage once), served through the HTTP API, the pool within
 * its bound, and a clean exit on SIGINT. A second start on the same database reuses the compound.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../testkit/postgres.ts';
import { freePortRange } from './demo/free-ports.ts';
import { waitFor } from './demo/wait-for.ts';

const READY_TIMEOUT_MS = 90_000;
const POOL = 3;

interface Demo {
  child: ChildProcess;
  base: string;
  stdout: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startDemo(dataDir: string, url: string): Promise<Demo> {
  const port = await freePortRange(2);
  const mqttPort = await freePortRange(1, [port, port + 1]);
  const args = ['--data', dataDir, '--port', String(port), '--mqtt-port', String(mqttPort)];
  args.push('--gates', '1', '--residents', '60', '--rate', '8', '--db', url, '--db-pool', String(POOL));
  const child = spawn(process.execPath, ['bin/anxin.mjs', 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await waitFor('"ready" from anxin demo', READY_TIMEOUT_MS, async () => {
    if (child.exitCode !== null) throw new Error(`demo exited early (${child.exitCode}): ${stderr}`);
    return /^ready$/m.test(stdout) ? true : undefined;
  });
  return { child, base: `http://127.0.0.1:${port}`, stdout: () => stdout, exit };
}

async function stopDemo(demo: Demo): Promise<void> {
  demo.child.kill('SIGINT');
  expect(await demo.exit).toEqual({ code: 0, signal: null });
  expect(demo.stdout()).toMatch(/stopped\s*$/);
}

async function managerToken(base: string): Promise<Record<string, string>> {
  const login = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'manager', password: 'anxin-demo' }),
  });
  expect(login.status).toBe(200);
  return { authorization: `Bearer ${((await login.json()) as { token: string }).token}` };
}

describe('anxin demo on PostgreSQL (child process)', () => {
  let database: TestDatabase;
  let sql: pg.Pool;
  let dataDir: string;
  let demo: Demo | undefined;

  beforeAll(async () => {
    database = await createTestDatabase('demo_e2e');
    sql = new pg.Pool({ connectionString: database.url, max: 1 });
    dataDir = mkdtempSync(join(tmpdir(), 'anxin-demo-pg-'));
    demo = await startDemo(dataDir, database.url);
  }, READY_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    if (demo && demo.child.exitCode === null) demo.child.kill('SIGKILL');
    await sql?.end();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('seeds the compound and stores the gate’s passages once in PostgreSQL, within its pool', async () => {
    const running = demo!;
    const auth = await managerToken(running.base);
    const events = await waitFor('5 stored passages', 30_000, async () => {
      const res = await fetch(`${running.base}/api/v1/events?limit=100`, { headers: auth });
      const body = (await res.json()) as { events: { gateId: string; seq: number }[] };
      return body.events.length >= 5 ? body.events : undefined;
    });
    expect(new Set(events.map((e) => `${e.gateId}/${e.seq}`)).size).toBe(events.length);
    const residents = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM residents');
    expect(residents.rows[0]!.n).toBe(60);
    const copies = await sql.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM (SELECT gate_id, seq FROM events GROUP BY gate_id, seq HAVING count(*) > 1) AS d',
    );
    expect(copies.rows[0]!.n).toBe(0);
    const connections = await sql.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'anxin-cloud'",
    );
    expect(connections.rows[0]!.n).toBeGreaterThan(0);
    expect(connections.rows[0]!.n).toBeLessThanOrEqual(POOL);
  }, 60_000);

  it(
    'stops cleanly on SIGINT, and a second start on the same database reuses the compound',
    async () => {
      await stopDemo(demo!);
      const before = (await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM events')).rows[0]!.n;
      demo = await startDemo(dataDir, database.url);
      expect(demo.stdout()).toContain('reusing the previous run');
      const auth = await managerToken(demo.base);
      const residents = await fetch(`${demo.base}/api/v1/residents?limit=1`, { headers: auth });
      expect(residents.status).toBe(200);
      await waitFor('new passages after the restart', 30_000, async () => {
        const n = (await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM events')).rows[0]!.n;
        return n > before ? n : undefined;
      });
      await stopDemo(demo);
    },
    READY_TIMEOUT_MS + 40_000,
  );
});
