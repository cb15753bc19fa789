/**
 * The pages' browser scripts are plain ES modules with no build step, split one module per part of
 * a page (docs/web.md, "How it is built"): a name left behind by a split — a helper used in one
 * module but declared in another, an import of something the other module does not export — would
 * only fail in the browser, on the path that uses it. TypeScript reads every script as JavaScript
 * (its `.d.ts` companions hidden, so each import resolves to the real module) and reports names
 * that are not declared, not exported, or used before their declaration.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const FOLDERS = ['cloud/web/assets', 'cloud/me/assets', 'edge-agent/terminal/assets'];
/** Cannot find name (2304, 2552), no such export (2305, 2614, 2724), used before declaration (2448, 2449, 2454), duplicate (2300, 2451). */
const CODES = new Set([2300, 2304, 2305, 2448, 2449, 2451, 2454, 2552, 2614, 2724]);

function nameProblems(files: string[]): string[] {
  const options: ts.CompilerOptions = {
    allowJs: true,
    checkJs: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    types: [],
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options);
  const hidden = (f: string) => f.endsWith('.d.ts') && FOLDERS.some((d) => f.startsWith(join(root, d)));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => !hidden(f) && fileExists(f);
  const program = ts.createProgram(files, options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => CODES.has(d.code) && d.file && files.includes(d.file.fileName))
    .map((d) => {
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
      return `${d.file!.fileName.slice(root.length + 1)}:${line + 1} TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
    });
}

// Type-checking ~35 scripts against the DOM's declarations takes 10-15 s alone, longer on a busy machine.
describe('browser scripts', { timeout: 120_000 }, () => {
  const files = FOLDERS.flatMap((dir) =>
    readdirSync(join(root, dir))
      .filter((f) => f.endsWith('.js'))
      .map((f) => join(root, dir, f)),
  );

  it('use only names they declare or import, and import only what is exported', () => {
    expect(files.length).toBeGreaterThan(20);
    expect(nameProblems(files)).toEqual([]);
  });

  it('the check finds a name a split left behind and an import of something not exported', () => {
    const broken = join(root, 'cloud/web/assets/console-common.js');
    const source = ts.sys.readFile(broken)!;
    const readFile = ts.sys.readFile;
    ts.sys.readFile = (f, enc) =>
      f === broken
        ? `${source.replace("$('alarms').children.length", 'alarmsList.children.length')}\nimport { nowhere } from './format.js';\nnowhere();\n`
        : readFile(f, enc);
    try {
      const problems = nameProblems([broken]);
      expect(problems.some((p) => p.includes('TS2304') && p.includes("'alarmsList'"))).toBe(true);
      expect(problems.some((p) => /TS(2305|2724)/.test(p) && p.includes("'nowhere'"))).toBe(true);
    } finally {
      ts.sys.readFile = readFile;
    }
  });
});
