/**
 * One benchmark's figures, each beside its target and the ratio figure/target, printed as a table
 * and written as JSON for `bin/run-bench.mjs` (which collects them into BENCHMARKS.md).
 */
import { writeFileSync } from 'node:fs';
import { describeMachine, type MachineInfo, machineInfo } from './machine.ts';
import type { Distribution } from './samples.ts';

export interface Figure {
  /** What was measured, e.g. `decideEntry p99 (qr)`. */
  name: string;
  value: number;
  unit: string;
  /** The moonshot; absent for reference figures (peers, physical limits). */
  target?: number;
  /** `max`: the figure should stay at or below the target; `min`: at or above. */
  goal?: 'max' | 'min';
  note?: string;
}

export interface BenchResult {
  bench: string;
  command: string;
  quick: boolean;
  machineBefore: MachineInfo;
  machineAfter: MachineInfo;
  durationS: number;
  figures: Figure[];
  notes: string[];
}

export function ratioOf(f: Figure): number | undefined {
  if (f.target === undefined || f.target === 0) return undefined;
  return f.value / f.target;
}

export function verdictOf(f: Figure): string {
  if (f.target === undefined) return 'ref';
  const met = f.goal === 'min' ? f.value >= f.target! : f.value <= f.target!;
  return met ? 'met' : 'MISSED';
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs >= 10_000) return Math.round(n).toLocaleString('en-US');
  if (abs >= 100) return n.toFixed(0);
  if (abs >= 10) return n.toFixed(1);
  if (abs >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

function pad(s: string, width: number, right = false): string {
  return right ? s.padStart(width) : s.padEnd(width);
}

export function figureTable(figures: readonly Figure[]): string {
  const rows = figures.map((f) => {
    const ratio = ratioOf(f);
    return [
      f.name,
      `${formatNumber(f.value)} ${f.unit}`,
      f.target === undefined ? '—' : `${f.goal === 'min' ? '≥' : '≤'} ${formatNumber(f.target)} ${f.unit}`,
      ratio === undefined ? '—' : ratio.toFixed(2),
      verdictOf(f),
      f.note ?? '',
    ];
  });
  const header = ['figure', 'value', 'target', 'ratio', '', 'note'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i]!, i === 1 || i === 3)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The usual four latency figures of a distribution (ms), the p99 carrying the target. */
export function latencyFigures(name: string, d: Distribution, target?: { p99: number }, note?: string): Figure[] {
  return [
    { name: `${name} p50`, value: d.p50, unit: 'ms' },
    { name: `${name} p95`, value: d.p95, unit: 'ms' },
    {
      name: `${name} p99`,
      value: d.p99,
      unit: 'ms',
      ...(target ? { target: target.p99, goal: 'max' as const } : {}),
      ...(note ? { note } : {}),
    },
    { name: `${name} max`, value: d.max, unit: 'ms', note: `n=${d.count}` },
  ];
}

/** Collects figures while a benchmark runs; `finish()` prints and writes them. */
export class BenchReport {
  readonly figures: Figure[] = [];
  readonly notes: string[] = [];
  private readonly started = process.hrtime.bigint();
  private readonly machineBefore = machineInfo();

  constructor(
    readonly bench: string,
    readonly quick: boolean,
  ) {
    console.log(`# bench ${bench}${quick ? ' (--quick)' : ''} — ${describeMachine(this.machineBefore)}`);
  }

  add(...figures: Figure[]): void {
    this.figures.push(...figures);
  }

  note(text: string): void {
    this.notes.push(text);
    console.log(`  note: ${text}`);
  }

  /** Progress on stderr, so stdout stays the result. */
  progress(text: string): void {
    console.error(`  [${this.bench}] ${text}`);
  }

  finish(jsonPath?: string): BenchResult {
    const result: BenchResult = {
      bench: this.bench,
      command: `node --import tsx bench/${this.bench}.ts ${process.argv.slice(2).join(' ')}`.trim(),
      quick: this.quick,
      machineBefore: this.machineBefore,
      machineAfter: machineInfo(),
      durationS: Number(process.hrtime.bigint() - this.started) / 1e9,
      figures: this.figures,
      notes: this.notes,
    };
    console.log(`\n${figureTable(this.figures)}\n`);
    console.log(`  took ${result.durationS.toFixed(1)} s; load after: ${result.machineAfter.loadavg.join(' / ')}`);
    if (jsonPath) writeFileSync(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  }
}
