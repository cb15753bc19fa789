#!/usr/bin/env node
// `npm run release [-- --out DIR] [--node-modules-from DIR]`: the offline release archive of
// docs/install.md — everything a gate or server needs, with no registry at install time:
//   anxin-gate-<version>-linux-<arch>.tar.gz
//     anxin-gate-<version>/  the `npm pack` contents (sources, docs, deploy/ units, LICENSE),
//                            the compiled build in dist/, package-lock.json, and node_modules
//                            with the production dependencies only (native modules built for
//                            this machine's Node ABI and CPU: build the archive on the target's
//                            architecture, x86-64 or ARM64, with the Node major it will run).
// The production dependencies come from `npm ci --omit=dev` (needs the registry, or its cache) or,
// with --node-modules-from, from an installed tree pruned with `npm prune --omit=dev` (offline).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
let values;
try {
  ({ values } = parseArgs({
    options: { out: { type: 'string' }, 'node-modules-from': { type: 'string' }, help: { type: 'boolean' } },
    strict: true,
  }));
} catch (error) {
  console.error(`release: ${error.message}`);
  process.exit(2);
}
if (values.help) {
  console.log('usage: npm run release [-- --out DIR] [--node-modules-from DIR]   (default: ./release)');
  process.exit(0);
}
const out = resolve(values.out ?? join(repo, 'release'));
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const name = `anxin-gate-${pkg.version}`;
const archive = join(out, `${name}-linux-${process.arch}.tar.gz`);

function run(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) {
    console.error(`release: ${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
}

const work = mkdtempSync(join(tmpdir(), 'anxin-release-'));
try {
  // Built into the archive only: a dist/ left in the checkout would go stale there as the sources change.
  const built = join(work, 'dist');
  run(process.execPath, [join(repo, 'bin', 'build.mjs'), '--out', built], repo);
  run('npm', ['pack', '--pack-destination', work, '--silent'], repo);
  const tgz = join(work, `${pkg.name}-${pkg.version}.tgz`);
  run('tar', ['-xzf', tgz, '-C', work], repo);
  const staged = join(work, name);
  renameSync(join(work, 'package'), staged);
  rmSync(join(staged, 'dist'), { recursive: true, force: true });
  renameSync(built, join(staged, 'dist'));
  // npm pack never includes the lock file; `npm ci` on the target (or here) needs it.
  cpSync(join(repo, 'package-lock.json'), join(staged, 'package-lock.json'));
  if (values['node-modules-from']) {
    cpSync(realpathSync(resolve(values['node-modules-from'])), join(staged, 'node_modules'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    run('npm', ['prune', '--omit=dev', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], staged);
    // npm prune keeps dev-only optional packages (a platform binary of a dev tool): the lock file
    // says what is dev-only, so whatever it marks `dev` goes, and the scopes it leaves empty.
    const lock = JSON.parse(readFileSync(join(staged, 'package-lock.json'), 'utf8'));
    for (const [path, entry] of Object.entries(lock.packages ?? {})) {
      if (path.startsWith('node_modules/') && entry.dev) rmSync(join(staged, path), { recursive: true, force: true });
    }
    for (const scope of readdirSync(join(staged, 'node_modules')).filter((n) => n.startsWith('@'))) {
      const dir = join(staged, 'node_modules', scope);
      if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true });
    }
  } else {
    run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], staged);
  }
  mkdirSync(out, { recursive: true });
  run('tar', ['-czf', archive, '-C', work, name], repo);
  console.log(`release: ${archive}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
