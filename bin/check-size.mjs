#!/usr/bin/env node
/**
 * Small rooms, checked rather than hoped (run by `npm run lint`; docs/architecture.md §1): no
 * source file outside `test/` over 500 lines, no function (declaration, method, accessor,
 * constructor, function expression or arrow) over 80 lines, counted from its first line to its
 * last with the TypeScript parser.
 *
 * `ALLOWED` lists what is over the limit today and not yet split, each at its current size: an
 * entry may only shrink (a file or function that grows past its entry fails), and an entry that is
 * no longer needed fails too, so the list is deleted line by line as the code is split.
 * Prints one line per problem and exits 1, or a one-line summary and exits 0.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';

const root = join(dirname(new URL(import.meta.url).pathname), '..');
const MAX_FILE_LINES = 500;
const MAX_FUNCTION_LINES = 80;

/**
 * Not yet split: `file` → its lines, `file#function` → the function's lines (anonymous functions
 * are named after the variable or property they are assigned to, else `(anonymous)`).
 */
const ALLOWED = {};

const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
  cwd: root,
  encoding: 'utf8',
})
  .split('\n')
  .filter(
    (f) => /\.(ts|mts|mjs|js)$/.test(f) && !f.endsWith('.d.ts') && !f.startsWith('test/') && existsSync(join(root, f)),
  );

function nameOf(node, source) {
  if (node.name) return node.name.getText(source);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (
    parent &&
    (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))
  ) {
    return parent.name.getText(source);
  }
  return '(anonymous)';
}

/** The longest function of each name in a file, over the limit. */
function longFunctions(file, text) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found = new Map();
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      const key = `${file}#${nameOf(node, source)}`;
      if (lines > MAX_FUNCTION_LINES && lines > (found.get(key)?.lines ?? 0))
        found.set(key, { lines, line: first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const problems = [];
const used = new Set();
function over(key, lines, limit, what, where) {
  const allowed = ALLOWED[key];
  if (allowed !== undefined) used.add(key);
  if (allowed === undefined) problems.push(`${where}: ${what} has ${lines} lines (at most ${limit})`);
  else if (lines > allowed) problems.push(`${where}: ${what} grew to ${lines} lines (allowed ${allowed} until split)`);
}

for (const file of files) {
  const text = readFileSync(join(root, file), 'utf8');
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  if (lines > MAX_FILE_LINES) over(file, lines, MAX_FILE_LINES, 'the file', file);
  for (const [key, fn] of longFunctions(file, text)) {
    over(key, fn.lines, MAX_FUNCTION_LINES, `function ${key.split('#')[1]}`, `${file}:${fn.line}`);
  }
}
for (const key of Object.keys(ALLOWED)) {
  if (!used.has(key))
    problems.push(`${key}: within the limits now — delete its entry from ALLOWED in bin/check-size.mjs`);
}

if (problems.length > 0) {
  for (const p of problems) console.error(p);
  console.error(
    `check-size: ${problems.length} problem(s); files ≤ ${MAX_FILE_LINES} lines, functions ≤ ${MAX_FUNCTION_LINES} (docs/architecture.md §1)`,
  );
  process.exit(1);
}
console.log(
  `check-size: ${files.length} files, none over ${MAX_FILE_LINES} lines, no function over ${MAX_FUNCTION_LINES} (${Object.keys(ALLOWED).length} allowed until split)`,
);
