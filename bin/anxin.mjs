#!/usr/bin/env node
// Entry point of the `anxin` command. It runs the compiled JavaScript in dist/ (`npm run build`)
// when that is present and current, and otherwise the TypeScript sources through tsx (a fresh
// clone, development). dist/ counts as stale when any source file beside it is newer than the
// build: a forgotten rebuild never runs yesterday's code; the sources then run, with a warning.
// ANXIN_FROM_SOURCE=1 always runs the sources.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_DIRS = ['shared', 'edge-agent', 'broker', 'cloud', 'firmware-bridge', 'cli'];

/** The newest modification time (ms) of the runtime sources, or 0 when there are none (an installed build). */
function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const dir of SOURCE_DIRS) walk(join(root, dir));
  return newest;
}

/** dist/'s main module when it should run, else undefined (with the reason on stderr when it is stale). */
function compiledMain() {
  if (process.env.ANXIN_FROM_SOURCE === '1') return undefined;
  const main = join(root, 'dist', 'cli', 'main.js');
  if (!existsSync(main)) return undefined;
  let builtAt = 0;
  try {
    builtAt = Date.parse(JSON.parse(readFileSync(join(root, 'dist', 'build-info.json'), 'utf8')).builtAt);
  } catch {
    // No build-info.json: an incomplete build. The sources it came from are the safer choice.
  }
  if (Number.isFinite(builtAt) && builtAt > 0 && newestSource() <= builtAt) return main;
  if (existsSync(join(root, 'cli', 'main.ts'))) {
    process.stderr.write('anxin: dist/ is older than the sources; running the sources (npm run build refreshes it)\n');
    return undefined;
  }
  return main;
}

const compiled = compiledMain();
let main;
if (compiled) {
  ({ main } = await import(pathToFileURL(compiled).href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
