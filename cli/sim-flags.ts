/**
 * What the three `anxin sim …` simulators share (cli/commands/sim.ts for the QR scanner,
 * cli/sim/ for the ID-card reader and the OSDP turnstile): the test hooks they accept, and flag
 * parsing that reports problems as `flag: message` lines instead of throwing.
 */
import { parseArgs } from 'node:util';
import type { BindingInterface } from '../firmware-bridge/serial/port-options.ts';
import type { Logger } from '../shared/log.ts';
import { oneLine } from './command-errors.ts';

export interface SimulatorCliIo {
  stderr?: NodeJS.WritableStream;
  logger?: Logger;
  /** For tests: a serial binding other than the OS one. */
  binding?: BindingInterface;
  /** For tests: resolves to stop the simulator instead of waiting for SIGINT/SIGTERM. */
  until?: Promise<void>;
  /** For tests: the random source of generated data (default Math.random). */
  random?: () => number;
}

/**
 * Parses `--port PATH` plus the device's own string flags. The device name may still stand in
 * front (`anxin sim idreader …` hands its argv on whole or without it). Returns the values and
 * the problems found so far (the caller adds its own checks, so all problems are reported at
 * once), or only problems when the argv could not be parsed at all.
 */
export function parseSimArgs(
  device: string,
  argv: string[],
  flags: readonly string[],
): { values: Record<string, string | undefined>; problems: string[] } | { problems: string[]; values?: never } {
  let values: Record<string, string | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: Object.fromEntries(['port', ...flags].map((name) => [name, { type: 'string' as const }])),
    }) as { values: Record<string, string | undefined>; positionals: string[] });
  } catch (err) {
    // parseArgs' own errors (unknown flag, missing value) are one line already.
    return { problems: [oneLine((err as Error).message)] };
  }
  const problems: string[] = [];
  const extra = positionals.filter((p, i) => !(i === 0 && p === device));
  if (extra.length > 0) problems.push(`unexpected argument ${JSON.stringify(extra[0])}`);
  if (!values.port) problems.push('port: required (--port PATH)');
  return { values, problems };
}

/** An integer flag within `[min, max]`, or `fallback` when absent; a bad value adds a problem. */
export function integerFlag(
  flag: string,
  value: string | undefined,
  fallback: number,
  [min, max]: readonly [number, number],
  problems: string[],
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    problems.push(`${flag}: must be an integer ${min}–${max}, got ${JSON.stringify(value)}`);
    return fallback;
  }
  return n;
}

export function reportProblems(device: string, problems: readonly string[], stderr: NodeJS.WritableStream): number {
  for (const problem of problems) stderr.write(`anxin sim ${device}: ${problem}\n`);
  return 2;
}
