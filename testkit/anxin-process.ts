/**
 * The `anxin` command as child processes on 127.0.0.1 — one way to start them for the fault
 * suites (testkit/deployment.ts) and the benchmarks (bench/lib/processes.ts): the arguments of
 * `anxin broker` and `anxin cloud`, the keys files they read, waiting for a port, and a
 * restartable process that keeps the tail of its output.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type KeysFile, publicOnly } from '../shared/keys.ts';

/** The repository (cwd of every child). */
export const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** The command (bin/anxin.mjs: dist/ when built and current, else the sources through tsx). */
export const ANXIN = join(ROOT, 'bin', 'anxin.mjs');

/** Resolves once `check()` holds; polls every 25 ms; throws with `what` (and `detail()`) after `ms`. */
export async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  ms = 15_000,
  detail: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Whether something accepts a TCP connection on 127.0.0.1:`port`. */
export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resolves once something listens on 127.0.0.1:`port`. */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  await eventually(() => tcpOpen(port), `something to listen on 127.0.0.1:${port}`, timeoutMs);
}

/** Writes the keys file (private: for the cloud) and its public half (for broker and gates), both 0600. */
export function writeKeys(dir: string, keys: KeysFile): { privatePath: string; publicPath: string } {
  const privatePath = join(dir, 'keys.json');
  const publicPath = join(dir, 'keys.public.json');
  writeFileSync(privatePath, JSON.stringify(keys), { mode: 0o600 });
  writeFileSync(publicPath, JSON.stringify(publicOnly(keys)), { mode: 0o600 });
  return { privatePath, publicPath };
}

/** `anxin broker …` on 127.0.0.1:`port` checking tokens against the public keys. */
export function brokerArgs(options: { port: number; publicKeysPath: string; revocationsPath?: string }): string[] {
  return [
    'broker',
    '--port',
    String(options.port),
    '--host',
    '127.0.0.1',
    '--keys',
    options.publicKeysPath,
    ...(options.revocationsPath ? ['--revocations', options.revocationsPath] : []),
  ];
}

/** `anxin cloud …` on 127.0.0.1:`port` with its SQLite file, broker and private keys. */
export function cloudArgs(options: {
  port: number;
  mqttUrl: string;
  db: string;
  keysPath: string;
  /** A fixed MQTT login (`--mqtt-client-id`, `--mqtt-token`) for a broker with a generated password file. */
  mqttLogin?: { clientId: string; token: string };
}): string[] {
  return [
    'cloud',
    '--port',
    String(options.port),
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
  ];
}

/** One `anxin …` child process, restartable with the same arguments. */
export class AnxinProcess {
  child: ChildProcess | undefined;
  output = '';
  /** Exits the test did not ask for (a crash the system should never have). */
  readonly unexpectedExits: string[] = [];
  private expectingExit = false;

  constructor(
    readonly name: string,
    readonly args: string[],
  ) {}

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  spawn(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    this.expectingExit = false;
    const child = spawn(process.execPath, ['bin/anxin.mjs', ...this.args], {
      cwd: ROOT,
      env: { ...process.env, ANXIN_LOG_LEVEL: 'warn', NODE_ENV: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const append = (chunk: Buffer) => {
      // Keep the tail only: a long run must not grow the test's memory without bound.
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    child.once('exit', (code, signal) => {
      if (!this.expectingExit) this.unexpectedExits.push(`${this.name} exited (code ${code}, signal ${signal})`);
    });
    this.child = child;
  }

  /** Sends `signal` and waits for the exit. */
  async kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const child = this.child;
    if (!child || !this.running) return { code: child?.exitCode ?? null, signal: child?.signalCode ?? null };
    this.expectingExit = true;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, sig) => resolve({ code, signal: sig })),
    );
    child.kill(signal);
    return exited;
  }
}
