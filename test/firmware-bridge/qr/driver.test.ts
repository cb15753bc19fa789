import type { EventEmitter } from 'node:events';
import { MockBinding, type MockPortBinding } from '@serialport/binding-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { GM65_TRIGGER, HONEYWELL_TRIGGER_OFF, HONEYWELL_TRIGGER_ON } from '../../../firmware-bridge/qr/commands.ts';
import { QrScannerDriver, type QrScanInfo, TriggerNotConfiguredError } from '../../../firmware-bridge/qr/driver.ts';
import type { BindingInterface } from '../../../firmware-bridge/serial/port-options.ts';

/** Like `events.once`, but not rejected by 'error' events: failed reopen attempts are expected here. */
function nextEvent(emitter: EventEmitter, name: string): Promise<unknown[]> {
  return new Promise((resolve) => emitter.once(name, (...args: unknown[]) => resolve(args)));
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

const PATH = '/dev/ttyQR0';
const drivers: QrScannerDriver[] = [];
function driver(options: Partial<ConstructorParameters<typeof QrScannerDriver>[0]> = {}) {
  MockBinding.createPort(PATH, { record: true });
  const { binding, opened } = trackedMockBinding();
  const qr = new QrScannerDriver({ path: PATH, baudRate: 9600, binding, ...options });
  drivers.push(qr);
  return { qr, opened };
}

afterEach(async () => {
  await Promise.all(drivers.splice(0).map((d) => d.stop()));
  MockBinding.reset();
});

describe('QrScannerDriver on MockBinding', () => {
  it('is absent until started, then ok', async () => {
    const { qr, opened } = driver();
    expect(qr.status).toBe('absent');
    expect(opened).toHaveLength(0);
    const statuses: string[] = [];
    qr.on('status', (s) => statuses.push(s));
    await qr.start();
    expect(qr.status).toBe('ok');
    expect(statuses).toEqual(['ok']);
  });

  it('emits one scan per read with the hrtime of its last byte', async () => {
    const { qr, opened } = driver();
    await qr.start();
    const scans: Array<[string, QrScanInfo]> = [];
    qr.on('scan', (text, at) => scans.push([text, at]));
    const before = process.hrtime.bigint();
    const first = nextEvent(qr, 'scan');
    opened[0]!.emitData(Buffer.from(']Q1ANXIN1.pass-a\r\nANXIN1.pass-'));
    await first;
    const second = nextEvent(qr, 'scan');
    opened[0]!.emitData(Buffer.from('b\t'));
    await second;
    const after = process.hrtime.bigint();
    expect(scans.map(([text]) => text)).toEqual(['ANXIN1.pass-a', 'ANXIN1.pass-b']);
    expect(scans[0]![1]).toMatchObject({ symbology: ']Q1', endedBy: 'terminator' });
    for (const [, at] of scans) {
      expect(typeof at.lastByteAt).toBe('bigint');
      expect(at.lastByteAt).toBeGreaterThanOrEqual(before);
      expect(at.lastByteAt).toBeLessThanOrEqual(after);
    }
    expect(scans[1]![1].lastByteAt).toBeGreaterThan(scans[0]![1].lastByteAt);
  });

  it('passes its options to the parser and exposes its counters', async () => {
    const { qr, opened } = driver({ terminator: 'lf', maxLength: 10, stripAim: false });
    await qr.start();
    const texts: string[] = [];
    qr.on('scan', (text) => texts.push(text));
    const got = nextEvent(qr, 'scan');
    opened[0]!.emitData(Buffer.from('0123456789ABC\n\u0007\n]Q1ok\n'));
    await got;
    expect(texts).toEqual([']Q1ok']);
    expect(qr.counters).toMatchObject({ scans: 1, overLong: 1, controlCharacters: 1 });
  });

  it('sends the configured trigger commands', async () => {
    const gm65 = driver({ trigger: 'gm65' });
    await gm65.qr.start();
    await gm65.qr.trigger();
    await gm65.qr.cancelTrigger(); // GM65 stops by itself: nothing is sent
    expect(gm65.opened[0]!.recording).toEqual(GM65_TRIGGER);
    await gm65.qr.stop();
    MockBinding.reset();

    const honeywell = driver({ trigger: 'honeywell' });
    await honeywell.qr.start();
    await honeywell.qr.trigger();
    await honeywell.qr.cancelTrigger();
    expect(honeywell.opened[0]!.recording).toEqual(Buffer.concat([HONEYWELL_TRIGGER_ON, HONEYWELL_TRIGGER_OFF]));
  });

  it("refuses trigger() when the model is 'none', and when the port is down", async () => {
    const plain = driver();
    await plain.qr.start();
    await expect(plain.qr.trigger()).rejects.toBeInstanceOf(TriggerNotConfiguredError);
    await plain.qr.stop();
    MockBinding.reset();

    const { qr } = driver({ trigger: 'honeywell' });
    await expect(qr.trigger()).rejects.toMatchObject({ code: 'port-not-open' });
  });

  it('reports fault when the port does not exist, and an error once', async () => {
    const qr = new QrScannerDriver({ path: '/dev/ttyNOPE', baudRate: 9600, binding: MockBinding });
    drivers.push(qr);
    const errors: Error[] = [];
    qr.on('error', (err) => errors.push(err));
    await qr.start();
    expect(qr.status).toBe('fault');
    expect(errors).toHaveLength(1);
  });

  it('rejects an unknown trigger model', () => {
    expect(() => new QrScannerDriver({ path: PATH, baudRate: 9600, trigger: 'zebra' as never })).toThrow(/trigger/);
  });
});
