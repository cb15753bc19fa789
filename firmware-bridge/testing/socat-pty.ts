/**
 * Real pseudo-terminal pairs from socat, for tests that must run the OS serial binding and for
 * `anxin demo --pty`:
 * `a` and `b` are symlinks to two linked ptys. `kill()` is "device unplugged" (both ends vanish,
 * open file descriptors fail), `restart()` is "replugged" (a new pair at the same link paths).
 * A missing socat is an error that fails the suite, never a skip.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PtyPair {
  /** Path of one end (a symlink to /dev/pts/N). */
  a: string;
  /** Path of the other end. */
  b: string;
  /** Unplug: stops socat; both ends vanish. */
  kill(): Promise<void>;
  /** Replug: starts socat again with the same link paths. */
  restart(): Promise<void>;
  /** Kills socat and removes the temp dir. */
  close(): Promise<void>;
  /** The running socat's process id (undefined while unplugged): the bench gives it the gate's scheduling class. */
  readonly pid: number | undefined;
}

/** How long socat may take to create both links before the helper gives up. */
const LINKS_READY_TIMEOUT_MS = 5_000;
const POLL_MS = 10;

const live = new Set<{ child: ChildProcess | undefined; dir: string }>();
let exitHookInstalled = false;

function assertSocatInstalled(): void {
  const probe = spawnSync('socat', ['-V'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    throw new Error('socat is not installed (needed for serial pty tests): apt-get install -y socat');
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Safety net for a crashed test: never leave socat processes or temp dirs behind.
  process.on('exit', () => {
    for (const entry of live) {
      entry.child?.kill('SIGKILL');
      rmSync(entry.dir, { recursive: true, force: true });
    }
  });
}

export async function openPtyPair(): Promise<PtyPair> {
  assertSocatInstalled();
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), 'anxin-pty-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const entry: { child: ChildProcess | undefined; dir: string } = { child: undefined, dir };
  live.add(entry);

  const start = async (): Promise<void> => {
    let stderr = '';
    let exited = false;
    const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    entry.child = child;
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('exit', () => {
      exited = true;
    });
    const deadline = Date.now() + LINKS_READY_TIMEOUT_MS;
    while (!(existsSync(a) && existsSync(b))) {
      if (exited) throw new Error(`socat exited before creating ${a} and ${b}:\n${stderr}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`socat did not create ${a} and ${b} within ${LINKS_READY_TIMEOUT_MS} ms:\n${stderr}`);
      }
      await sleep(POLL_MS);
    }
  };

  const kill = async (): Promise<void> => {
    const child = entry.child;
    entry.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    }
    // socat unlinks its links on a clean exit; make sure of it so a restart starts fresh.
    rmSync(a, { force: true });
    rmSync(b, { force: true });
  };

  const restart = async (): Promise<void> => {
    await kill();
    await start();
  };

  const close = async (): Promise<void> => {
    await kill();
    rmSync(dir, { recursive: true, force: true });
    live.delete(entry);
  };

  try {
    await start();
  } catch (err) {
    await close();
    throw err;
  }
  return {
    a,
    b,
    kill,
    restart,
    close,
    get pid() {
      return entry.child?.pid;
    },
  };
}
