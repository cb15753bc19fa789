/**
 * The production install of docs/install.md, end to end on this machine:
 * - the systemd units in deploy/systemd pass `systemd-analyze verify` with no complaint (a machine
 *   without systemd-analyze fails this suite: `apt-get install systemd`, as .ci/run does);
 * - `npm run release` builds the offline archive (compiled build, production dependencies only);
 * - the archive is unpacked into a clean folder laid out as /opt, /etc and /var/lib, provisioned
 *   with the documented commands, and broker, cloud and a gate are started from the units'
 *   ExecStart lines (the paths rooted in the folder, the ports free ones) — no file of the
 *   checkout is used — until the cloud lists the gate online with its version.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const UNITS = join(REPO, 'deploy', 'systemd');
const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };

let work: string;
const children: ChildProcess[] = [];

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

/** A unit's ExecStart, WorkingDirectory and Environment, as systemd would read them. */
function unit(file: string): { exec: string[]; cwd: string; env: Record<string, string> } {
  const text = readFileSync(join(UNITS, file), 'utf8');
  const value = (key: string) => [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);
  const env: Record<string, string> = {};
  for (const line of value('Environment')) {
    for (const pair of line.split(/\s+/)) {
      const [k, v] = pair.split('=') as [string, string];
      env[k] = v;
    }
  }
  return { exec: value('ExecStart')[0]!.split(/\s+/), cwd: value('WorkingDirectory')[0]!, env };
}

describe('systemd units', () => {
  it('pass systemd-analyze verify without a single complaint', () => {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (probe.error) {
      throw new Error('systemd-analyze is not installed; this suite needs it (apt-get install -y systemd)');
    }
    const dir = mkdtempSync(join(tmpdir(), 'anxin-units-'));
    try {
      const files = readdirSync(UNITS).filter((f) => f.endsWith('.service'));
      expect(files.sort()).toEqual(['anxin-broker.service', 'anxin-cloud.service', 'anxin-edge@.service']);
      const paths = files.map((f) => {
        // A template is verified as an instance, the way it runs.
        const target = join(dir, f.replace('@.service', '@north-1.service'));
        copyFileSync(join(UNITS, f), target);
        return target;
      });
      const result = spawnSync('systemd-analyze', ['verify', ...paths], { cwd: dir, encoding: 'utf8' });
      expect({ status: result.status, out: `${result.stdout}${result.stderr}`.trim() }).toEqual({ status: 0, out: '' });
      for (const f of files) {
        const text = readFileSync(join(UNITS, f), 'utf8');
        for (const hardening of [
          'NoNewPrivileges=yes',
          'ProtectSystem=strict',
          'StateDirectory=anxin',
          // Data folders 0700 (docs/security.md, "Files and secrets").
          'StateDirectoryMode=0700',
          'User=anxin',
        ]) {
          expect(text, `${f}: ${hardening}`).toContain(hardening);
        }
        expect(text, `${f}: no ANXIN_DATA_DIR overriding gate.json`).not.toMatch(/^Environment=.*ANXIN_DATA_DIR/m);
      }
      expect(readFileSync(join(UNITS, 'anxin-cloud.service'), 'utf8')).toMatch(/^After=.*anxin-broker\.service/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('offline install from the release archive into a clean folder', () => {
  let root: string;
  let current: string;
  const outputs = new Map<string, () => string>();

  /** Rewrites a unit's absolute paths into the clean folder. */
  const rooted = (arg: string, ports: Record<string, string>) =>
    (ports[arg] ?? arg)
      .replace('/usr/bin/node', process.execPath)
      .replace('/opt/anxin-gate/current', current)
      .replace('/etc/anxin', join(root, 'etc/anxin'))
      .replace('/var/lib/anxin', join(root, 'var/lib/anxin'))
      .replace('%i', 'north-1')
      .replace('mqtt://127.0.0.1:1883', `mqtt://127.0.0.1:${ports['1883']}`);

  function start(name: string, file: string, ports: Record<string, string>): ChildProcess {
    const u = unit(file);
    const [command, ...args] = u.exec.map((a) => rooted(a, ports));
    const child = spawn(command!, args, {
      cwd: rooted(u.cwd, ports),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...u.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (c) => (output += String(c)));
    child.stderr!.on('data', (c) => (output += String(c)));
    outputs.set(name, () => output);
    children.push(child);
    return child;
  }

  /** An installed `anxin` command, as an operator runs it. */
  function anxin(args: string[]): string {
    const result = spawnSync(process.execPath, [join(current, 'bin/anxin.mjs'), ...args], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (result.status !== 0) throw new Error(`anxin ${args.join(' ')}: exit ${result.status}\n${result.stderr}`);
    return result.stdout;
  }

  async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) {
        throw new Error(`timed out: ${what}\n${[...outputs].map(([n, o]) => `--- ${n}\n${o()}`).join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'anxin-install-'));
    const release = spawnSync(
      process.execPath,
      [join(REPO, 'bin/release.mjs'), '--out', join(work, 'dist'), '--node-modules-from', join(REPO, 'node_modules')],
      { cwd: REPO, encoding: 'utf8', timeout: 280_000 },
    );
    expect(release.status, `${release.stdout}\n${release.stderr}`).toBe(0);
    // The clean folder: nothing of the checkout, only the archive unpacked as docs/install.md says.
    root = join(work, 'root');
    const releases = join(root, 'opt/anxin-gate/releases');
    mkdirSync(releases, { recursive: true });
    mkdirSync(join(root, 'etc/anxin'), { recursive: true });
    mkdirSync(join(root, 'var/lib/anxin'), { recursive: true });
    const archive = join(work, 'dist', `anxin-gate-${version}-linux-${process.arch}.tar.gz`);
    expect(spawnSync('tar', ['-xzf', archive, '-C', releases]).status).toBe(0);
    symlinkSync(join(releases, `anxin-gate-${version}`), join(root, 'opt/anxin-gate/current'));
    current = join(root, 'opt/anxin-gate/current');
  }, 300_000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map((c) => (c.exitCode === null ? new Promise((resolve) => c.once('exit', resolve)) : undefined)),
    );
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('holds the compiled build, production dependencies only, the units, LICENSE and CHANGELOG', () => {
    for (const path of [
      'dist/cli/main.js',
      'dist/build-info.json',
      'deploy/systemd/anxin-cloud.service',
      'LICENSE',
      'CHANGELOG.md',
      'package-lock.json',
    ]) {
      expect(statSync(join(current, path)).isFile(), path).toBe(true);
    }
    const modules = readdirSync(join(current, 'node_modules'));
    expect(modules).toEqual(expect.arrayContaining(['better-sqlite3', 'aedes', 'hono', 'mqtt', 'serialport']));
    for (const dev of ['vitest', 'typescript', '@biomejs', 'playwright-core', 'fast-check'])
      expect(modules).not.toContain(dev);
    expect(anxin(['--version'])).toBe(`anxin ${version} (contract v1, node ${process.versions.node})\n`);
  });

  it('starts broker, cloud and a gate from the units’ commands; the cloud sees the gate online', async () => {
    const etc = join(root, 'etc/anxin');
    const ports = { '1883': String(await freePort()), '8080': String(await freePort()) };
    // Provisioning, as docs/install.md lists it.
    anxin(['keys', 'init', '--keys', join(etc, 'keys.json')]);
    anxin(['keys', 'public', '--keys', join(etc, 'keys.json'), '--out', join(etc, 'keys.public.json')]);
    expect(statSync(join(etc, 'keys.json')).mode & 0o777).toBe(0o600);
    const db = join(root, 'var/lib/anxin/cloud.db');
    anxin(['user', 'add', '--db', db, '--username', 'admin', '--role', 'admin', '--password', 'install-test-pw']);

    start('broker', 'anxin-broker.service', ports);
    start('cloud', 'anxin-cloud.service', ports);
    const cloudUrl = `http://127.0.0.1:${ports['8080']}`;
    const login = await until('the cloud answering', async () => {
      try {
        const res = await fetch(`${cloudUrl}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'admin', password: 'install-test-pw' }),
        });
        return res.ok ? ((await res.json()) as { token: string }) : undefined;
      } catch {
        return undefined;
      }
    });
    const created = await fetch(`${cloudUrl}/api/v1/compounds`, {
      method: 'POST',
      headers: { authorization: `Bearer ${login.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'sunny-garden', name: 'Sunny Garden', timeZone: 'Asia/Shanghai' }),
    });
    expect(created.status).toBe(201);

    const gateJson = join(etc, 'north-1.json');
    anxin([
      ...['gate', 'add', '--compound', 'sunny-garden', '--id', 'north-1', '--keys', join(etc, 'keys.json')],
      ...['--db', db, '--mqtt', `mqtt://127.0.0.1:${ports['1883']}`, '--data-dir', join(root, 'var/lib/anxin/north-1')],
      ...['--qr', join(root, 'no-scanner-here'), '--out', gateJson],
    ]);
    expect(statSync(gateJson).mode & 0o777).toBe(0o600);
    // The terminal on a free port instead of 8090 (another suite may hold it).
    const config = JSON.parse(readFileSync(gateJson, 'utf8'));
    writeFileSync(gateJson, JSON.stringify({ ...config, http: { ...config.http, port: 0 } }), { mode: 0o600 });
    start('gate', 'anxin-edge@.service', ports);

    const listed = await until('the gate online in anxin gate list', () => {
      const out = anxin(['gate', 'list', '--db', db]);
      return out.includes(`online v${version}`) ? out : undefined;
    });
    expect(listed).toMatch(/^north-1\s+sunny-garden\s+north-1\s+online v/m);
    for (const [name, output] of outputs) {
      // The compiled build ran, not the sources through a loader.
      expect(output(), name).not.toContain('dist/ is older than the sources');
    }
  }, 180_000);
});
