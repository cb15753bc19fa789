#!/usr/bin/env node
/**
 * The folder directions of docs/architecture.md §1, checked rather than hoped (run by `npm run lint`):
 *
 *   shared ← firmware-bridge ← edge-agent;  shared ← broker;  shared ← cloud;  testkit above them;
 *   cli on top (the demo builds its gates with testkit);
 *   test and bench may import what they exercise, and bench never imports test.
 *
 * Inside cloud/, no upward imports (docs/architecture.md §1, cloud extensions): the wiring files
 * at the top of cloud/ (cloud-service.ts, cloud-core.ts, full-cloud.ts, …; cloud-errors.ts is
 * shared) are imported by nothing below them, and the core routes (`cloud/http/routes/`) and the
 * app builder (`cloud/http/app.ts`) only from cloud/http/ itself — a part of the cloud plugs in
 * through `cloud/http/extension.ts`;
 *
 * and no import cycle anywhere, type-only imports included (a type cycle still couples two files'
 * reasons to change). Imports are read with a regex over `import`/`export … from` and `import()`
 * with a literal specifier, which is all this codebase uses; relative specifiers are resolved to
 * files, packages and `node:` modules are ignored. Prints one `file: problem` line per violation and
 * exits 1, or prints a one-line summary and exits 0.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const root = join(dirname(new URL(import.meta.url).pathname), '..');

/** Which top-level folders each folder may import from (itself always included). */
const ALLOWED = {
  shared: [],
  'firmware-bridge': ['shared'],
  'edge-agent': ['shared', 'firmware-bridge'],
  broker: ['shared'],
  cloud: ['shared'],
  cli: ['shared', 'firmware-bridge', 'edge-agent', 'broker', 'cloud', 'testkit'],
  bench: ['shared', 'firmware-bridge', 'edge-agent', 'broker', 'cloud', 'cli', 'testkit'],
  testkit: ['shared', 'firmware-bridge', 'edge-agent', 'broker', 'cloud'],
  test: ['shared', 'firmware-bridge', 'edge-agent', 'broker', 'cloud', 'cli', 'bench', 'testkit'],
  bin: ['cli'],
};

const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
  cwd: root,
  encoding: 'utf8',
})
  .split('\n')
  .filter((f) => /\.(ts|mts|mjs|js)$/.test(f) && !f.endsWith('.d.ts') && existsSync(join(root, f)));

const importPattern =
  /(?:^|[^\w.])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;

function resolveImport(from, specifier) {
  if (!specifier.startsWith('.')) return null;
  const base = normalize(join(dirname(from), specifier));
  for (const candidate of [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')]) {
    if (existsSync(join(root, candidate)) && files.includes(candidate)) return candidate;
  }
  return base;
}

const top = (file) => file.split('/')[0];

/** Files at the top of cloud/ every part may use; every other one there is wiring. */
const CLOUD_SHARED = new Set(['cloud/cloud-errors.ts']);
/** Why `file` (in cloud/) may not import `target`, or null. */
function cloudUpward(file, target) {
  if (!file.startsWith('cloud/') || !target.startsWith('cloud/')) return null;
  if (file.split('/').length === 2) return null;
  if (target.split('/').length === 2 && !CLOUD_SHARED.has(target)) return 'the wiring';
  const inHttp = file.startsWith('cloud/http/');
  if (!inHttp && target.startsWith('cloud/http/routes/')) return 'the core routes';
  if (!inHttp && target === 'cloud/http/app.ts') return 'the app builder';
  return null;
}
const graph = new Map();
const problems = [];

for (const file of files) {
  const text = readFileSync(join(root, file), 'utf8');
  const targets = new Set();
  for (const m of text.matchAll(importPattern)) {
    const specifier = m[1] ?? m[2] ?? m[3];
    const target = resolveImport(file, specifier);
    if (target === null) continue;
    if (!files.includes(target)) {
      problems.push(`${file}: imports ${specifier}, which is not a file of the repository`);
      continue;
    }
    targets.add(target);
    const upward = cloudUpward(file, target);
    if (upward) problems.push(`${file}: imports ${upward} (${target}); plug in through cloud/http/extension.ts`);
    const [source, dest] = [top(file), top(target)];
    const allowed = ALLOWED[source];
    if (allowed && source !== dest && !allowed.includes(dest)) {
      problems.push(`${file}: ${source}/ may not import ${dest}/ (${relative(root, join(root, target))})`);
    }
  }
  graph.set(file, targets);
}

// Tarjan's strongly connected components: every component of more than one file is a cycle.
let index = 0;
const stack = [];
const state = new Map();
function connect(v) {
  state.set(v, { index, low: index, onStack: true });
  index += 1;
  stack.push(v);
  for (const w of graph.get(v) ?? []) {
    if (!state.has(w)) {
      connect(w);
      state.get(v).low = Math.min(state.get(v).low, state.get(w).low);
    } else if (state.get(w).onStack) {
      state.get(v).low = Math.min(state.get(v).low, state.get(w).index);
    }
  }
  if (state.get(v).low === state.get(v).index) {
    const component = [];
    let w;
    do {
      w = stack.pop();
      state.get(w).onStack = false;
      component.push(w);
    } while (w !== v);
    if (component.length > 1) problems.push(`import cycle: ${component.sort().join(' ↔ ')}`);
  }
}
for (const v of graph.keys()) if (!state.has(v)) connect(v);

if (problems.length > 0) {
  for (const p of problems) console.error(p);
  console.error(`check-layers: ${problems.length} problem(s); the rules are in docs/architecture.md §1`);
  process.exit(1);
}
console.log(`check-layers: ${files.length} files, folder directions and no cycles: ok`);
