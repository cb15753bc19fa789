/**
 * The same figures on the two store engines, measured one after the other in one run, printed as
 * one table: each engine's value with its ratio to the target, PostgreSQL ÷ SQLite, and the load
 * average while each engine was measured (the machine is shared: a ratio taken side by side is
 * what can be trusted under load, the absolute figures want a quiet rerun).
 */
import os from 'node:os';
import { formatNumber } from './report.ts';

export type Engine = 'sqlite' | 'postgres';

export interface PairedFigure {
  name: string;
  unit: string;
  /** An upper bound (the p99 targets of contacts and statistics). */
  target?: number;
  sqlite?: number;
  postgres?: number;
}

/** The 1-minute load average at the start and the end of an engine's measurements. */
export class LoadSpan {
  readonly from = os.loadavg()[0]!;
  to = this.from;

  end(): this {
    this.to = os.loadavg()[0]!;
    return this;
  }

  toString(): string {
    return `${this.from.toFixed(1)}→${this.to.toFixed(1)}`;
  }
}

const cell = (value: number | undefined, unit: string) =>
  value === undefined ? '—' : `${formatNumber(value)} ${unit}`;
const ratio = (value: number | undefined, target: number | undefined) =>
  value === undefined || target === undefined
    ? '—'
    : `${(value / target).toFixed(2)}${value <= target ? '' : ' MISSED'}`;

/** A Markdown table of `figures`, headed by the date and each engine's load. */
export function sideBySide(
  title: string,
  figures: readonly PairedFigure[],
  loads: Partial<Record<Engine, LoadSpan>>,
): string {
  const header = [
    'figure',
    `SQLite (load ${loads.sqlite ?? '—'})`,
    '÷ target',
    `PostgreSQL (load ${loads.postgres ?? '—'})`,
    '÷ target',
    'PG ÷ SQLite',
    'target',
  ];
  const rows = figures.map((f) => [
    f.name,
    cell(f.sqlite, f.unit),
    ratio(f.sqlite, f.target),
    cell(f.postgres, f.unit),
    ratio(f.postgres, f.target),
    f.sqlite === undefined || f.postgres === undefined || f.sqlite === 0 ? '—' : (f.postgres / f.sqlite).toFixed(2),
    f.target === undefined ? '—' : `≤ ${formatNumber(f.target)} ${f.unit}`,
  ]);
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [
    `${title} — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.availableParallelism()} cores`,
    '',
    line(header),
    line(header.map(() => '---')),
    ...rows.map(line),
  ].join('\n');
}
