/**
 * A pass split by an event-loop stall: the scanner sends the pass in two chunks a few
 * ms apart, and the gate's loop freezes (a busy neighbour, a GC pause) just after reading the first.
 * The second chunk arrives during the freeze. When the loop runs again, the timers phase comes
 * before the poll phase that reads the port, so a silence timer judged "when it fires" would end
 * the read and cut the pass into two `malformed` refusals. The parser judges by arrival times
 * (firmware-bridge/qr/line-parser.ts): a late timer is not silence.
 *
 * The freeze is a real busy-wait on the test's own thread, over a real socat pty and MockBinding.
 */
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import type { MockPortBinding } from '@serialport/binding-mock';
import { MockBinding } from '@serialport/binding-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { QrScannerDriver } from '../../../firmware-bridge/qr/driver.ts';
import { QrLineParser } from '../../../firmware-bridge/qr/line-parser.ts';
import type { BindingInterface } from '../../../firmware-bridge/serial/port-options.ts';
import { openPtyPair, type PtyPair } from '../../../testkit/socat.ts';

const PASS = `ANXIN1:${'A1b2C3d4E5'.repeat(17)}`;
const HALF = PASS.length >> 1;
/** Longer than the 50 ms inter-byte timeout: the timer is overdue when the loop resumes. */
const FREEZE_MS = 120;

/** Holds the thread: nothing else in this process runs meanwhile (no timers, no I/O callbacks). */
function freeze(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Counts the chunks the parser has taken in (the real method still runs). */
function watchChunks(): { count: () => number } {
  const transform = vi.spyOn(QrLineParser.prototype, '_transform');
  return { count: () => transform.mock.calls.length };
}

let pty: PtyPair | undefined;
const drivers: QrScannerDriver[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(drivers.splice(0).map((d) => d.stop()));
  await pty?.close();
  pty = undefined;
  MockBinding.reset();
});

function collect(qr: QrScannerDriver): { texts: string[]; malformed: () => number } {
  const texts: string[] = [];
  qr.on('scan', (text) => texts.push(text));
  return { texts, malformed: () => texts.filter((t) => t !== PASS).length };
}

describe('a QR read split by an event-loop stall', () => {
  it('stays one scan over a real pty when the second half arrives while the loop is frozen', async () => {
    pty = await openPtyPair();
    const qr = new QrScannerDriver({ path: pty.a, baudRate: 115200, terminator: 'cr', reconnectInitialMs: 20 });
    drivers.push(qr);
    await qr.start();
    const { texts } = collect(qr);
    const chunks = watchChunks();
    // The scanner's side of the pty, written synchronously so the bytes are in the kernel at once.
    const scanner = openSync(pty.b, constants.O_RDWR | constants.O_NOCTTY);
    try {
      writeSync(scanner, PASS.slice(0, HALF));
      await until(() => chunks.count() > 0, 'the first half read');
      const read = chunks.count();
      // The second half reaches the kernel now; the loop cannot read it until the freeze ends.
      writeSync(scanner, `${PASS.slice(HALF)}\r`);
      freeze(FREEZE_MS);
      expect(chunks.count()).toBe(read);
      await until(() => texts.length > 0, 'the scan');
      // Anything cut would have come as a second (malformed) text right behind the first.
      await until(() => chunks.count() > read, 'the second half read');
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      closeSync(scanner);
    }
    expect(texts).toEqual([PASS]);
  });

  it('stays one scan on MockBinding when the rest is delivered only after the overdue timer ran', async () => {
    MockBinding.createPort('/dev/ttyQRSTALL', { record: true });
    const opened: MockPortBinding[] = [];
    const binding: BindingInterface = {
      list: () => MockBinding.list(),
      open: async (options) => {
        const port = await MockBinding.open(options);
        opened.push(port);
        return port;
      },
    };
    const qr = new QrScannerDriver({ path: '/dev/ttyQRSTALL', baudRate: 9600, binding, terminator: 'cr' });
    drivers.push(qr);
    await qr.start();
    const { texts } = collect(qr);
    const chunks = watchChunks();
    opened[0]!.emitData(Buffer.from(PASS.slice(0, HALF)));
    await until(() => chunks.count() > 0, 'the first half read');
    // Frozen in one loop iteration's check phase; the rest is delivered in the next one's, after
    // that iteration's timers phase has run the overdue silence timer.
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        freeze(FREEZE_MS);
        setImmediate(() => {
          opened[0]!.emitData(Buffer.from(`${PASS.slice(HALF)}\r`));
          resolve();
        });
      }),
    );
    await until(() => texts.length > 0, 'the scan');
    expect(texts).toEqual([PASS]);
    expect(qr.counters).toMatchObject({ scans: 1, timeouts: 0, controlCharacters: 0 });
    expect(qr.counters.stalls).toBeGreaterThan(0);
  });

  it('still ends a read without a terminator once the silence is seen on time', async () => {
    MockBinding.createPort('/dev/ttyQRSILENT', { record: true });
    const opened: MockPortBinding[] = [];
    const binding: BindingInterface = {
      list: () => MockBinding.list(),
      open: async (options) => {
        const port = await MockBinding.open(options);
        opened.push(port);
        return port;
      },
    };
    const qr = new QrScannerDriver({ path: '/dev/ttyQRSILENT', baudRate: 9600, binding, terminator: 'none' });
    drivers.push(qr);
    await qr.start();
    const { texts } = collect(qr);
    opened[0]!.emitData(Buffer.from(PASS.slice(0, HALF)));
    freeze(FREEZE_MS);
    await until(() => texts.length > 0, 'the scan ended by silence');
    expect(texts).toEqual([PASS.slice(0, HALF)]);
    expect(qr.counters.timeouts).toBe(1);
  });
});
