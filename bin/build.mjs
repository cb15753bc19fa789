#!/usr/bin/env node
// `npm run build [-- --out DIR]`: compiles the runtime sources (shared, edge-agent, broker, cloud,
// firmware-bridge, cli) to JavaScript with tsc and tsconfig.build.json — one .js per .ts, the same
// folder layout, relative `.ts` imports rewritten to `.js` — so that `bin/anxin.mjs` runs them
// with plain Node: no tsx loader thread, no esbuild service, no transpiling at start-up.
// tsc rather than an esbuild bundle: the output is type-checked, and the 1:1 layout keeps the
// paths that modules resolve from their own `import.meta.url` (the web assets, the package
// version, the sub-commands) valid without a bundler's rewriting.
// Besides the JavaScript: the web page assets (served from beside cloud/web/web-routes.js), the
// gate's WAL checkpoint worker (a .cjs file loaded by path), a
// package.json (the version the gate reports; "type": "module") and build-info.json (when, from
// what), by which bin/anxin.mjs tells a stale dist/ from a current one.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
let values;
try {
  ({ values } = parseArgs({ options: { out: { type: 'string' }, help: { type: 'boolean' } }, strict: true }));
} catch (error) {
  console.error(`build: ${error.message}`);
  process.exit(2);
}
if (values.help) {
  console.log('usage: npm run build [-- --out DIR]   (default: dist/ beside bin/)');
  process.exit(0);
}
const out = resolve(values.out ?? join(repo, 'dist'));
const startedAt = Date.now();

rmSync(out, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', join(repo, 'tsconfig.build.json'), '--outDir', out], {
  cwd: repo,
  stdio: 'inherit',
});
if (compiled.status !== 0) {
  rmSync(out, { recursive: true, force: true });
  console.error(`build: tsc failed (exit ${compiled.status ?? compiled.signal}); nothing written`);
  process.exit(1);
}
cpSync(join(repo, 'cloud', 'web', 'assets'), join(out, 'cloud', 'web', 'assets'), {
  recursive: true,
  filter: (source) => !source.endsWith('.d.ts'),
});
// The gate terminal's page assets, read from beside edge-agent/terminal/terminal-app.js.
cpSync(join(repo, 'edge-agent', 'terminal', 'assets'), join(out, 'edge-agent', 'terminal', 'assets'), {
  recursive: true,
});
// The WAL checkpoint worker is loaded by path (edge-agent/wal-checkpointer.ts), not compiled.
cpSync(join(repo, 'edge-agent', 'wal-checkpoint-worker.cjs'), join(out, 'edge-agent', 'wal-checkpoint-worker.cjs'));
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, 'package.json'),
  `${JSON.stringify({ name: `${pkg.name}-dist`, version: pkg.version, private: true, type: 'module' }, null, 2)}\n`,
);
writeFileSync(
  join(out, 'build-info.json'),
  `${JSON.stringify({ version: pkg.version, builtAt: new Date(startedAt).toISOString(), node: process.version }, null, 2)}\n`,
);
console.log(`build: ${out} in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
