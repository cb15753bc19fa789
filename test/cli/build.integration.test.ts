/**
 * The production build (`npm run build`, bin/build.mjs) and the launcher's choice between it and
 * the sources (bin/anxin.mjs). The build goes to a temporary package root — bin/anxin.mjs, dist/
 * and a link to node_modules, no TypeScript sources — so that whatever runs there can only be the
 * compiled code, and parallel test runs never race on the repository's own dist/.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../cli/main.ts';
import { parseKeysFile } from '../../shared/keys.ts';
import { WEB_ASSETS } from '../../cloud/web/web-routes.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** tsc over the whole tree: ~30 s on a quiet machine, past 180 s with the machine loaded 28 deep. */
const BUILD_TIMEOUT_MS = 600_000;

/** A package root with package.json, bin/anxin.mjs and node_modules from the repository. */
function packageRoot(prefix: string): string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  copyFileSync(join(REPO, 'package.json'), join(root, 'package.json'));
  mkdirSync(join(root, 'bin'));
  copyFileSync(join(REPO, 'bin', 'anxin.mjs'), join(root, 'bin', 'anxin.mjs'));
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'), 'dir');
  return root;
}

/** Unlinks the node_modules link first: only the temporary tree is removed, never what it points at. */
function removeRoot(root: string): void {
  rmSync(join(root, 'node_modules'), { force: true });
  // Retried: a build cut off by its timeout leaves tsc writing for a moment (ENOTEMPTY).
  rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
}

function anxin(root: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const run = spawnSync(process.execPath, [join(root, 'bin', 'anxin.mjs'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ANXIN_FROM_SOURCE: '', ...env },
    timeout: 60_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

describe('npm run build → dist/, run by bin/anxin.mjs', () => {
  let root: string;

  beforeAll(() => {
    root = packageRoot('anxin-build-');
    const build = spawnSync(process.execPath, [join(REPO, 'bin', 'build.mjs'), '--out', join(root, 'dist')], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: BUILD_TIMEOUT_MS,
    });
    expect(build.status, `${build.stdout}\n${build.stderr}`).toBe(0);
  }, BUILD_TIMEOUT_MS);

  afterAll(() => removeRoot(root));

  it('compiles every runtime module to JavaScript, with no TypeScript left to load', () => {
    const files = filesUnder(join(root, 'dist'));
    expect(files).toContain(join('cli', 'main.js'));
    expect(files).toContain(join('edge-agent', 'edge-agent.js'));
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
    // Relative imports point at the compiled files.
    const main = readFileSync(join(root, 'dist', 'edge-agent', 'edge-agent.js'), 'utf8');
    expect(main).not.toMatch(/from ['"]\.{1,2}\/[^'"]*\.ts['"]/);
    expect(main).toMatch(/from ['"]\.\/cloud-readiness\.js['"]/);
    // The WAL checkpoint worker is loaded by path, so it is carried as is.
    expect(files).toContain(join('edge-agent', 'wal-checkpoint-worker.cjs'));
    // And the gate terminal's page scripts, read from beside its compiled app.
    expect(files).toContain(join('edge-agent', 'terminal', 'assets', 'guard.js'));
  });

  it('carries the web assets, the package version and the build time', () => {
    for (const asset of WEB_ASSETS) expect(existsSync(join(root, 'dist', 'cloud', 'web', 'assets', asset))).toBe(true);
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    const distPkg = JSON.parse(readFileSync(join(root, 'dist', 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(distPkg).toMatchObject({ version: pkg.version, type: 'module' });
    const info = JSON.parse(readFileSync(join(root, 'dist', 'build-info.json'), 'utf8')) as { builtAt: string };
    expect(Number.isFinite(Date.parse(info.builtAt))).toBe(true);
  });

  it('anxin --help runs from dist/', () => {
    const run = anxin(root, ['--help']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^Usage: anxin <command>/);
    for (const name of Object.keys(COMMANDS)) expect(run.stdout).toContain(name);
  });

  // Each sub-command module, and so its whole import graph, loads from the compiled code.
  it.each(Object.keys(COMMANDS))('anxin %s --help runs from dist/', (name) => {
    const run = anxin(root, [name, '--help']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Usage: anxin /);
    expect(run.stderr).toBe('');
  });

  it('the delegated simulators load from dist/ too', () => {
    for (const kind of ['idreader', 'turnstile']) {
      const run = anxin(root, ['sim', kind, '--port']);
      expect(run.status).toBe(2);
      expect(run.stderr).not.toMatch(/not available/);
    }
  });

  it('anxin keys init does its work from dist/', () => {
    const out = join(root, 'keys.json');
    const run = anxin(root, ['keys', 'init', '--keys', out]);
    expect(run.status, run.stderr).toBe(0);
    const keys = parseKeysFile(JSON.parse(readFileSync(out, 'utf8')));
    expect(keys.signing).toBeDefined();
  });
});

describe('bin/anxin.mjs chooses the sources when dist/ is absent or stale', () => {
  let root: string;
  // A stand-in for the sources and for a build, each saying which one ran.
  const sourceMain = `export async function main(argv: string[]): Promise<number> {
  process.stdout.write(\`from source \${argv.join(' ')}\\n\`);
  return 0;
}
`;
  const distMain = `export async function main(argv) {
  process.stdout.write(\`from dist \${argv.join(' ')}\\n\`);
  return 0;
}
`;

  beforeAll(() => {
    root = packageRoot('anxin-launcher-');
    mkdirSync(join(root, 'cli'));
    writeFileSync(join(root, 'cli', 'main.ts'), sourceMain);
  });

  afterAll(() => removeRoot(root));

  it('runs the sources through tsx without a dist/', () => {
    const run = anxin(root, ['x']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe('from source x\n');
  });

  it('runs dist/ when it is newer than every source, and the sources (with a warning) once one changes', () => {
    const builtAt = Date.now();
    mkdirSync(join(root, 'dist', 'cli'), { recursive: true });
    writeFileSync(join(root, 'dist', 'cli', 'main.js'), distMain);
    writeFileSync(join(root, 'dist', 'build-info.json'), JSON.stringify({ builtAt: new Date(builtAt).toISOString() }));
    const past = new Date(builtAt - 60_000);
    utimesSync(join(root, 'cli', 'main.ts'), past, past);
    const current = anxin(root, ['y']);
    expect(current.stdout).toBe('from dist y\n');
    expect(current.stderr).toBe('');

    const forced = anxin(root, ['y'], { ANXIN_FROM_SOURCE: '1' });
    expect(forced.stdout).toBe('from source y\n');

    const future = new Date(builtAt + 60_000);
    utimesSync(join(root, 'cli', 'main.ts'), future, future);
    const stale = anxin(root, ['z']);
    expect(stale.stdout).toBe('from source z\n');
    expect(stale.stderr).toMatch(/dist\/ is older than the sources/);
  });
});
