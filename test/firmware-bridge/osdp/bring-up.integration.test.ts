/**
 * Bringing a PD online, and keeping it there: a PD that refuses an optional command is
 * still brought online; a PD that cannot be brought up is `fault` with a reason (the edge agent's
 * `device-fault` alarm); inputs reported during bring-up (the fire loop) are applied once the PD
 * is online; reply timeouts are judged by elapsed time, so an event-loop stall while a reply is
 * in flight does not re-send the command. Over MockBinding and over a real socat pty, where the
 * PD is a separate process (`anxin sim turnstile --nak …`) that keeps answering while we stall.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockBinding } from '@serialport/binding-mock';
import { autoDetect } from '@serialport/bindings-cpp';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { OsdpCommand, OsdpReply } from '../../../firmware-bridge/osdp/codes.ts';
import { OsdpControlPanel, type TurnstileInput } from '../../../firmware-bridge/osdp/control-panel.ts';
import { OsdpFrame } from '../../../firmware-bridge/osdp/frame.ts';
import { encodeInputStates, encodeNak } from '../../../firmware-bridge/osdp/replies.ts';
import { OsdpTurnstileSimulator } from '../../../firmware-bridge/osdp/simulator.ts';
import type { BindingInterface } from '../../../firmware-bridge/serial/port-options.ts';
import { openPtyPair, type PtyPair } from '../../../testkit/socat.ts';
import { createMockPd, until } from './mock-pd.ts';

const PATH = '/dev/ttyOSDP-bringup';
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  MockBinding.reset();
});

/** Holds the event loop for `ms` (what a long GC pause or a CPU-bound neighbour does). */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

function panel(
  binding: BindingInterface | undefined,
  path: string,
  extra: Partial<ConstructorParameters<typeof OsdpControlPanel>[0]> = {},
) {
  const cp = new OsdpControlPanel({
    path,
    baudRate: 115_200,
    binding,
    pollIntervalMs: 5,
    replyTimeoutMs: 40,
    ...extra,
  });
  const statuses: string[] = [];
  const inputs: Array<[TurnstileInput, boolean]> = [];
  cp.on('status', (s) => statuses.push(s));
  cp.on('input', (name, active) => inputs.push([name, active]));
  cp.on('error', () => {});
  cleanups.push(() => cp.stop());
  return { cp, statuses, inputs };
}

describe('bringing a PD online (MockBinding)', () => {
  it('brings a PD online that NAKs osdp_ISTAT and osdp_CAP, learns its inputs from polls, and unlocks', async () => {
    const pd = createMockPd(PATH);
    let polls = 0;
    pd.script((command, reply) => {
      if (command.code === OsdpCommand.ISTAT || command.code === OsdpCommand.CAP)
        return reply(OsdpReply.NAK, encodeNak(3));
      if (command.code === OsdpCommand.POLL && polls++ === 0) {
        return reply(OsdpReply.ISTATR, encodeInputStates([false, false, false, true, false]));
      }
      return undefined;
    });
    const { cp, statuses } = panel(pd.binding, PATH);
    await cp.start();
    await until(() => cp.status === 'ok', 'the PD online');
    expect(cp.capabilities).toEqual([]);
    await cp.unlock('in', 500);
    expect(pd.received.filter((f) => f.code === OsdpCommand.OUT)).toHaveLength(1);
    await until(() => polls > 1, 'polling');
    expect(statuses).toEqual(['ok']);
    expect(cp.inputs.get('fire')).toBe(false);
  });

  it('is a fault with the reason when the PD refuses osdp_ID, backs off, and comes online once it answers', async () => {
    const pd = createMockPd(PATH);
    let refuse = true;
    pd.script((command, reply) =>
      command.code === OsdpCommand.ID && refuse ? reply(OsdpReply.NAK, encodeNak(3)) : undefined,
    );
    const { cp, statuses } = panel(pd.binding, PATH);
    const errors: Error[] = [];
    cp.on('error', (err) => errors.push(err));
    await cp.start();
    await until(() => cp.status === 'fault', 'the fault');
    expect(cp.faultReason).toMatch(/refused bring-up.*ID.*NAK 3 \(unknown-command\)/);
    // Backoff: the next tries come 500 ms, then 1 s … apart, not in a tight loop.
    await until(() => pd.received.filter((f) => f.code === OsdpCommand.ID).length >= 3, 'two retries');
    const ids = pd.received.filter((f) => f.code === OsdpCommand.ID).length;
    expect(ids).toBeLessThan(6);
    expect(errors).toHaveLength(1); // once per streak, not per retry
    refuse = false;
    await until(() => cp.status === 'ok', 'online after the PD answers', 10_000);
    expect(cp.faultReason).toBeUndefined();
    expect(statuses).toEqual(['fault', 'ok']);
  });

  it('applies the fire loop reported during bring-up once the PD is online, so the hold-open unlock goes out', async () => {
    const pd = createMockPd(PATH);
    // The fire-alarm loop is open (input 3 inactive) when the PD is first asked.
    pd.script((command, reply) =>
      command.code === OsdpCommand.ISTAT
        ? reply(OsdpReply.ISTATR, encodeInputStates([false, false, false, false, false]))
        : undefined,
    );
    const { cp, inputs } = panel(pd.binding, PATH);
    const unlocks: Array<Promise<void>> = [];
    cp.on('input', (name, active) => {
      // What TurnstileControl does on fire: hold both directions open, at once.
      if (name === 'fire' && active) unlocks.push(cp.unlock('in', 3_000), cp.unlock('out', 3_000));
    });
    await cp.start();
    await until(() => unlocks.length === 2, 'the fire edge');
    expect(cp.status).toBe('ok');
    await Promise.all(unlocks);
    expect(inputs).toEqual([['fire', true]]);
    expect(pd.received.filter((f) => f.code === OsdpCommand.OUT)).toHaveLength(2);
  });

  it('does not re-send a command whose reply arrived while the event loop stalled past the timeout', async () => {
    const pd = createMockPd(PATH);
    const { cp } = panel(pd.binding, PATH);
    await cp.start();
    await until(() => cp.status === 'ok', 'the PD online');
    pd.script((command, reply) => {
      if (command.code !== OsdpCommand.OUT) return undefined;
      // The PD's ACK arrives while we hog the loop for 5× the reply timeout, and is read only
      // after the timers of the next turn have run (timers come before I/O). Two chained
      // setImmediate calls put it exactly there — one full turn later, after its timers phase and
      // before any timer armed in it can come due — whatever the machine's load (two chained
      // stat() calls waited on the thread pool and lost that race at load 25).
      const ack = reply(OsdpReply.ACK).toBuffer();
      setImmediate(() => setImmediate(() => cp.status === 'ok' && pd.emit(ack)));
      queueMicrotask(() => stall(200));
      return null;
    });
    await cp.unlock('in', 500);
    expect(pd.received.filter((f) => f.code === OsdpCommand.OUT)).toHaveLength(1);
    expect(cp.stats.retries).toBe(0);
    expect(cp.status).toBe('ok');
  });

  it('still times out a PD that really does not answer, stall or no stall', async () => {
    const pd = createMockPd(PATH);
    const { cp } = panel(pd.binding, PATH, { maxAttempts: 2 });
    await cp.start();
    await until(() => cp.status === 'ok', 'the PD online');
    pd.script((command) => {
      if (command.code !== OsdpCommand.OUT) return undefined;
      queueMicrotask(() => stall(100));
      return null;
    });
    await expect(cp.unlock('in', 500)).rejects.toMatchObject({ code: 'osdp-timeout' });
    expect(pd.received.filter((f) => f.code === OsdpCommand.OUT)).toHaveLength(2);
  });
});

/** The OS serial binding, with a hook that runs right after a write was handed to the OS. */
function osBindingWithWriteHook(afterWrite: (bytes: Buffer) => void): BindingInterface {
  const os = autoDetect() as unknown as BindingInterface;
  return {
    list: () => os.list(),
    open: async (options) => {
      const port = await os.open(options);
      const write = port.write.bind(port);
      port.write = async (buffer: Buffer) => {
        await write(buffer);
        afterWrite(buffer);
      };
      return port;
    },
  } as BindingInterface;
}

describe('bringing a PD online over a socat pty', () => {
  let pty: PtyPair;

  it('the simulator NAKs osdp_ISTAT (--nak): the control panel still comes online and the pass is reported', async () => {
    pty = await openPtyPair();
    cleanups.push(() => pty.close());
    const sim = new OsdpTurnstileSimulator({ path: pty.a, baudRate: 115_200, passDelayMs: 20, nakCommands: ['ISTAT'] });
    cleanups.push(() => sim.stop());
    await sim.start();
    const { cp, inputs } = panel(undefined, pty.b, { replyTimeoutMs: 200 });
    await cp.start();
    await until(() => cp.status === 'ok', 'the PD online');
    expect(sim.stats.naks).toBeGreaterThanOrEqual(1);
    await cp.unlock('in', 500);
    await until(() => inputs.some(([name, active]) => name === 'passed-in' && active), 'the pass');
  });

  it('a separate PD process keeps answering while the gate stalls: no spurious re-send', {
    timeout: 30_000,
  }, async () => {
    pty = await openPtyPair();
    cleanups.push(() => pty.close());
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    // The simulator's log goes to a file, so that the stalled loop below can watch it synchronously.
    const logDir = mkdtempSync(join(tmpdir(), 'anxin-osdp-stall-'));
    cleanups.push(() => rmSync(logDir, { recursive: true, force: true }));
    const logFile = join(logDir, 'sim.log');
    const logFd = openSync(logFile, 'w');
    const child = spawn(process.execPath, ['bin/anxin.mjs', 'sim', 'turnstile', '--port', pty.a], {
      cwd: root,
      stdio: ['ignore', logFd, 'pipe'],
      env: { ...process.env, ANXIN_LOG_LEVEL: 'info' },
    });
    closeSync(logFd);
    cleanups.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const out = () => readFileSync(logFile, 'utf8');
    await until(() => out().includes('turnstile simulator ready'), 'the simulator ready', 20_000);
    let stallNext = false;
    let outs = 0;
    const binding = osBindingWithWriteHook((bytes) => {
      const frame = OsdpFrame.fromBuffer(bytes);
      if (frame.code !== OsdpCommand.OUT) return;
      outs++;
      if (!stallNext) return;
      stallNext = false;
      // Hold the loop until the PD (its own process) has logged the unlock — its ACK follows at
      // once — and at least 3× the 200 ms reply timeout, however slow a busy machine makes it.
      const started = performance.now();
      while (performance.now() - started < 10_000 && !out().includes('"msg":"unlock"')) stall(5);
      stall(Math.max(100, 600 - (performance.now() - started)));
    });
    const { cp } = panel(binding, pty.b, { replyTimeoutMs: 200, pollIntervalMs: 50 });
    await cp.start();
    await until(() => cp.status === 'ok', 'the PD online', 10_000);
    stallNext = true;
    await cp.unlock('in', 500);
    expect(stallNext).toBe(false);
    // The OUT went out once: the stall did not make its ACK look lost.
    expect(outs).toBe(1);
    child.kill('SIGTERM');
    await until(() => out().includes('turnstile simulator stopped'), 'the simulator stopped', 10_000);
    const stopped = JSON.parse(
      out()
        .split('\n')
        .find((line) => line.includes('turnstile simulator stopped'))!,
    );
    expect(stopped).toMatchObject({ unlocks: 1, repeats: 0 });
  });
});
