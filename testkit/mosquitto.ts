/**
 * A real Debian `mosquitto` on 127.0.0.1 and a free port, configured by the files our generator
 * writes (`broker/mosquitto-config.ts`, written by `broker/mosquitto-files.ts` with the owners
 * and modes docs/deploy.md gives), for interop suites. Started as root, it drops to user
 * `mosquitto` as in production. A missing mosquitto throws: suites that need it fail loudly
 * rather than skip (install: `apt-get install -y mosquitto`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import {
  generateMosquittoConfig,
  type MosquittoAccount,
  type MosquittoAdmin,
  type MosquittoConfigInput,
  newAdminPassword,
} from '../broker/mosquitto-config.ts';
import { writeMosquittoFiles } from '../broker/mosquitto-files.ts';

export interface RunningMosquitto {
  /** `mqtt://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** The directory holding mosquitto.conf, dynamic-security.json and admin.json. */
  dir: string;
  /** The administrator (admin.json), for `broker/mosquitto-dynsec.ts`. */
  admin: MosquittoAdmin;
  pid: number;
  /** Everything mosquitto wrote to stderr so far (its log). */
  log(): string;
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 10_000;

/** `mosquitto` usually lives in /usr/sbin, which is not on every user's PATH. */
export function findMosquitto(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    const candidate = join(dir, 'mosquitto');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  throw new Error('mosquitto is not installed (apt-get install -y mosquitto mosquitto-clients)');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function waitForStart(child: ChildProcess, log: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`mosquitto did not start in ${STARTUP_TIMEOUT_MS} ms:\n${log()}`)),
      STARTUP_TIMEOUT_MS,
    );
    const onData = () => {
      if (/mosquitto version \S+ running/.test(log())) done();
    };
    const onExit = (code: number | null) => fail(new Error(`mosquitto exited with ${code} at start-up:\n${log()}`));
    function done() {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      resolve();
    }
    function fail(error: Error) {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      reject(error);
    }
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * Writes a generated config for `accounts` into a fresh temp dir and starts mosquitto with it.
 * The port is found free just before start; on the rare race with another process, it retries.
 */
export async function startMosquitto(options: {
  accounts: readonly MosquittoAccount[];
  maxPayload?: number;
  /** Lines appended to the generated mosquitto.conf (the benchmarks' unbounded queues). */
  extraConfig?: readonly string[];
}): Promise<RunningMosquitto> {
  const binary = findMosquitto();
  const dir = await mkdtemp(join(tmpdir(), 'anxin-mosquitto-'));
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const input: MosquittoConfigInput = {
      dir,
      port,
      host: '127.0.0.1',
      accounts: options.accounts,
      admin: { password: newAdminPassword() },
      ...(options.maxPayload === undefined ? {} : { maxPayload: options.maxPayload }),
    };
    const generated = generateMosquittoConfig(input);
    const files = options.extraConfig
      ? { ...generated, 'mosquitto.conf': `${generated['mosquitto.conf']}${options.extraConfig.join('\n')}\n` }
      : generated;
    // mkdtemp made `dir` 0700 for root; this hands it to user mosquitto (its parent, /tmp, is open).
    writeMosquittoFiles(dir, files);
    const child = spawn(binary, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    const log = () => stderr;
    try {
      await waitForStart(child, log);
    } catch (error) {
      child.kill('SIGKILL');
      if (attempt < 3 && /Address already in use/.test(stderr)) continue;
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    return {
      url: `mqtt://127.0.0.1:${port}`,
      port,
      dir,
      admin: JSON.parse(files['admin.json']) as MosquittoAdmin,
      pid: child.pid!,
      log,
      async stop() {
        child.kill('SIGTERM');
        await exited;
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}
