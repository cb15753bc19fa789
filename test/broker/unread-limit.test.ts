/**
 * One connection's read-ahead limit (`maxUnreadBytes`, broker/connection-guard.ts) against the
 * embedded broker over real TCP on 127.0.0.1, with aedes really holding a connection: a raw cloud
 * subscribes to every gate's events and stops reading its socket, one gate publishes 32 MiB so the
 * cloud's path is full and aedes' deliveries wait on it, and then a hostile gate sends two publishes
 * in one segment. Both stay unfinished, and aedes reads a client's next bytes only once all but one
 * of what it read last are done (lib/client.js `nextBatch`): from then on the guard holds whatever
 * that gate sends, and only its limit stops it.
 * - Sent as 1-byte TCP segments of 4-byte packets, what it holds is one Buffer per packet: counted
 *   by bytes, the limit let it hold 64 Ki objects before stopping it. Each held chunk is charged
 *   `HELD_CHUNK_OVERHEAD_BYTES` (broker/unread-budget.ts): it is stopped after ~limit / 1 KiB
 *   packets, read no further, and nobody else is touched (no disconnect, no budget wait).
 * - A connection stopped by its limit is the broker's wait, not the client's silence: its keepalive
 *   is not counted while it is not read. A client with the same keepalive that connects later and
 *   goes silent is closed first, and the stopped one is still connected.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { filters, topics } from '../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { ring, tokenFor } from './fixtures.ts';
import { RawMqttClient } from './raw-mqtt.ts';

/** One connection's limit, small for a short test; the budget across connections stays at its default (128 MiB). */
const LIMIT = 256 * 1024;
/**
 * The 1-byte segments a hostile gate may send before it must have been stopped. It sends PUBACKs
 * (4 bytes), so each one is held as a chunk of its own once complete (the pieces of an incomplete
 * packet are joined first, broker/packet-gather.ts): ~limit / 1 KiB of them with the per-chunk
 * charge (`HELD_CHUNK_OVERHEAD_BYTES`), i.e. ~1000 segments; the bound is twice that, and 1/128
 * of the 262 144 segments that counting bytes alone let through.
 */
const SEGMENTS_BOUND = LIMIT / 128;

let broker: TestBroker | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await broker?.stop();
  broker = undefined;
});

function publishOf(gateId: string, messageId: number, payloadBytes: number): Buffer {
  return mqttPacket.generate({
    cmd: 'publish',
    topic: topics.gateEvents(gateId),
    qos: 1,
    messageId,
    retain: false,
    dup: false,
    payload: Buffer.alloc(payloadBytes, 0x20),
  } as Packet);
}

async function gate(port: number, id: string, keepalive = 0): Promise<RawMqttClient> {
  const client = await RawMqttClient.open(port);
  sockets.push(client.socket);
  const login = { clientId: id, username: id, password: tokenFor(id, 'gate', { compound: 'c1' }) };
  expect((await client.connect({ ...login, keepalive })).returnCode).toBe(0);
  client.socket.setNoDelay(true);
  return client;
}

/** Writes and waits until the socket took it (or closed), then lets the broker's poll phase read it. */
async function writeAndWait(socket: Socket, bytes: Buffer): Promise<void> {
  await new Promise<void>((resolve) => {
    if (socket.destroyed) return resolve();
    socket.write(bytes, () => resolve());
  });
  await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Enough to fill the held cloud's path and aedes' deliveries: its socket buffers (≤ 4 MiB sent, 128 KiB
 * received: the cloud reads nothing, so they do not grow), the guard's 8 MiB write buffer, then
 * 100 deliveries each waiting for a drain (aedes' `concurrency`).
 */
const FLOOD_MESSAGES = 512;

/**
 * The broker with a cloud that reads nothing and a gate that published 32 MiB to it: aedes' 100
 * deliveries wait for the cloud's socket to drain, so every publish from now on stays unfinished.
 * Returns what the guards hold unread then (the flooder's share, constant from now on).
 */
async function holdTheCloud(): Promise<{ broker: TestBroker; flooderHolds: number }> {
  // The flooder's 512 publishes must all be taken by aedes: the bound on unfinished publishes
  // (broker/unfinished-publishes.ts, 128) would stop it first.
  const started = await startTestBroker({
    ring,
    limits: { maxUnreadBytes: LIMIT, cloudWindowBytes: 16 * 1024, maxUnfinishedPublishes: FLOOD_MESSAGES },
  });
  broker = started;
  const cloud = await RawMqttClient.open(started.port);
  sockets.push(cloud.socket);
  const login = { clientId: 'cloud', username: 'cloud', password: tokenFor('cloud', 'cloud') };
  expect((await cloud.connect({ ...login, keepalive: 0 })).returnCode).toBe(0);
  expect(await cloud.subscribe(1, [{ topic: filters.allGates('events'), qos: 1 }])).toEqual([1]);
  cloud.socket.pause();
  const flooder = await gate(started.port, 'g-flood');
  for (let id = 1; id <= FLOOD_MESSAGES; id++) {
    if (!flooder.socket.write(publishOf('g-flood', id, 64 * 1024))) await once(flooder.socket, 'drain');
  }
  // aedes sends a PUBACK just before it hands the publish on: every one of them is now waiting.
  await flooder.next((p) => p.cmd === 'puback' && p.messageId === FLOOD_MESSAGES);
  expect(started.server.stats().cloudWindowWaits).toBeGreaterThan(0);
  return { broker: started, flooderHolds: started.server.stats().unreadBytes };
}

/** Two publishes that wait on the held cloud: aedes reads nothing more from `client` until they are done. */
async function stall(client: RawMqttClient, gateId: string): Promise<void> {
  await writeAndWait(client.socket, Buffer.concat([publishOf(gateId, 1, 100), publishOf(gateId, 2, 100)]));
}

describe("one connection's read-ahead limit, aedes holding it (embedded broker)", () => {
  it('stops a gate sending 1-byte segments after ~limit / 1 KiB packets, and touches nobody else', async () => {
    const { broker, flooderHolds } = await holdTheCloud();
    const hostile = await gate(broker.port, 'g-hostile');
    const bystander = await gate(broker.port, 'g-bystander');
    await stall(hostile, 'g-hostile');
    // Tiny packets, one byte per TCP segment.
    const trickle = Buffer.concat(
      Array.from({ length: 16 * SEGMENTS_BOUND }, (_, i) => mqttPacket.generate({ cmd: 'puback', messageId: i + 1 })),
    );
    const hostileHolds = () => broker.server.stats().unreadBytes - flooderHolds;
    let segments = 0;
    while (hostileHolds() <= LIMIT && segments < 8 * SEGMENTS_BOUND) {
      await writeAndWait(hostile.socket, trickle.subarray(segments, segments + 1));
      segments += 1;
    }
    expect(hostileHolds(), `held after ${segments} one-byte segments`).toBeGreaterThan(LIMIT);
    expect(segments).toBeLessThanOrEqual(SEGMENTS_BOUND);
    const stoppedAt = broker.server.stats().unreadBytes;

    // Stopped, not read any further: more segments stay in TCP, while the bystander's ping (read
    // in a later poll of the same loop) is answered.
    for (let i = 0; i < 64; i++) await writeAndWait(hostile.socket, trickle.subarray(segments + i, segments + i + 1));
    const from = bystander.received.length;
    bystander.send({ cmd: 'pingreq' });
    await bystander.next((p) => p.cmd === 'pingresp', from);
    expect(broker.server.stats().unreadBytes).toBe(stoppedAt);
    // Backpressure on the one client, not a refusal, and not the budget's wait: nobody else is touched.
    expect(hostile.isClosed).toBe(false);
    expect(bystander.isClosed).toBe(false);
    expect(broker.server.stats()).toMatchObject({ kicked: {}, refused: { socket: {} }, unreadBudgetWaits: 0 });
  }, 120_000);

  it('counts no keepalive against a gate stopped by its limit: the broker waits, the gate is not silent', async () => {
    const { broker, flooderHolds } = await holdTheCloud();
    // 2 s keepalive: closed after 3 s of silence while its socket is read.
    const stopped = await gate(broker.port, 'g-stopped', 2);
    const silent = await gate(broker.port, 'g-silent', 2);
    // Until the stopped gate is stopped, the other one pings (answered by the guard): not silent yet.
    const pings = setInterval(() => silent.send({ cmd: 'pingreq' }), 200);
    try {
      await stall(stopped, 'g-stopped');
      // One write well past its limit (aedes' side of the guard takes up to two reads of it), then
      // nothing more: its last bytes arrive now.
      await writeAndWait(stopped.socket, publishOf('g-stopped', 3, 2 * LIMIT));
      await vi.waitFor(() => expect(broker.server.stats().unreadBytes - flooderHolds).toBeGreaterThan(LIMIT), {
        timeout: 30_000,
        interval: 10,
      });
    } finally {
      clearInterval(pings);
    }
    // One last ping, answered after the stopped gate's last byte was read: counting silence for both
    // (the same 3 s, timers firing in the order they were last set), the stopped one is closed first.
    const from = silent.received.length;
    silent.send({ cmd: 'pingreq' });
    await silent.next((p) => p.cmd === 'pingresp', from);
    const stoppedClosed = stopped.closed.then(() => {
      throw new Error('the gate stopped by its limit was closed as silent');
    });
    await Promise.race([silent.closed, stoppedClosed]);
    expect(stopped.isClosed).toBe(false);
    expect(broker.server.stats().kicked).toEqual({ 'keepalive-timeout': 1 });
  }, 120_000);
});
