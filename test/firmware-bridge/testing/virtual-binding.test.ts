import type { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ManagedSerialPort } from '../../../firmware-bridge/serial/managed-port.ts';
import {
  createVirtualSerialPair,
  replugVirtualPort,
  resetVirtualPorts,
  unplugVirtualPort,
  VirtualBinding,
} from '../../../firmware-bridge/testing/virtual-binding.ts';

/** Like `events.once`, but not rejected by 'error' events: failed reopen attempts are expected here. */
function nextEvent(emitter: EventEmitter, name: string): Promise<unknown[]> {
  return new Promise((resolve) => emitter.once(name, (...args: unknown[]) => resolve(args)));
}

/** A parser stand-in that collects every byte the port forwards. */
function collector() {
  const parser = new PassThrough();
  const chunks: Buffer[] = [];
  parser.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { parser, received: () => Buffer.concat(chunks) };
}

async function until(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const opened: ManagedSerialPort[] = [];
function port(path: string, parser: PassThrough, baudRate = 9600): ManagedSerialPort {
  const p = new ManagedSerialPort({ path, baudRate, binding: VirtualBinding, parser, reconnectInitialMs: 10 });
  opened.push(p);
  return p;
}

describe('VirtualBinding', () => {
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((p) => p.stop()));
    resetVirtualPorts();
  });

  it('creates linked pairs with predictable paths, idempotently', () => {
    expect(createVirtualSerialPair('qr')).toEqual({ a: 'virtual:qr:a', b: 'virtual:qr:b' });
    expect(createVirtualSerialPair('qr')).toEqual({ a: 'virtual:qr:a', b: 'virtual:qr:b' });
  });

  it('delivers bytes from each end to the other, in order', async () => {
    const { a, b } = createVirtualSerialPair('order');
    const atA = collector();
    const atB = collector();
    const portA = port(a, atA.parser);
    const portB = port(b, atB.parser);
    await portA.start();
    await portB.start();
    expect(portA.status).toBe('ok');
    const expected: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const chunk = Buffer.from(`${i},`);
      expected.push(chunk);
      await portA.write(chunk);
    }
    await portB.write(Buffer.from('back'));
    const all = Buffer.concat(expected);
    await until(() => atB.received().length >= all.length, 'all bytes at b');
    expect(atB.received().equals(all)).toBe(true);
    await until(() => atA.received().length >= 4, 'reply at a');
    expect(atA.received().toString()).toBe('back');
  });

  it('refuses to open an unknown path or an end that is already open', async () => {
    await expect(VirtualBinding.open({ path: 'virtual:nope:a', baudRate: 9600 })).rejects.toThrow(/ENOENT/);
    const { a } = createVirtualSerialPair('locked');
    const first = await VirtualBinding.open({ path: a, baudRate: 9600 });
    await expect(VirtualBinding.open({ path: a, baudRate: 9600 })).rejects.toThrow(/locked/);
    await first.close();
  });

  it('optionally takes wire time at the baud rate (10 bits per byte)', async () => {
    const { a, b } = createVirtualSerialPair('slow', { wireTime: true });
    const atB = collector();
    const portA = port(a, collector().parser, 9600);
    const portB = port(b, atB.parser, 9600);
    await portA.start();
    await portB.start();
    const payload = Buffer.alloc(96, 0x41); // 96 bytes × 10 bits / 9600 baud = 100 ms on the wire
    const sentAt = performance.now();
    await portA.write(payload);
    await until(() => atB.received().length === payload.length, 'payload at b');
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(99);
  });

  it('unplug makes both ends fail and stay unopenable; replug lets them reconnect', async () => {
    const { a, b } = createVirtualSerialPair('cable');
    const atB = collector();
    const portA = port(a, collector().parser);
    const portB = port(b, atB.parser);
    await portA.start();
    await portB.start();

    const faultA = nextEvent(portA, 'status');
    const faultB = nextEvent(portB, 'status');
    unplugVirtualPort(a);
    expect(await faultA).toEqual(['fault']);
    expect(await faultB).toEqual(['fault']);
    await expect(portA.write(Buffer.from('x'))).rejects.toMatchObject({ code: 'port-not-open' });
    await expect(VirtualBinding.open({ path: b, baudRate: 9600 })).rejects.toThrow(/ENOENT/);
    expect(await VirtualBinding.list()).toEqual([]);

    const backA = nextEvent(portA, 'open');
    const backB = nextEvent(portB, 'open');
    replugVirtualPort(b);
    await backA;
    await backB;
    expect(portA.status).toBe('ok');
    await portA.write(Buffer.from('again'));
    await until(() => atB.received().toString() === 'again', 'data after replug');
  });
});
