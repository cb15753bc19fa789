/**
 * The throwaway PostgreSQL of the tests (testkit/postgres.ts): a real server running as the
 * unprivileged user on 127.0.0.1 and its own socket, a fresh database per suite, everything gone
 * after stop, orphans of killed test processes reaped, and a loud failure without the binaries.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, findPostgresBin, startPostgres, type TestDatabase } from '../../testkit/postgres.ts';

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('testkit/postgres', () => {
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    for (const db of databases) await db.drop();
  });

  it('gives each suite its own empty database on a real PostgreSQL 15+ server', async () => {
    const a = await createTestDatabase('kit_a');
    const b = await createTestDatabase('kit_b');
    databases.push(a, b);
    expect(a.cluster).toBe(b.cluster);
    expect(a.name).not.toBe(b.name);
    await query(a.url, 'CREATE TABLE t (x int); INSERT INTO t VALUES (1)');
    expect(await query(a.url, 'SELECT x FROM t')).toEqual([{ x: 1 }]);
    await expect(query(b.url, 'SELECT x FROM t')).rejects.toThrow(/does not exist/);
    const [version] = await query<{ server_version_num: string }>(a.url, 'SHOW server_version_num');
    expect(Number(version!.server_version_num)).toBeGreaterThanOrEqual(150000);
  });

  it('runs as the unprivileged user, listens on 127.0.0.1 only and on its own socket dir', async () => {
    const db = await createTestDatabase('kit_user');
    databases.push(db);
    const { cluster } = db;
    const [row] = await query<{ dir: string; addr: string }>(
      db.url,
      "SELECT current_setting('data_directory') AS dir, current_setting('listen_addresses') AS addr",
    );
    expect(row!.addr).toBe('127.0.0.1');
    expect(row!.dir.startsWith(cluster.dir)).toBe(true);
    if (process.getuid?.() === 0) expect(statSync(row!.dir).uid).not.toBe(0);
    expect(existsSync(join(cluster.socketDir, `.s.PGSQL.${cluster.port}`))).toBe(true);
    // Wrong password: refused (scram over TCP, not trust).
    await expect(query(db.url.replace(cluster.password, 'wrong'), 'SELECT 1')).rejects.toThrow(/password/);
  });

  it('drop removes the database', async () => {
    const db = await createTestDatabase('kit_drop');
    await db.drop();
    const rows = await query<{ n: string }>(
      db.cluster.url('postgres'),
      `SELECT count(*) AS n FROM pg_database WHERE datname = '${db.name}'`,
    );
    expect(rows).toEqual([{ n: '0' }]);
  });

  it('stop shuts the server down and removes its directory; a killed owner’s cluster is reaped', async () => {
    const orphan = await startPostgres();
    // Its owner "died": a pid that has exited.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(orphan.dir, 'owner.pid'), dead.stdout);
    const next = await startPostgres();
    try {
      expect(existsSync(orphan.dir)).toBe(false);
      expect(await refused(orphan.port)).toBe(true);
    } finally {
      await next.stop();
    }
    expect(existsSync(next.dir)).toBe(false);
    expect(await refused(next.port)).toBe(true);
    // Two initdb runs and server starts: seconds on a quiet machine, past 20 s on a loaded one.
  }, 120_000);

  it('fails loudly, naming the package, when the server binaries are missing', () => {
    expect(() => findPostgresBin(['/nonexistent/bin'])).toThrow(/apt-get install -y postgresql/);
  });
});
