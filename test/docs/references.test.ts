/**
 * Every reference a reader may follow must lead somewhere inside the repository: a comment or a
 * doc that cites `docs/devices.md §5`, `docs/architecture.md rule 2`, `docs/tracing.md, "Contacts"`
 * or links `[hardware.md](hardware.md#wiring)` names a file, a section, a rule or a heading that
 * exists in this clone. Design documents kept outside the repository, and issue numbers of a
 * tracker a clone does not carry, are not references a reader can look up, so they are refused.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
/** Folders that are not the repository's own text (ignored by git, or third-party). */
const SKIPPED = new Set(['node_modules', 'dist', 'data', '.git', '.bench-tmp', 'test-results', 'screenshots']);

function sourceFiles(dir = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    if (SKIPPED.has(entry.name)) continue;
    const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mjs|js|md)$/.test(entry.name)) out.push(path);
  }
  return out;
}

const tracked = sourceFiles();
const texts = new Map(tracked.map((f) => [f, readFileSync(join(root, f), 'utf8')]));

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-');
}

function headings(file: string, boldLeads = false): string[] {
  const text = texts.get(file) ?? readFileSync(join(root, file), 'utf8');
  const out: string[] = [];
  let fenced = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    else if (!fenced && /^#{1,6} /.test(line)) out.push(line.replace(/^#+ /, '').trim());
    // A paragraph's bold lead (`**Sessions** (…)`) is a section a reader can find too.
    else if (boldLeads && !fenced && /^\*\*[^*]+\*\*/.test(line))
      out.push(/^\*\*([^*]+)\*\*/.exec(line)?.[1]?.trim() ?? '');
  }
  return out;
}

/** The numbered sections of a page: `## 5. OSDP …` and `### 5.2 …` give "5" and "5.2". */
function sectionNumbers(file: string): Set<string> {
  return new Set(
    headings(file)
      .map((h) => /^(\d+(?:\.\d+)*)\.?\s/.exec(h)?.[1])
      .filter((n): n is string => n !== undefined),
  );
}

function ruleCount(): number {
  const text = texts.get('docs/architecture.md') ?? '';
  const section = text.split(/^## /m).find((s) => /^\d+\. The five rules/.test(s)) ?? '';
  return [...section.matchAll(/^(\d+)\. \*\*/gm)].length;
}

interface Finding {
  file: string;
  line: number;
  problem: string;
}

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

/** Resolves a doc name as written in `file` (repo-relative `docs/x.md`, or relative inside docs/). */
function resolveDoc(file: string, target: string): string {
  if (target.startsWith('docs/') || target === 'README.md' || target === 'BENCHMARKS.md') return target;
  return normalize(join(dirname(file), target));
}

function findProblems(): Finding[] {
  const findings: Finding[] = [];
  const rules = ruleCount();
  for (const [file, text] of texts) {
    if (file === 'test/docs/references.test.ts') continue;
    const add = (index: number, problem: string) => findings.push({ file, line: lineOf(text, index), problem });

    for (const m of text.matchAll(/\b(ARCHITECTURE|CONTRACT|DEVICES|STYLE)\.md\b/g)) {
      add(m.index, `${m[0]} is not in the repository: cite docs/${m[1]?.toLowerCase()}.md`);
    }
    for (const m of text.matchAll(/\bissues? #\d+/gi)) {
      add(m.index, `"${m[0]}" names a tracker a clone does not have: say what it refers to`);
    }
    for (const m of text.matchAll(/\.\.\/shared\/(design|reference)\//g)) {
      add(m.index, `${m[0]} is outside the repository`);
    }

    // docs/x.md, plain or followed by §N, rule N or a quoted section title.
    const cited = /(?<![\w/.-])((?:docs\/)?[\w-]+\.md)\)?(?:,? (§(\d+(?:\.\d+)*)|rule (\d+)|"([^"\n]+)"))?/g;
    for (const m of text.matchAll(cited)) {
      const name = m[1] ?? '';
      if (!file.startsWith('docs/') && !name.startsWith('docs/') && !['README.md', 'BENCHMARKS.md'].includes(name))
        continue;
      if (/^(CHANGELOG|LICENSE)\.md$/.test(name)) continue;
      const doc = resolveDoc(file, name);
      if (!existsSync(join(root, doc))) {
        add(m.index, `${name} does not exist (${doc})`);
        continue;
      }
      if (m[3] && !sectionNumbers(doc).has(m[3])) add(m.index, `${doc} has no section §${m[3]}`);
      if (m[4] && (doc !== 'docs/architecture.md' || Number(m[4]) < 1 || Number(m[4]) > rules))
        add(m.index, `${doc} has no rule ${m[4]}`);
      if (m[5] && !doc.endsWith('README.md')) {
        const wanted = m[5].toLowerCase();
        const found = headings(doc, true).some((h) =>
          h
            .toLowerCase()
            .replace(/^\d+(\.\d+)*\.?\s+/, '')
            .startsWith(wanted),
        );
        if (!found && /^[A-Z]/.test(m[5])) add(m.index, `${doc} has no heading "${m[5]}"`);
      }
    }

    // Bare §N inside docs/devices.md refers to that page.
    if (file === 'docs/devices.md') {
      const own = sectionNumbers(file);
      for (const m of text.matchAll(/§(\d+(?:\.\d+)*)/g)) {
        if (!own.has(m[1] ?? '')) add(m.index, `§${m[1]} is not a section of this page`);
      }
    }

    // Markdown links between repository files, with their anchors.
    if (file.endsWith('.md')) {
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const href = m[1] ?? '';
        if (/^[a-z]+:/.test(href) || href.startsWith('/')) continue;
        const [path = '', anchor] = href.split('#');
        const target = path === '' ? file : normalize(join(dirname(file), path));
        if (!existsSync(join(root, target))) {
          add(m.index, `link to ${href}: ${target} does not exist`);
          continue;
        }
        if (anchor && target.endsWith('.md') && !headings(target).some((h) => slug(h) === anchor)) {
          add(m.index, `link to ${href}: ${target} has no heading #${anchor}`);
        }
      }
    }
  }
  return findings;
}

describe('references inside the repository', () => {
  it('the design documents exist: architecture, contract, devices', () => {
    for (const doc of ['docs/architecture.md', 'docs/contract.md', 'docs/devices.md']) {
      expect(existsSync(join(root, doc)), doc).toBe(true);
    }
    expect(ruleCount()).toBe(5);
    expect([...sectionNumbers('docs/devices.md')]).toEqual(
      expect.arrayContaining(['1', '2', '3', '4', '5', '6', '7', '8']),
    );
  });

  it('every cited document, section, rule, heading and link exists', () => {
    const problems = findProblems().map((f) => `${f.file}:${f.line}: ${f.problem}`);
    expect(problems).toEqual([]);
  });

  it('the checker itself catches a dangling reference', () => {
    texts.set(
      'test/docs/__probe__.ts',
      [
        '// docs/devices.md §42',
        '// docs/architecture.md rule 9',
        '// DEVICES.md §1',
        '// docs/nowhere.md',
        `// issue ${'#'}7`,
      ].join('\n'),
    );
    try {
      const probe = findProblems().filter((f) => f.file === 'test/docs/__probe__.ts');
      expect(probe.map((f) => f.line).sort()).toEqual([1, 2, 3, 4, 5]);
    } finally {
      texts.delete('test/docs/__probe__.ts');
    }
  });
});
