/**
 * `anxin db migrate` on a real PostgreSQL and on a SQLite file, and `--db postgres://…` for
 * `anxin cloud` and `anxin demo`: while parts of the cloud have no PostgreSQL storage, both refuse
 * with exit 2 naming them, before touching anything (not even a connection).
 */
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { run as runCloud } from '../../../cli/commands/cloud.ts';
import { run as runDb } from '../../../cli/commands/db.ts';
import { run as runDemo } from '../../../cli/commands/demo.ts';
import { PG_RESIDENT_SIDE_MIGRATIONS } from '../../../cloud/me/pg-resident-side-statements.ts';
import { partsWithoutPostgres } from '../../../cloud/postgres-readiness.ts';
import { PG_MIGRATIONS } from '../../../cloud/store/postgres/pg-migrations.ts';
import { createTestDatabase, type TestDatabase } from '../../../testkit/postgres.ts';

describe('anxin db migrate and --db postgres://', () => {
  let out: string;
  let err: string;
  let dir: string;
  let db: TestDatabase;
  /** A TCP port that counts who connects: a refusal must not reach the database at all. */
  let trap: Server;
  let trapped = 0;
  beforeAll(async () => {
    db = await createTestDatabase('cli_db');
    trap = createServer((socket) => {
      trapped++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await db?.drop();
    await new Promise((resolve) => trap.close(resolve));
  });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anxin-db-cli-'));
    out = '';
    err = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out += String(chunk);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      err += String(chunk);
      return true;
    });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });
  const trapUrl = () => `postgres://anxin:s3cret-pw@127.0.0.1:${(trap.address() as { port: number }).port}/anxin`;

  it('migrates a PostgreSQL database once, and says so without its password', async () => {
    expect(await runDb(['migrate', '--db', db.url])).toBe(0);
    const latest = Math.max(...PG_MIGRATIONS.map((m) => m.version));
    expect(out).toContain(`schema_migrations 0 -> ${latest}`);
    expect(out).toContain('device_pass_migrations 0 -> 1');
    expect(out).toContain('supply_migrations 0 -> 1');
    const residentSide = Math.max(...PG_RESIDENT_SIDE_MIGRATIONS.map((m) => m.version));
    expect(out).toContain(`resident_side_migrations 0 -> ${residentSide}`);
    expect(out).not.toContain(db.cluster.password);
    out = '';
    expect(await runDb(['migrate', '--db', db.url])).toBe(0);
    expect(out).toContain(`schema_migrations ${latest} -> ${latest}`);
    expect(out).toMatch(/session_migrations (\d+) -> \1\n/);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT count(*)::int AS n FROM pg_partitioned_table');
      expect(rows).toEqual([{ n: 1 }]);
    } finally {
      await client.end();
    }
  });

  it('migrates a SQLite file, readable by its owner only', async () => {
    const path = join(dir, 'data', 'cloud.db');
    expect(await runDb(['migrate', '--db', path])).toBe(0);
    expect(out).toMatch(/schema_migrations 0 -> \d+/);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('exits 1 with one line when the server cannot be reached, 2 on bad usage', async () => {
    const down = `postgres://anxin:pw@127.0.0.1:${(trap.address() as { port: number }).port}/anxin`;
    expect(await runDb(['migrate', '--db', down])).toBe(1);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toMatch(/^anxin db: postgres:\/\/anxin:\*\*\*@127\.0\.0\.1/);
    expect(await runDb(['--db', down])).toBe(2);
    expect(await runDb(['migrate', '--nope'])).toBe(2);
  });

  it('anxin cloud takes a postgres:// URL now that every part can store there, and reads its config first', async () => {
    // Each part left the list by itself as its PostgreSQL implementation landed (probed per engine).
    expect(partsWithoutPostgres()).toEqual([]);
    const before = trapped;
    expect(await runCloud(['--db', trapUrl(), '--keys', join(dir, 'missing.json')])).toBe(2);
    expect(err).toMatch(/keys/);
    expect(err).not.toMatch(/PostgreSQL store is ready/);
    expect(trapped).toBe(before);
  });

  it('anxin demo refuses a --db-pool outside 1-100 with a dbPool: line, before creating anything', async () => {
    for (const bad of ['0', '101', 'ten', '2.5']) {
      err = '';
      expect(await runDemo(['--data', join(dir, 'demo-pool'), `--db-pool=${bad}`])).toBe(2);
      expect(err).toMatch(/^anxin demo: dbPool: /);
    }
    expect(existsSync(join(dir, 'demo-pool'))).toBe(false);
  });

  it('prints the configuration with the URL’s password hidden', async () => {
    expect(await runCloud(['--db', trapUrl(), '--print-config'])).toBe(0);
    expect(out).toContain('postgres://anxin:(secret)@127.0.0.1');
    expect(out).not.toContain('s3cret-pw');
  });
});
