/**
 * A throwaway PostgreSQL cluster for tests: Debian's `postgresql` package (initdb, pg_ctl), a data
 * directory in a fresh temp dir, its own free port on 127.0.0.1 and its own unix-socket directory,
 * a random superuser password (scram over TCP). PostgreSQL refuses to run as root, so as root every
 * server program runs as the unprivileged `postgres` user (`runuser`), which owns the temp dir.
 *
 * One cluster per test process (cached on `globalThis`, so it outlives vitest's per-file module
 * registry), started on first use; every test file takes a fresh database from it
 * (`createTestDatabase()`) and drops it at the end. The cluster is stopped and its directory
 * removed when the process ends, however it ends: vitest ends its workers with SIGTERM (no `exit`
 * event), so a small guardian process holds a pipe from the test process and, when that pipe
 * closes, stops the cluster and removes its directory. A cluster left behind anyway (the machine
 * lost power, the guardian was killed) is found by its owner file and removed by the next start. Missing binaries throw: suites that need
 * PostgreSQL fail loudly rather than skip (install: `apt-get install -y postgresql`).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface PostgresCluster {
  /** 127.0.0.1 */
  host: string;
  port: number;
  /** The unix-socket directory (connect with `host=<socketDir>`). */
  socketDir: string;
  /** The temp dir holding `data/`, `socket/` and `postgres.log`. */
  dir: string;
  user: string;
  password: string;
  /** `postgres://user:password@127.0.0.1:port/<database>` */
  url(database: string): string;
  /** Everything the server logged so far. */
  log(): string;
  stop(): Promise<void>;
}

export interface TestDatabase {
  /** Connection string of the fresh database. */
  url: string;
  name: string;
  cluster: PostgresCluster;
  /** Drops the database (terminating any connection left open). */
  drop(): Promise<void>;
}

const DIR_PREFIX = 'anxin-pg-';
const OWNER_FILE = 'owner.pid';
const SERVER_USER = 'postgres';
const START_TIMEOUT_S = 60;
const GLOBAL_KEY = Symbol.for('anxin.testkit.postgres');

/**
 * The directory of initdb / pg_ctl / pg_isready: `ANXIN_PG_BIN`, else the newest
 * /usr/lib/postgresql/<version>/bin (Debian), else PATH. Throws with the install hint when absent.
 */
export function findPostgresBin(candidates: readonly string[] = defaultBinDirs()): string {
  for (const dir of candidates) {
    try {
      for (const tool of ['initdb', 'pg_ctl', 'pg_isready', 'postgres']) accessSync(join(dir, tool), constants.X_OK);
      return dir;
    } catch {}
  }
  throw new Error(
    `PostgreSQL server binaries (initdb, pg_ctl, pg_isready, postgres) not found in ${candidates.join(', ')}: ` +
      'the PostgreSQL tests need a real server (apt-get install -y postgresql, or set ANXIN_PG_BIN)',
  );
}

function defaultBinDirs(): string[] {
  const dirs: string[] = [];
  if (process.env.ANXIN_PG_BIN) dirs.push(process.env.ANXIN_PG_BIN);
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) dirs.push(`/usr/lib/postgresql/${v}/bin`);
  } catch {}
  dirs.push(...(process.env.PATH ?? '').split(':').filter(Boolean));
  return dirs;
}

const asRoot = () => process.getuid?.() === 0;

/** The command line that runs `tool` as the unprivileged server user when we are root. */
function serverCommand(bin: string, tool: string, args: string[]): [string, string[]] {
  const path = join(bin, tool);
  return asRoot() ? ['runuser', ['-u', SERVER_USER, '--', path, ...args]] : [path, args];
}

function run(bin: string, tool: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const [command, argv] = serverCommand(bin, tool, args);
  return new Promise((resolve, reject) => {
    // cwd /: the server user may not be allowed into ours.
    execFile(command, argv, { cwd: '/', timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${tool} ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

function serverUserIds(): { uid: number; gid: number } {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === SERVER_USER) return { uid: Number(uid), gid: Number(gid) };
  }
  throw new Error(
    `running as root, PostgreSQL needs the unprivileged user "${SERVER_USER}" (apt-get install postgresql)`,
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Stops a cluster synchronously (the process `exit` path) and removes its directory. */
function stopSync(bin: string, dir: string): void {
  try {
    const [command, argv] = serverCommand(bin, 'pg_ctl', ['stop', '-D', join(dir, 'data'), '-m', 'immediate', '-w']);
    execFileSync(command, argv, { cwd: '/', stdio: 'ignore', timeout: 30_000 });
  } catch {}
  rmSync(dir, { recursive: true, force: true });
}

/** Clusters whose owning test process died without stopping them (SIGKILL, a crash). */
function reapOrphans(bin: string): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter((name) => name.startsWith(DIR_PREFIX));
  } catch {
    return;
  }
  for (const name of entries) {
    const dir = join(tmpdir(), name);
    try {
      if (!statSync(dir).isDirectory()) continue;
      const owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
      if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) stopSync(bin, dir);
    } catch {}
  }
}

/**
 * Stops the cluster in `dir` and removes the directory once this process is gone, however it goes
 * (its end of the pipe closes even on SIGKILL). `disarm()` lets the guardian exit without acting.
 */
function startGuardian(bin: string, dir: string): { disarm(): void } {
  const [command, argv] = serverCommand(bin, 'pg_ctl', ['stop', '-D', join(dir, 'data'), '-m', 'immediate', '-w']);
  const script = `
const { execFileSync } = require('node:child_process');
const { rmSync } = require('node:fs');
const [command, argv, dir] = JSON.parse(process.argv[1]);
let disarmed = false;
process.stdin.on('data', (d) => { if (String(d).includes('disarm')) disarmed = true; });
const cleanup = () => {
  if (disarmed) return process.exit(0);
  try { execFileSync(command, argv, { cwd: '/', stdio: 'ignore', timeout: 30000 }); } catch {}
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
};
process.stdin.on('end', cleanup);
process.stdin.on('error', cleanup);
process.on('SIGTERM', () => {});
`;
  const guardian = spawn(process.execPath, ['-e', script, JSON.stringify([command, argv, dir])], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    cwd: '/',
  });
  guardian.unref();
  (guardian.stdin as unknown as { unref?: () => void }).unref?.();
  guardian.stdin?.on('error', () => undefined);
  return {
    disarm() {
      guardian.stdin?.end('disarm\n');
    },
  };
}

function writeConfig(dataDir: string, port: number, socketDir: string): Promise<void> {
  // Appended last, so these win over initdb's defaults. fsync off: a test cluster never outlives a crash.
  const conf = `
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '${socketDir}'
max_connections = 100
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
log_min_messages = warning
`;
  return writeFile(join(dataDir, 'postgresql.conf'), conf, { flag: 'a' });
}

async function initCluster(bin: string, dir: string, user: string, password: string): Promise<void> {
  const pwfile = join(dir, 'pwfile');
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  await mkdir(join(dir, 'socket'), { mode: 0o700 });
  if (asRoot()) {
    const { uid, gid } = serverUserIds();
    for (const path of [dir, pwfile, join(dir, 'socket')]) await chown(path, uid, gid);
  }
  await run(bin, 'initdb', [
    '-D',
    join(dir, 'data'),
    '-U',
    user,
    `--pwfile=${pwfile}`,
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
    '--no-locale',
    '--no-sync',
  ]);
  await rm(pwfile, { force: true });
}

/** pg_ctl start -w returns once the server accepts connections; false when the port was taken. */
async function startServer(bin: string, dir: string, port: number): Promise<boolean> {
  const data = join(dir, 'data');
  await writeConfig(data, port, join(dir, 'socket'));
  try {
    await run(bin, 'pg_ctl', ['start', '-D', data, '-l', join(dir, 'postgres.log'), '-w', '-t', `${START_TIMEOUT_S}`]);
  } catch (error) {
    const log = readLog(dir);
    if (/could not bind|Address already in use/.test(log)) return false;
    throw new Error(`${(error as Error).message}\nserver log:\n${log}`);
  }
  await run(bin, 'pg_isready', ['-h', '127.0.0.1', '-p', `${port}`, '-t', `${START_TIMEOUT_S}`]);
  return true;
}

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'postgres.log'), 'utf8');
  } catch {
    return '';
  }
}

/**
 * Starts a new cluster (not cached; most suites want `postgresCluster()` or `createTestDatabase()`).
 * Throws when PostgreSQL is not installed.
 */
export async function startPostgres(): Promise<PostgresCluster> {
  const bin = findPostgresBin();
  reapOrphans(bin);
  const dir = await mkdtemp(join(tmpdir(), DIR_PREFIX));
  await writeFile(join(dir, OWNER_FILE), `${process.pid}`);
  const user = 'anxin';
  const password = randomBytes(18).toString('base64url');
  const guardian = startGuardian(bin, dir);
  try {
    await initCluster(bin, dir, user, password);
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      if (await startServer(bin, dir, port)) break;
      if (attempt >= 3) throw new Error(`PostgreSQL could not bind a free port:\n${readLog(dir)}`);
    }
    let stopped: Promise<void> | undefined;
    return {
      host: '127.0.0.1',
      port,
      socketDir: join(dir, 'socket'),
      dir,
      user,
      password,
      url: (database) => `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
      log: () => readLog(dir),
      stop() {
        stopped ??= (async () => {
          await run(bin, 'pg_ctl', ['stop', '-D', join(dir, 'data'), '-m', 'fast', '-w']).catch(() => undefined);
          await rm(dir, { recursive: true, force: true });
          guardian.disarm();
        })();
        return stopped;
      },
    };
  } catch (error) {
    stopSync(bin, dir);
    guardian.disarm();
    throw error;
  }
}

/** The process's cluster, started on first use and stopped when the process exits. */
export function postgresCluster(): Promise<PostgresCluster> {
  const slot = globalThis as unknown as Record<symbol, Promise<PostgresCluster> | undefined>;
  let cluster = slot[GLOBAL_KEY];
  if (!cluster) {
    cluster = startPostgres();
    slot[GLOBAL_KEY] = cluster;
    // A failed start is not cached: the next suite tries again (and reports its own failure).
    cluster.catch(() => {
      if (slot[GLOBAL_KEY] === cluster) slot[GLOBAL_KEY] = undefined;
    });
  }
  return cluster;
}

async function adminQuery(cluster: PostgresCluster, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: cluster.url('postgres') });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database on the process's cluster (`prefix` names it, for reading logs). */
export async function createTestDatabase(prefix = 'test'): Promise<TestDatabase> {
  const cluster = await postgresCluster();
  const name = `${prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_${randomBytes(6).toString('hex')}`;
  await adminQuery(cluster, `CREATE DATABASE "${name}"`);
  let dropped: Promise<void> | undefined;
  return {
    url: cluster.url(name),
    name,
    cluster,
    drop() {
      dropped ??= adminQuery(cluster, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      return dropped;
    },
  };
}
