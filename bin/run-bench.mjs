#!/usr/bin/env node
// Runs the benchmarks under bench/ one after another, each in its own process (so one's memory,
// ports and children never skew the next), then prints every figure beside its target and ratio.
// `npm run bench -- [--quick] [--only decision,ingest] [--rows 10m] [--write-md]`
// --write-md replaces the generated section of BENCHMARKS.md with this run's results.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Cheap ones first; contacts then stats share the generated passage data set (--cache-dir). */
const BENCHES = [
  'decision',
  'supply-swipe',
  'scan-unlock',
  'osdp-secure',
  'e2e-latency',
  'sync',
  'ingest',
  'contacts',
  'stats',
];

let values;
try {
  ({ values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      rows: { type: 'string' },
      'write-md': { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  }));
} catch (error) {
  console.error(`run-bench: ${error.message}`);
  process.exit(2);
}
if (values.help) {
  console.log(`usage: npm run bench -- [--quick] [--only ${BENCHES.join(',')}] [--rows N] [--write-md] [--no-build]`);
  process.exit(0);
}
const selected = values.only ? values.only.split(',') : BENCHES;
const unknown = selected.filter((b) => !BENCHES.includes(b));
if (unknown.length > 0) {
  console.error(`run-bench: --only: unknown benchmark ${unknown.join(', ')} (known: ${BENCHES.join(', ')})`);
  process.exit(2);
}

// The processes the benchmarks start (anxin broker, cloud, edge) run what a deployment runs: the
// build in dist/ (bin/anxin.mjs), made fresh here unless --no-build.
if (!values['no-build']) {
  const build = spawnSync(process.execPath, [join(repo, 'bin', 'build.mjs')], { cwd: repo, stdio: 'inherit' });
  if (build.status !== 0) {
    console.error('run-bench: npm run build failed');
    process.exit(1);
  }
}

const work = mkdtempSync(join(os.tmpdir(), 'anxin-bench-run-'));
const cache = join(work, 'cache');
const results = [];
const failed = [];
const startedAt = new Date();
try {
  for (const bench of selected) {
    const json = join(work, `${bench}.json`);
    const args = ['--import', 'tsx', join('bench', `${bench}.ts`), '--json', json];
    if (values.quick) args.push('--quick');
    if (bench === 'contacts' || bench === 'stats') {
      args.push('--cache-dir', cache);
      if (values.rows) args.push('--rows', values.rows);
    }
    console.log(`\n=== ${bench}: node ${args.join(' ')}`);
    const run = spawnSync(process.execPath, args, { cwd: repo, stdio: 'inherit' });
    if (run.status !== 0) {
      failed.push(`${bench} (exit ${run.status ?? run.signal})`);
      continue;
    }
    results.push(JSON.parse(readFileSync(json, 'utf8')));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const fmt = (n) => {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 10_000) return Math.round(n).toLocaleString('en-US');
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toFixed(3);
};
const verdict = (f) => {
  if (f.target === undefined) return '';
  return (f.goal === 'min' ? f.value >= f.target : f.value <= f.target) ? 'met' : '**missed**';
};
const cell = (s) => String(s).replaceAll('|', '\\|');

const lines = [];
const first = results[0]?.machineBefore;
if (first) {
  lines.push(
    `Run ${startedAt.toISOString()} — \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\``,
    '',
    `Machine: ${first.nproc} × ${first.cpuModel}, ${first.ramGiB} GiB RAM, Node ${first.node}.`,
    '',
  );
}
for (const r of results) {
  lines.push(
    `### ${r.bench}${r.quick ? ' (--quick)' : ''}`,
    '',
    `\`${r.command}\` — ${r.durationS.toFixed(0)} s, load average before ${r.machineBefore.loadavg.join(' / ')}, after ${r.machineAfter.loadavg.join(' / ')}`,
    '',
    '| figure | value | target | ratio | | note |',
    '|---|---:|---:|---:|---|---|',
  );
  for (const f of r.figures) {
    const ratio = f.target ? (f.value / f.target).toFixed(2) : '';
    const target = f.target === undefined ? '' : `${f.goal === 'min' ? '≥' : '≤'} ${fmt(f.target)} ${f.unit}`;
    lines.push(
      `| ${cell(f.name)} | ${fmt(f.value)} ${f.unit} | ${target} | ${ratio} | ${verdict(f)} | ${cell(f.note ?? '')} |`,
    );
  }
  for (const n of r.notes) lines.push('', `- ${n}`);
  lines.push('');
}
if (failed.length > 0) lines.push(`Failed: ${failed.join(', ')}`, '');
const markdown = lines.join('\n');
console.log(`\n${markdown}`);

if (values['write-md']) {
  const path = join(repo, 'BENCHMARKS.md');
  const text = readFileSync(path, 'utf8');
  const start = '<!-- results:start -->';
  const end = '<!-- results:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) {
    console.error('run-bench: BENCHMARKS.md has no results markers; not written');
    process.exitCode = 1;
  } else {
    writeFileSync(path, `${text.slice(0, a + start.length)}\n${markdown}\n${text.slice(b)}`);
    console.log('BENCHMARKS.md updated');
  }
}
if (failed.length > 0) process.exitCode = 1;
