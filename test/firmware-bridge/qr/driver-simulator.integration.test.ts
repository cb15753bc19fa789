/**
 * Driver ↔ simulator over a real socat pty pair, through the OS serial binding: the path a gate
 * without hardware takes (`anxin sim qr --port …`).
 */
import type { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { QrScannerDriver } from '../../../firmware-bridge/qr/driver.ts';
import { type QrSuffix, QrScannerSimulator } from '../../../firmware-bridge/qr/simulator.ts';
import { openPtyPair, type PtyPair } from '../../../testkit/socat.ts';

/** Like `events.once`, but not rejected by 'error' events: failed reopen attempts are expected here. */
function nextEvent(emitter: EventEmitter, name: string): Promise<unknown[]> {
  return new Promise((resolve) => emitter.once(name, (...args: unknown[]) => resolve(args)));
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** About the size of a signed pass (docs/devices.md §3: ~180 characters). */
const PASS = `ANXIN1:${'A1b2C3d4E5'.repeat(17)}`;

let pty: PtyPair | undefined;
let stoppers: Array<() => Promise<void>> = [];

afterEach(async () => {
  await Promise.all(stoppers.map((stop) => stop()));
  stoppers = [];
  await pty?.close();
  pty = undefined;
});

async function rig(baudRate: number, suffix: QrSuffix = 'cr', retriggerMs = 60_000) {
  pty = await openPtyPair();
  const qr = new QrScannerDriver({ path: pty.a, baudRate, reconnectInitialMs: 20, trigger: 'honeywell', retriggerMs });
  const sim = new QrScannerSimulator({ path: pty.b, baudRate, suffix, reconnectInitialMs: 20 });
  stoppers.push(
    () => qr.stop(),
    () => sim.stop(),
  );
  const texts: string[] = [];
  qr.on('scan', (text) => texts.push(text));
  await qr.start();
  await sim.start();
  return { pty, qr, sim, texts };
}

describe.each([9600, 115200])('QR scanner driver ↔ simulator over socat at %i baud', (baudRate) => {
  it('delivers every scan, in order, with every suffix', async () => {
    const { sim, texts } = await rig(baudRate);
    await sim.scan(PASS);
    await sim.scan('访客-visitor-0001');
    await until(() => texts.length === 2, 'two scans');
    expect(texts).toEqual([PASS, '访客-visitor-0001']);
  });

  it('survives unplug and replug by itself', async () => {
    const { pty, qr, sim, texts } = await rig(baudRate);
    await sim.scan('before');
    await until(() => texts.length === 1, 'scan before unplug');

    const fault = nextEvent(qr, 'status');
    await pty.kill();
    expect(await fault).toEqual(['fault']);
    await until(() => sim.status === 'fault', 'simulator notices the unplug');
    await expect(sim.scan('lost')).rejects.toMatchObject({ code: 'port-not-open' });

    const back = nextEvent(qr, 'status');
    await pty.restart();
    expect(await back).toEqual(['ok']);
    await until(() => sim.status === 'ok', 'simulator reconnects');
    await sim.scan('after');
    await until(() => texts.length === 2, 'scan after replug');
    expect(texts).toEqual(['before', 'after']);
  });
});

describe('QR scanner driver ↔ simulator over socat: options', () => {
  it.each(['lf', 'crlf', 'tab', 'none'] as const)('reads scans ended by %s', async (suffix) => {
    const { sim, texts } = await rig(9600, suffix);
    await sim.scan('one');
    await until(() => texts.length === 1, 'first scan');
    await sim.scan('two');
    await until(() => texts.length === 2, 'second scan');
    expect(texts).toEqual(['one', 'two']);
  });

  it('keeps a command-triggered scanner armed while nothing is read', async () => {
    let commands = 0;
    const { sim } = await rig(115200, 'cr', 200);
    sim.on('command', () => {
      commands += 1;
    });
    // Armed once the port is open, then re-armed every 200 ms without a read.
    await until(() => commands >= 3, 'three triggers without a read');
  });

  it('re-arms a command-triggered scanner right after each read', async () => {
    const commands: string[] = [];
    // A re-arm period far beyond the test: every trigger seen comes from the open or a read.
    const { sim, qr, texts } = await rig(115200, 'cr', 60_000);
    sim.on('command', (name) => commands.push(name));
    await until(() => commands.length === 1 || qr.status === 'ok', 'the port open');
    await sim.scan('read-1');
    await until(() => texts.length === 1, 'the read');
    await until(() => commands.length >= 1, 'a trigger after the read');
    const afterFirst = commands.length;
    await sim.scan('read-2');
    await until(() => texts.length === 2, 'the second read');
    await until(() => commands.length > afterFirst, 'a trigger after the second read');
    expect(new Set(commands)).toEqual(new Set(['honeywell-on']));
  });

  it('sends the trigger command to the scanner', async () => {
    const { qr, sim } = await rig(115200);
    const command = nextEvent(sim, 'command');
    await qr.trigger();
    expect(await command).toEqual(['honeywell-on']);
  });
});
