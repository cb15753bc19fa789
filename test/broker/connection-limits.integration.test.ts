/**
 * The broker's limits on anonymous sockets and on slow readers (broker/connection-guard.ts,
 * docs/deploy.md "Limits per connection"), against real sockets on 127.0.0.1:
 * - a CONNECT announcing 200 MB is refused on its first bytes: the socket is closed and the
 *   broker's resident memory (an `anxin broker` child process, read from /proc) barely moves;
 * - a first packet that is not a CONNECT, and too much before CONNACK, are refused too;
 * - one address may hold only so many sockets waiting for CONNACK, and a silent socket is closed
 *   by the connect timeout;
 * - a subscriber that stops reading is disconnected instead of stalling its publisher — unless it
 *   is a cloud, which is held back instead (test/broker/cloud-backpressure.test.ts);
 * - a zero-length client id gets CONNACK 0x02.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqttPacket from 'mqtt-packet';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type GuardRefusal, GuardedConnection } from '../../broker/connection-guard.ts';
import { announcedPacketSize } from '../../broker/mqtt-framing.ts';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';
import { signToken } from '../../shared/token.ts';
import { topics } from '../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { closeAll, connect, connectAs, ring, tokenFor } from './fixtures.ts';

const bin = fileURLToPath(new URL('../../bin/anxin.mjs', import.meta.url));
const MB = 1024 * 1024;

/** Opens a raw TCP socket; resolves once connected. */
function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ port, host: '127.0.0.1' }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves when the socket is closed (by the peer, or after an error such as EPIPE/ECONNRESET). */
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.on('error', () => {});
    socket.once('close', () => resolve());
  });
}

/** Writes `chunk` again and again until the socket closes or `limit` bytes went out; returns bytes written. */
async function pump(socket: Socket, chunk: Buffer, limit: number): Promise<number> {
  const done = closed(socket);
  let written = 0;
  let open = true;
  void done.then(() => {
    open = false;
  });
  while (open && written < limit) {
    const flushed = socket.write(chunk);
    written += chunk.length;
    if (!flushed) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), done]);
  }
  await done;
  return written;
}

function rssBytes(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((status) => {
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    if (!kb) throw new Error(`no VmRSS for ${pid}`);
    return Number(kb) * 1024;
  });
}

describe('announcedPacketSize', () => {
  it('reads the remaining length of the fixed header (§2.2.3)', () => {
    expect(announcedPacketSize(Buffer.from([0x10, 0x00]))).toEqual({ total: 2 });
    expect(announcedPacketSize(Buffer.from([0x10, 0x7f]))).toEqual({ total: 129 });
    expect(announcedPacketSize(Buffer.from([0x10, 0x80, 0x01]))).toEqual({ total: 131 });
    expect(announcedPacketSize(Buffer.from([0x10, 0x80]))).toBe('more');
    expect(announcedPacketSize(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]))).toEqual({ total: 5 + 268_435_455 });
    expect(announcedPacketSize(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff]))).toBe('malformed');
  });
});

describe('GuardedConnection backlog', () => {
  /** A socket that sends nothing until `flush()`, which sends everything buffered so far (then `drain`). */
  const heldSocket = () => {
    const held: (() => void)[] = [];
    let flowing = false;
    const socket = new Duplex({
      read() {},
      write(_chunk, _encoding, callback) {
        if (flowing) process.nextTick(callback);
        else held.push(callback);
      },
      writableHighWaterMark: 1,
    });
    socket.on('drain', () => {
      flowing = false;
    });
    const flush = () => {
      flowing = true;
      for (const callback of held.splice(0)) callback();
    };
    return { socket, flush };
  };
  const limits = {
    maxConnectBytes: 8192,
    maxBytesBeforeConnack: 16384,
    maxQueuedBytes: 1000,
    cloudWindowBytes: 5000,
    maxUnreadBytes: 65536,
  };

  it('disconnects a gate that sends PINGREQs and reads none of their answers, as a slow reader', async () => {
    const refusals: GuardRefusal[] = [];
    const { socket } = heldSocket();
    const guarded = new GuardedConnection(socket, limits, { onRefused: (r) => refusals.push(r), onSettled() {} });
    guarded.admit();
    guarded.resume();
    const refused = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // 600 PINGREQs: 1200 bytes of PINGRESP waiting unsent, past the 1000-byte budget.
    socket.push(Buffer.alloc(1200, Buffer.from([0xc0, 0x00])));
    await refused;
    expect(refusals).toEqual(['slow-reader']);
  });

  it('disconnects a gate once more than its budget waits unsent', () => {
    const refusals: GuardRefusal[] = [];
    const { socket } = heldSocket();
    const guarded = new GuardedConnection(socket, limits, { onRefused: (r) => refusals.push(r), onSettled() {} });
    guarded.admit();
    guarded.write(Buffer.alloc(1000));
    expect(refusals).toEqual([]);
    guarded.write(Buffer.alloc(1));
    expect(refusals).toEqual(['slow-reader']);
    expect(socket.destroyed).toBe(true);
  });

  it('never disconnects a cloud: past its window a write completes only once the socket drains', async () => {
    const refusals: GuardRefusal[] = [];
    let windowFull = 0;
    const { socket, flush } = heldSocket();
    const guarded = new GuardedConnection(socket, limits, {
      onRefused: (r) => refusals.push(r),
      onSettled() {},
      onWindowFull: () => {
        windowFull += 1;
      },
    });
    guarded.admit({ cloud: true });
    const completed: number[] = [];
    guarded.write(Buffer.alloc(5000), () => completed.push(1));
    guarded.write(Buffer.alloc(1), () => completed.push(2));
    guarded.write(Buffer.alloc(100_000), () => completed.push(3));
    await new Promise((resolve) => setImmediate(resolve));
    // The first fits the window; the second passes it and waits; the third waits behind it.
    expect(completed).toEqual([1]);
    expect(windowFull).toBe(1);
    flush();
    await new Promise((resolve) => setImmediate(resolve));
    expect(completed).toEqual([1, 2]);
    // The third alone passes the window again: it waits for the next drain.
    expect(windowFull).toBe(2);
    flush();
    await new Promise((resolve) => setImmediate(resolve));
    expect(completed).toEqual([1, 2, 3]);
    expect(refusals).toEqual([]);
    expect(socket.destroyed).toBe(false);
  });
});

describe('an anxin broker process under an oversized CONNECT', () => {
  let dir: string;
  let child: ChildProcess;
  let port: number;
  const keysFile = createKeysFile();
  const keys = parseKeysFile(keysFile);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anxin-limits-'));
    await writeFile(join(dir, 'keys.json'), JSON.stringify(keysFile));
    child = spawn(
      process.execPath,
      [bin, 'broker', '--port', '0', '--host', '127.0.0.1', '--keys', join(dir, 'keys.json')],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ANXIN_LOG_LEVEL: 'info' },
      },
    );
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const line = out.split('\n').find((l) => l.includes('"broker listening"'));
        if (line) resolve((JSON.parse(line) as { port: number }).port);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code} before listening: ${out}`)));
    });
  });
  afterAll(async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  });

  it('closes three sockets announcing 200 MB each on their first bytes; RSS grows < 20 MB', async () => {
    // A genuine client first, so the process has loaded everything a connection needs.
    const password = signToken({ sub: 'g1', role: 'gate', exp: Date.now() + 60_000 }, keys.signing!);
    const warm = await connect(`mqtt://127.0.0.1:${port}`, { clientId: 'g1', username: 'g1', password });
    await warm.endAsync();
    const before = await rssBytes(child.pid!);

    // Fixed header: CONNECT, remaining length 200,000,000 (four-byte varint), then the bytes.
    const header = Buffer.from([0x10, 0x80, 0x84, 0xaf, 0x5f]);
    expect(announcedPacketSize(header)).toEqual({ total: 5 + 200_000_000 });
    const attackers = await Promise.all([1, 2, 3].map(() => rawSocket(port)));
    const written = await Promise.all(
      attackers.map(async (socket) => {
        socket.write(header);
        return pump(socket, Buffer.alloc(MB, 0x41), 50 * MB);
      }),
    );
    const after = await rssBytes(child.pid!);
    // Every socket was closed long before its 50 MB went out (the kernel's buffers took the rest).
    for (const bytes of written) expect(bytes).toBeLessThan(50 * MB);
    expect(after - before).toBeLessThan(20 * MB);
  });

  it('still serves genuine clients afterwards', async () => {
    const password = signToken({ sub: 'g2', role: 'gate', exp: Date.now() + 60_000 }, keys.signing!);
    const client = await connect(`mqtt://127.0.0.1:${port}`, { clientId: 'g2', username: 'g2', password });
    expect(client.connected).toBe(true);
    await client.endAsync();
  });
});

describe('limits before CONNACK (embedded broker)', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker({ ring, maxPendingPerAddress: 4, connectTimeoutMs: 300 });
  });
  afterEach(closeAll);
  afterAll(() => broker.stop());

  it('refuses a first packet that is not a CONNECT', async () => {
    const socket = await rawSocket(broker.port);
    socket.write(mqttPacket.generate({ cmd: 'pingreq' }));
    await closed(socket);
    expect(broker.server.stats().refused.socket['not-connect']).toBeGreaterThanOrEqual(1);
  });

  it('refuses a CONNECT over 8 KiB, and more than 16 KiB before CONNACK', async () => {
    const big = await rawSocket(broker.port);
    big.write(
      mqttPacket.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        keepalive: 30,
        clientId: 'g1',
        username: 'g1',
        password: Buffer.alloc(9 * 1024, 0x61),
      }),
    );
    await closed(big);
    expect(broker.server.stats().refused.socket['connect-too-large']).toBeGreaterThanOrEqual(1);

    // A small CONNECT that never authenticates (the broker answers CONNACK 4 and closes), followed
    // by pipelined publishes: the bytes beyond 16 KiB are refused before aedes would queue them.
    const flood = await rawSocket(broker.port);
    const connectPacket = mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      keepalive: 30,
      clientId: 'g1',
    });
    const publish = mqttPacket.generate({
      cmd: 'publish',
      topic: topics.gateEvents('g1'),
      payload: Buffer.alloc(20 * 1024),
      qos: 0,
      dup: false,
      retain: false,
    });
    flood.write(Buffer.concat([connectPacket, publish]));
    await closed(flood);
    expect(broker.server.stats().refused.socket['too-much-before-connack']).toBeGreaterThanOrEqual(1);
  });

  it('holds at most 4 anonymous sockets per address, and closes silent ones at the connect timeout', async () => {
    const silent = await Promise.all([1, 2, 3, 4].map(() => rawSocket(broker.port)));
    const closings = silent.map(closed);
    const fifth = await rawSocket(broker.port);
    await closed(fifth);
    expect(broker.server.stats().refused.socket['too-many-pending']).toBeGreaterThanOrEqual(1);
    // The four are closed by the connect timeout (300 ms here), which frees their places.
    await Promise.all(closings);
    const client = await connectAs(broker.url, 'g1', 'gate', { compound: 'c1' });
    expect(client.connected).toBe(true);
  });

  it('answers a zero-length client id with CONNACK 0x02 (identifier rejected)', async () => {
    const error = await connect(broker.url, { clientId: '', username: 'g1', password: tokenFor('g1', 'gate') }).then(
      () => undefined,
      (err: { code?: number }) => err,
    );
    expect(error?.code).toBe(2);
    expect(broker.server.stats().refused.connect['empty-client-id']).toBe(1);
  });
});

describe('a subscriber that stops reading (embedded broker)', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker({ ring, limits: { maxQueuedBytes: 256 * 1024 } });
  });
  afterEach(closeAll);
  afterAll(() => broker.stop());

  it('is disconnected; the publisher and a healthy subscriber carry on', async () => {
    // The stalled reader, an observer of the gates' statuses (a cloud is held back instead of cut
    // off: cloud-backpressure.test.ts): signs in and subscribes over a raw socket, then
    // never reads again.
    const stalled = await rawSocket(broker.port);
    stalled.write(
      mqttPacket.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        keepalive: 0,
        clientId: 'observer-stalled',
        username: 'observer-stalled',
        password: Buffer.from(tokenFor('observer-stalled', 'observer')),
      }),
    );
    stalled.write(
      mqttPacket.generate({
        cmd: 'subscribe',
        messageId: 1,
        subscriptions: [{ topic: 'anxin/v1/gates/+/status', qos: 1 }],
      }),
    );
    await new Promise<void>((resolve) => {
      let got = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        // CONNACK (4 bytes) and SUBACK (5 bytes): signed in and subscribed.
        if (got.length >= 9) {
          stalled.off('data', onData);
          stalled.pause();
          resolve();
        }
      };
      stalled.on('data', onData);
    });
    const stalledClosed = closed(stalled);

    const healthy = await connectAs(broker.url, 'cloud', 'cloud');
    await healthy.subscribeAsync('anxin/v1/gates/+/status', { qos: 1 });
    let received = 0;
    healthy.on('message', () => {
      received++;
    });
    const gate = await connectAs(broker.url, 'g1', 'gate', { compound: 'c1' });
    // 24 MB in all: more than the loopback socket buffers of the stalled reader can swallow, so
    // without the limit aedes would wait for that reader's drain (60 s) after a few MB.
    const payload = Buffer.alloc(64 * 1024, 0x7b);
    const count = 384;
    for (let i = 0; i < count; i++) await gate.publishAsync(topics.gateStatus('g1'), payload, { qos: 1 });
    await new Promise<void>((resolve) => {
      if (received === count) return resolve();
      healthy.on('message', () => {
        if (received === count) resolve();
      });
    });
    expect(broker.server.stats().kicked['slow-reader']).toBe(1);
    stalled.resume();
    await stalledClosed;
  }, 60_000);
});
