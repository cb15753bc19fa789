/**
 * The components as separate processes on 127.0.0.1, started through the real CLI
 * (`node bin/anxin.mjs broker|cloud|edge`), plus Mosquitto through the test helper. Every child
 * is registered for cleanup with the benchmark's context.
 */
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MOSQUITTO_DEFAULT_MAX_PAYLOAD, type MosquittoAccount } from '../../broker/mosquitto-config.ts';
import { type KeysFile, publicOnly } from '../../shared/keys.ts';
import { freePort, startMosquitto } from '../../testkit/mosquitto.ts';
import type { BenchContext } from './cli.ts';
import { sleep } from './samples.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const ANXIN = join(REPO, 'bin', 'anxin.mjs');
/** What `ANXIN` runs (bin/anxin.mjs): the build in dist/ when it is there and current, else the sources through tsx. */
export const ANXIN_RUNS = existsSync(join(REPO, 'dist', 'cli', 'main.js'))
  ? 'anxin runs dist/ if current (npm run build)'
  : 'anxin runs the sources through tsx (no dist/: npm run build)';

export interface RunningProcess {
  pid: number;
  url: string;
  port: number;
  stop(): Promise<void>;
}

type Ctx = Pick<BenchContext<unknown>, 'spawnChild' | 'onCleanup'>;

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

function stopper(child: import('node:child_process').ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await once(child, 'exit');
    clearTimeout(timer);
  };
}

/** Writes the keys file (private: for the cloud) and its public half (for broker and gates). */
export function writeKeys(dir: string, keys: KeysFile): { privatePath: string; publicPath: string } {
  const privatePath = join(dir, 'keys.json');
  const publicPath = join(dir, 'keys.public.json');
  writeFileSync(privatePath, JSON.stringify(keys), { mode: 0o600 });
  writeFileSync(publicPath, JSON.stringify(publicOnly(keys)), { mode: 0o600 });
  return { privatePath, publicPath };
}

const childEnv = { ...process.env, ANXIN_LOG_LEVEL: 'warn' };

export async function startAnxinBroker(ctx: Ctx, publicKeysPath: string): Promise<RunningProcess> {
  const port = await freePort();
  const child = ctx.spawnChild(
    process.execPath,
    [ANXIN, 'broker', '--port', String(port), '--host', '127.0.0.1', '--keys', publicKeysPath],
    { env: childEnv, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await waitForPort(port, 30_000);
  return { pid: child.pid!, url: `mqtt://127.0.0.1:${port}`, port, stop: stopper(child) };
}

export async function startAnxinCloud(
  ctx: Ctx,
  options: {
    db: string;
    mqttUrl: string;
    keysPath: string;
    /** A fixed MQTT login (`--mqtt-token`, `--mqtt-client-id`) for a broker with a generated password file. */
    mqttLogin?: { clientId: string; token: string };
  },
): Promise<RunningProcess> {
  const port = await freePort();
  const child = ctx.spawnChild(
    process.execPath,
    [
      ANXIN,
      'cloud',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--mqtt',
      options.mqttUrl,
      '--db',
      options.db,
      '--keys',
      options.keysPath,
      ...(options.mqttLogin
        ? ['--mqtt-client-id', options.mqttLogin.clientId, '--mqtt-token', options.mqttLogin.token]
        : []),
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
  child.stdout?.resume();
  return { pid: child.pid!, url: `http://127.0.0.1:${port}`, port, stop: stopper(child) };
}

/**
 * Mosquitto as docs/deploy.md sets it up, through the test kit (`testkit/mosquitto.ts`): the
 * generated `mosquitto.conf` and dynamic-security accounts (authentication on, every account
 * confined to its role), written with the owners and modes Mosquitto needs after it drops to user
 * `mosquitto` — a bench temp dir (0700, root's) would hide the plugin's JSON from it and every
 * login would be refused. Plus unbounded queues so a slow subscriber is measured as slow, not as
 * lossy (Mosquitto drops QoS 1 beyond `max_queued_messages`, default 1000, which 200 gates × a
 * window of 16 exceed).
 */
export async function startAuthMosquitto(ctx: Ctx, accounts: readonly MosquittoAccount[]): Promise<RunningProcess> {
  const mosquitto = await startMosquitto({
    accounts,
    maxPayload: MOSQUITTO_DEFAULT_MAX_PAYLOAD,
    extraConfig: ['max_queued_messages 0', 'max_inflight_messages 0'],
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
