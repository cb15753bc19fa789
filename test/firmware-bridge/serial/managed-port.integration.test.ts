import type { EventEmitter } from 'node:events';
import { mkdtempSync, realpathSync, renameSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { MockBinding, type MockPortBinding } from '@serialport/binding-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeviceNodeGoneError, PortNotOpenError } from '../../../firmware-bridge/serial/errors.ts';
import {
  ManagedSerialPort,
  RECONNECT_INITIAL_MS,
  RECONNECT_MAX_MS,
} from '../../../firmware-bridge/serial/managed-port.ts';
import type { BindingInterface } from '../../../firmware-bridge/serial/port-options.ts';
import type { Timers } from '../../../firmware-bridge/serial/timers.ts';
import { openPtyPair, type PtyPair } from '../../../testkit/socat.ts';

/** Like `events.once`, but not rejected by 'error' events: failed reopen attempts are expected here. */
function nextEvent(emitter: EventEmitter, name: string): Promise<unknown[]> {
  return new Promise((resolve) => emitter.once(name, (...args: unknown[]) => resolve(args)));
}

/** A parser stand-in that records what it got and whether it was reset. */
function recordingParser() {
  const parser = Object.assign(new PassThrough(), { reset: vi.fn() });
  const chunks: Buffer[] = [];
  parser.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { parser, received: () => Buffer.concat(chunks) };
}

/** MockBinding, remembering each port it opened so a test can emit data on it. */
function trackedMockBinding() {
  const opened: MockPortBinding[] = [];
  const binding: BindingInterface = {
    list: () => MockBinding.list(),
    open: async (options) => {
      const port = await MockBinding.open(options);
      opened.push(port);
      return port;
    },
  };
  return { binding, opened };
}

/** Timers that only record what was scheduled; the test fires them by hand. */
function manualTimers() {
  const scheduled: Array<{ fn: () => void; ms: number; cleared: boolean }> = [];
  const timers: Timers = {
    setTimeout: (fn, ms) => {
      const entry = { fn, ms, cleared: false };
      scheduled.push(entry);
      return entry;
    },
    clearTimeout: (handle) => {
      if (handle) (handle as { cleared: boolean }).cleared = true;
    },
  };
  const fireNext = () => {
    const next = scheduled.find((s) => !s.cleared);
    if (!next) throw new Error('no timer scheduled');
    next.cleared = true;
    next.fn();
  };
  return { timers, scheduled, fireNext };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const started: ManagedSerialPort[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop()));
  MockBinding.reset();
});

describe('ManagedSerialPort on MockBinding', () => {
  it('does no I/O in the constructor and validates its options', () => {
    const { binding, opened } = trackedMockBinding();
    const port = new ManagedSerialPort({ path: '/dev/ttyQR', baudRate: 9600, binding, parser: new PassThrough() });
    expect(opened).toHaveLength(0);
    expect(port.status).toBe('absent');
    expect(() => new ManagedSerialPort({ path: '', baudRate: 9600, binding, parser: new PassThrough() })).toThrow(
      /path/,
    );
    expect(() => new ManagedSerialPort({ path: '/dev/x', baudRate: 0, binding, parser: new PassThrough() })).toThrow(
      /baudRate/,
    );
  });

  it('opens, forwards received bytes into the parser and writes', async () => {
    MockBinding.createPort('/dev/ttyQR', { record: true });
    const { binding, opened } = trackedMockBinding();
    const { parser, received } = recordingParser();
    const port = new ManagedSerialPort({ path: '/dev/ttyQR', baudRate: 9600, binding, parser });
    started.push(port);
    const statuses: string[] = [];
    port.on('status', (s) => statuses.push(s));
    await port.start();
    expect(port.status).toBe('ok');
    expect(port.isOpen).toBe(true);
    expect(statuses).toEqual(['ok']);
    expect(parser.reset).toHaveBeenCalledTimes(1);

    opened[0]!.emitData(Buffer.from('hello\r'));
    await until(() => received().length === 6, 'bytes in the parser');
    expect(received().toString()).toBe('hello\r');

    await port.write(Buffer.from([0x16, 0x54, 0x0d]));
    expect(opened[0]!.recording).toEqual(Buffer.from([0x16, 0x54, 0x0d]));

    // Larger than the stream's 64 KiB buffer: resolves only after the stream drained.
    const big = Buffer.alloc(200_000, 0x55);
    await port.write(big);
    expect(opened[0]!.recording.length).toBe(3 + big.length);
  });

  it('rejects writes with PortNotOpenError before start and after stop, and never ends the parser', async () => {
    MockBinding.createPort('/dev/ttyQR');
    const { binding } = trackedMockBinding();
    const { parser } = recordingParser();
    const port = new ManagedSerialPort({ path: '/dev/ttyQR', baudRate: 9600, binding, parser });
    await expect(port.write(Buffer.from('x'))).rejects.toBeInstanceOf(PortNotOpenError);
    await port.start();
    await port.stop();
    expect(port.status).toBe('absent');
    await expect(port.write(Buffer.from('x'))).rejects.toMatchObject({ code: 'port-not-open' });
    expect(parser.writableEnded).toBe(false);
  });

  it('reports fault when the port cannot be opened and retries with exponential backoff', async () => {
    const { binding } = trackedMockBinding();
    const { timers, scheduled, fireNext } = manualTimers();
    const port = new ManagedSerialPort({
      path: '/dev/ttyGONE',
      baudRate: 9600,
      binding,
      parser: new PassThrough(),
      timers,
    });
    started.push(port);
    const errors: Error[] = [];
    port.on('error', (err) => errors.push(err));
    await port.start();
    expect(port.status).toBe('fault');
    for (let i = 0; i < 6; i++) {
      fireNext();
      await until(() => scheduled.filter((s) => !s.cleared).length === 1, `retry ${i + 2} scheduled`);
    }
    expect(scheduled.map((s) => s.ms)).toEqual([
      RECONNECT_INITIAL_MS,
      RECONNECT_INITIAL_MS * 2,
      RECONNECT_INITIAL_MS * 4,
      RECONNECT_INITIAL_MS * 8,
      RECONNECT_INITIAL_MS * 16,
      RECONNECT_MAX_MS,
      RECONNECT_MAX_MS,
    ]);
    // The first failure of a streak is reported; repeats are only logged.
    expect(errors).toHaveLength(1);

    MockBinding.createPort('/dev/ttyGONE');
    const opened = nextEvent(port, 'open');
    fireNext();
    await opened;
    expect(port.status).toBe('ok');
  });

  it('stop() during a pending open leaves the port closed', async () => {
    MockBinding.createPort('/dev/ttyQR');
    const { binding, opened } = trackedMockBinding();
    const port = new ManagedSerialPort({ path: '/dev/ttyQR', baudRate: 9600, binding, parser: new PassThrough() });
    const starting = port.start();
    await port.stop();
    await starting;
    await until(() => opened.length === 1 && !opened[0]!.isOpen, 'the late port closed');
    expect(port.status).toBe('absent');
  });
});

describe('ManagedSerialPort on a socat pty pair', () => {
  let pty: PtyPair | undefined;
  afterEach(async () => {
    await pty?.close();
    pty = undefined;
  });

  it('opens, reads and writes, goes fault when socat dies and recovers by itself when it returns', async () => {
    pty = await openPtyPair();
    const here = recordingParser();
    const there = recordingParser();
    const options = { baudRate: 115200, reconnectInitialMs: 20, reconnectMaxMs: 100 };
    const port = new ManagedSerialPort({ ...options, path: pty.a, parser: here.parser });
    const peer = new ManagedSerialPort({ ...options, path: pty.b, parser: there.parser });
    started.push(port, peer);
    await port.start();
    await peer.start();
    expect(port.status).toBe('ok');

    await peer.write(Buffer.from('scan-1\r'));
    await until(() => here.received().toString() === 'scan-1\r', 'first scan');
    await port.write(Buffer.from([0x16, 0x54, 0x0d]));
    await until(() => there.received().equals(Buffer.from([0x16, 0x54, 0x0d])), 'trigger at the peer');

    const fault = nextEvent(port, 'status');
    const peerFault = nextEvent(peer, 'status');
    const closed = nextEvent(port, 'close');
    await pty.kill();
    expect(await fault).toEqual(['fault']);
    expect(await peerFault).toEqual(['fault']);
    const [why] = (await closed) as [Error | null];
    expect(why).toBeInstanceOf(Error);
    await expect(port.write(Buffer.from('x'))).rejects.toBeInstanceOf(PortNotOpenError);

    const back = nextEvent(port, 'open');
    const peerBack = nextEvent(peer, 'open');
    await pty.restart();
    await back;
    await peerBack;
    expect(port.status).toBe('ok');
    expect(here.parser.reset).toHaveBeenCalledTimes(2);
    expect(here.parser.writableEnded).toBe(false);

    await peer.write(Buffer.from('scan-2\r'));
    await until(() => here.received().toString() === 'scan-1\rscan-2\r', 'second scan after replug');
  });

  it('notices its path re-pointed at another device though the kernel never hung the old one up', async () => {
    // A listening port learns of a loss only when the kernel wakes its read; a missed hang-up would
    // leave it deaf on a dead descriptor. Here the old pty stays alive and only the link moves.
    pty = await openPtyPair();
    const second = await openPtyPair();
    const dir = mkdtempSync(join(tmpdir(), 'anxin-node-'));
    try {
      const link = join(dir, 'scanner');
      symlinkSync(realpathSync(pty.a), link);
      const here = recordingParser();
      const port = new ManagedSerialPort({
        path: link,
        baudRate: 9600,
        parser: here.parser,
        nodeWatchMs: 20,
        reconnectInitialMs: 20,
      });
      const peer = new ManagedSerialPort({ path: second.b, baudRate: 9600, parser: recordingParser().parser });
      started.push(port, peer);
      await port.start();
      await peer.start();
      const closed = nextEvent(port, 'close');
      const reopened = nextEvent(port, 'open');
      // Re-point the link atomically, as udev does for a replugged adapter.
      symlinkSync(realpathSync(second.a), `${link}.new`);
      renameSync(`${link}.new`, link);
      const [why] = (await closed) as [Error];
      expect(why).toBeInstanceOf(DeviceNodeGoneError);
      expect(why.message).toContain('replaced');
      await reopened;
      await peer.write(Buffer.from('scan-on-the-new-node\r'));
      await until(() => here.received().toString() === 'scan-on-the-new-node\r', 'a scan from the new node');

      // The link removed: fault ('vanished'); put back: open again, by itself.
      const gone = nextEvent(port, 'close');
      unlinkSync(link);
      const [vanished] = (await gone) as [Error];
      expect(vanished.message).toContain('vanished');
      expect(port.status).toBe('fault');
      const back = nextEvent(port, 'open');
      symlinkSync(realpathSync(second.a), link);
      await back;
      expect(port.status).toBe('ok');
    } finally {
      await second.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('watches no node on a virtual or mock binding, even where its path names a real file', async () => {
    // /dev/null exists: an OS port on that path would schedule a watch.
    const { binding } = trackedMockBinding();
    MockBinding.createPort('/dev/null', { echo: false });
    const { timers, scheduled } = manualTimers();
    const port = new ManagedSerialPort({
      path: '/dev/null',
      baudRate: 9600,
      binding,
      timers,
      parser: recordingParser().parser,
      nodeWatchMs: 10,
    });
    started.push(port);
    await port.start();
    expect(port.status).toBe('ok');
    expect(scheduled).toEqual([]);
  });
});
