/**
 * The components as separate processes on 127.0.0.1, started through the real CLI
 * (`node bin/anxin.mjs broker|cloud|edge`) with the test kit's arguments (testkit/anxin-process.ts,
 * as the fault suites start them), plus Mosquitto through the test kit. Every child is registered
 * for cleanup with the benchmark's context.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MosquittoAccount } from '../../broker/mosquitto-config.ts';
import { DEFAULT_MAX_PAYLOAD } from '../../broker/mqtt-framing.ts';
import { ANXIN, brokerArgs, cloudArgs, ROOT, waitForPort } from '../../testkit/anxin-process.ts';
import { freePort, startMosquitto } from '../../testkit/mosquitto.ts';
import type { BenchContext } from './cli.ts';

export { writeKeys } from '../../testkit/anxin-process.ts';
export { ANXIN };
/** What `ANXIN` runs (bin/anxin.mjs): the build in dist/ when it is there and current, else the sources through tsx. */
export const ANXIN_RUNS = existsSync(join(ROOT, 'dist', 'cli', 'main.js'))
  ? 'anxin runs dist/ if current (npm run build)'
  : 'anxin runs the sources through tsx (no dist/: npm run build)';

/**
 * The environment the gate's systemd unit gives `anxin edge` (its `Environment=` lines in
 * deploy/systemd/anxin-edge@.service: the malloc settings among them), so that a benchmark measures
 * the gate process as deployed.
 */
export function edgeUnitEnvironment(): Record<string, string> {
  const unit = readFileSync(join(ROOT, 'deploy', 'systemd', 'anxin-edge@.service'), 'utf8');
  const env: Record<string, string> = {};
  for (const [, line] of unit.matchAll(/^Environment=(.*)$/gm)) {
    for (const pair of (line ?? '').split(/\s+/)) {
      const at = pair.indexOf('=');
      if (at > 0) env[pair.slice(0, at)] = pair.slice(at + 1);
    }
  }
  return env;
}

export interface RunningProcess {
  pid: number;
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Connections lost so far, from the process's log lines (`anxin broker`, `anxin cloud`; not Mosquitto). */
  disconnects?: () => number;
}

type Ctx = Pick<BenchContext<unknown>, 'spawnChild' | 'onCleanup'>;

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await once(child, 'exit');
    clearTimeout(timer);
  };
}

const childEnv = { ...process.env, ANXIN_LOG_LEVEL: process.env.ANXIN_LOG_LEVEL ?? 'warn' };
/**
 * `ANXIN_BENCH_LOGS=DIR`: the broker's and the cloud's log lines (their stdout, JSON; warnings and
 * errors unless ANXIN_LOG_LEVEL says more) go to `DIR/<name>-<pid>.log` instead of nowhere — a
 * failed batch, a deadlock, a disconnect, a refusal.
 */
const LOG_DIR = process.env.ANXIN_BENCH_LOGS;

/** `ANXIN_BENCH_CLOUD_PROF=DIR`: the cloud runs with `--cpu-prof`, its profile written to DIR when it stops. */
function profileArgs(): string[] {
  const dir = process.env.ANXIN_BENCH_CLOUD_PROF;
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : [];
}

/**
 * The log lines that say a connection was lost: the broker cutting a client off (a slow reader, a
 * cloud that read nothing for the drain timeout), the cloud's link going down. A run's figures
 * count only if this stays 0 (bench/ingest.ts).
 */
const DISCONNECT_MESSAGES = [
  '"msg":"client does not read its messages; disconnecting"',
  '"msg":"cloud took no message for the drain timeout; disconnecting"',
  '"msg":"mqtt offline; reconnecting with backoff"',
];

/** Reads the child's log (written to `ANXIN_BENCH_LOGS` when set); returns its count of disconnect lines so far. */
function keepLog(child: ChildProcess, name: string, head = ''): () => number {
  let disconnects = 0;
  let partial = '';
  if (!child.stdout) return () => disconnects;
  const count = (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (DISCONNECT_MESSAGES.some((m) => line.includes(m))) disconnects += 1;
  };
  const file = !LOG_DIR ? undefined : createWriteStream(join(LOG_DIR, `${name}-${child.pid}.log`));
  file?.write(head);
  count(head);
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    file?.write(chunk);
    count(chunk);
  });
  return () => disconnects;
}

export async function startAnxinBroker(ctx: Ctx, publicKeysPath: string): Promise<RunningProcess> {
  const port = await freePort();
  const child = ctx.spawnChild(process.execPath, [ANXIN, ...brokerArgs({ port, publicKeysPath })], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const disconnects = keepLog(child, 'broker');
  await waitForPort(port, 30_000);
  return { pid: child.pid!, url: `mqtt://127.0.0.1:${port}`, port, stop: stopper(child), disconnects };
}

export async function startAnxinCloud(
  ctx: Ctx,
  options: {
    db: string;
    mqttUrl: string;
    keysPath: string;
    /** A fixed MQTT login (`--mqtt-token`, `--mqtt-client-id`) for a broker with a generated password file. */
    mqttLogin?: { clientId: string; token: string };
    /** More `anxin cloud` flags (`--mqtt-share-group`, `--db-pool`, …). */
    extraArgs?: readonly string[];
  },
): Promise<RunningProcess> {
  const port = await freePort();
  const child = ctx.spawnChild(
    process.execPath,
    [
      ...profileArgs(),
      ANXIN,
      ...cloudArgs({
        port,
        mqttUrl: options.mqttUrl,
        db: options.db,
        keysPath: options.keysPath,
        ...(options.mqttLogin ? { mqttLogin: options.mqttLogin } : {}),
      }),
      ...(options.extraArgs ?? []),
    ],
    { env: childEnv, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout?.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`anxin cloud did not start in 60 s:\n${out}`)), 60_000);
    child.stdout?.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('cloud on http://')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`anxin cloud exited with ${code}:\n${out}`));
    });
  });
  child.stdout?.removeAllListeners('data');
  const disconnects = keepLog(child, 'cloud', out);
  return { pid: child.pid!, url: `http://127.0.0.1:${port}`, port, stop: stopper(child), disconnects };
}

/**
 * Mosquitto as docs/deploy.md sets it up, through the test kit (`testkit/mosquitto.ts`): the
 * generated `mosquitto.conf` and dynamic-security accounts (authentication on, every account
 * confined to its role), written with the owners and modes Mosquitto needs after it drops to user
 * `mosquitto` — a bench temp dir (0700, root's) would hide the plugin's JSON from it and every
 * login would be refused. Its flow control is the generated one (20 in flight towards the cloud,
 * the rest queued up to 1 GiB, docs/deploy.md "Flow control towards the cloud"): the bench
 * measures Mosquitto as deployed.
 */
export async function startAuthMosquitto(ctx: Ctx, accounts: readonly MosquittoAccount[]): Promise<RunningProcess> {
  const mosquitto = await startMosquitto({
    accounts,
    maxPayload: DEFAULT_MAX_PAYLOAD,
  });
  ctx.onCleanup(() => mosquitto.stop());
  let stopped = false;
  return {
    pid: mosquitto.pid,
    url: mosquitto.url,
    port: mosquitto.port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await mosquitto.stop();
    },
  };
}
