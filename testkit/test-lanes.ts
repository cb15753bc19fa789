/**
 * Which lane a test file belongs to, from what it (transitively) imports:
 *
 * - `browser`: drives Chromium (playwright-core);
 * - `integration`: starts or talks to programs outside the test process — socat ptys, Mosquitto,
 *   PostgreSQL, child processes (the `anxin` command, node itself);
 * - `unit`: none of these; the inner loop (`npm run test:unit`).
 *
 * A file's name says its lane (`*.browser.test.ts`, `*.integration.test.ts`, otherwise unit), and
 * `test/lanes.test.ts` checks the names against this classification, so a test that starts
 * socat cannot hide in the unit lane. The scan reads import specifiers with a regex (static and
 * literal dynamic imports, which is all this codebase uses) and follows relative ones into test
 * code (`test/`, `testkit/`).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

export type Lane = 'unit' | 'integration' | 'browser';

const IMPORT = /(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Specifiers (or resolved repo paths) that put a file in a lane. */
const BROWSER_MARKS = [/^playwright-core$/];
// Not the `pg` client library itself: the cloud names its PostgreSQL engine in code every suite
// loads, and a test reaches a PostgreSQL server only through testkit/postgres.ts.
const INTEGRATION_MARKS = [
  /^node:child_process$/,
  /testkit\/socat\.ts$/,
  /testkit\/mosquitto\.ts$/,
  /testkit\/postgres\.ts$/,
  /testing\/socat-pty\.ts$/,
];

export interface LaneVerdict {
  lane: Lane;
  /** What decided it: the first marker found, with the file that imports it. */
  because?: string;
}

export function classifier(root: string): (file: string) => LaneVerdict {
  const memo = new Map<string, LaneVerdict>();
  const visit = (file: string, seen: Set<string>): LaneVerdict => {
    const known = memo.get(file);
    if (known) return known;
    if (seen.has(file)) return { lane: 'unit' };
    seen.add(file);
    const text = readFileSync(join(root, file), 'utf8');
    let verdict: LaneVerdict = { lane: 'unit' };
    for (const m of text.matchAll(IMPORT)) {
      const specifier = m[1] ?? m[2] ?? '';
      if (BROWSER_MARKS.some((p) => p.test(specifier))) {
        verdict = { lane: 'browser', because: `${file} imports ${specifier}` };
        break;
      }
      if (verdict.lane === 'unit' && INTEGRATION_MARKS.some((p) => p.test(specifier))) {
        verdict = { lane: 'integration', because: `${file} imports ${specifier}` };
      }
      if (specifier.startsWith('.')) {
        const target = relative(root, join(root, dirname(file), specifier));
        if (
          existsSync(join(root, target)) &&
          statSync(join(root, target)).isFile() &&
          !target.startsWith('node_modules')
        ) {
          const inner = visit(target, seen);
          if (inner.lane === 'browser') {
            verdict = inner;
            break;
          }
          if (inner.lane === 'integration' && verdict.lane === 'unit') verdict = inner;
        }
      }
    }
    memo.set(file, verdict);
    return verdict;
  };
  return (file) => visit(file, new Set());
}

/** The lane a file's name claims. */
export function laneOfName(file: string): Lane {
  if (file.endsWith('.browser.test.ts')) return 'browser';
  if (file.endsWith('.integration.test.ts')) return 'integration';
  return 'unit';
}

/** Every test file under `test/`, repo-relative. */
export function testFiles(root: string, dir = 'test'): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...testFiles(root, path));
    else if (entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out.sort();
}
