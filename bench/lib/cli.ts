/**
 * Common flags of every benchmark and its run harness: `--quick` (seconds, for smoke tests),
 * `--json FILE` (machine-readable result for bin/run-bench.mjs), `--cache-dir DIR` (share generated
 * data sets between benchmarks of one run), plus the benchmark's own flags. Temp dirs, child
 * processes and servers registered here are cleaned up on every exit path, including Ctrl-C.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { BenchReport } from './report.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMON: Options = {
  quick: { type: 'boolean', default: false },
  json: { type: 'string' },
  'cache-dir': { type: 'string' },
  help: { type: 'boolean', default: false },
};

export interface BenchContext<V> {
  report: BenchReport;
  quick: boolean;
  values: V;
  /** A fresh temp dir, removed at exit. */
  tempDir(prefix: string): Promise<string>;
  /** The run's shared cache dir (`--cache-dir`), or a temp dir of this process. */
  cacheDir(): Promise<string>;
  /** Runs `fn` at exit (LIFO). */
  onCleanup(fn: () => unknown): void;
  /** Spawns a child that is killed at exit. */
  spawnChild(command: string, args: string[], options?: Parameters<typeof spawn>[2]): ChildProcess;
}

const cleanups: (() => unknown)[] = [];
let cleaning: Promise<void> | undefined;

async function runCleanups(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop()!;
      try {
        await fn();
      } catch (error) {
        console.error(`  cleanup failed: ${(error as Error).message}`);
      }
    }
  })();
  await cleaning;
}

/**
 * Parses flags (strict: an unknown flag exits 2 with a one-line reason), runs the benchmark,
 * cleans up and exits: 0 when it ran (missed targets are results, not failures), 1 when it broke.
 */
export async function runBench<O extends Options>(
  name: string,
  usage: string,
  options: O,
  body: (ctx: BenchContext<Record<string, string | boolean | undefined>>) => Promise<void>,
): Promise<never> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ options: { ...COMMON, ...options }, strict: true, allowPositionals: false });
  } catch (error) {
    console.error(`bench ${name}: ${(error as Error).message}`);
    process.exit(2);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const quick = values.quick === true;
  const report = new BenchReport(name, quick);
  let ownCache: string | undefined;
  const tempDir = async (prefix: string) => {
    const dir = await mkdtemp(join(tmpdir(), `anxin-bench-${prefix}-`));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };
  const ctx: BenchContext<Record<string, string | boolean | undefined>> = {
    report,
    quick,
    values,
    tempDir,
    async cacheDir() {
      if (typeof values['cache-dir'] === 'string') {
        await mkdir(values['cache-dir'], { recursive: true });
        return values['cache-dir'];
      }
      ownCache ??= await tempDir('cache');
      return ownCache;
    },
    onCleanup(fn) {
      cleanups.push(fn);
    },
    spawnChild(command, args, spawnOptions) {
      const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'], ...spawnOptions });
      const exited = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
      cleanups.push(async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
        }
      });
      return child;
    },
  };
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`bench ${name}: ${signal}, cleaning up`);
    void runCleanups().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let code = 0;
  try {
    await body(ctx);
    report.finish(typeof values.json === 'string' ? values.json : undefined);
  } catch (error) {
    console.error(`bench ${name} failed: ${(error as Error).stack ?? error}`);
    code = 1;
  }
  await runCleanups();
  process.exit(code);
}

/** An integer flag with a default (for --rows, --persons, …); exits 2 on a bad value. */
export function intFlag(values: Record<string, unknown>, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const text = String(raw).replace(/_/g, '').toLowerCase();
  const m = /^(\d+(?:\.\d+)?)([km]?)$/.exec(text);
  if (!m) {
    console.error(`--${name}: expected a number like 500000, 500k or 10m, got "${raw}"`);
    process.exit(2);
  }
  const scale = m[2] === 'm' ? 1e6 : m[2] === 'k' ? 1e3 : 1;
  return Math.round(Number(m[1]) * scale);
}
