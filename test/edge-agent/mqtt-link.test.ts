/**
 * MqttLink.stop() against a broker that accepts the connection and then answers nothing more (it
 * hangs, or vanished without closing the socket): the gate must still stop. And what the link's
 * MQTT client keeps in memory.
 */
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MqttLink } from '../../edge-agent/mqtt-link.ts';
import { silentLogger } from '../../shared/log.ts';

let server: Server | undefined;
const sockets = new Set<Socket>();

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
  server = undefined;
});

/** Answers CONNECT with CONNACK (accepted) and SUBSCRIBE with nothing; never acknowledges a publish. */
async function mute(): Promise<number> {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (chunk) => {
      if (chunk[0] === 0x10) socket.write(Buffer.from([0x20, 0x02, 0x00, 0x00]));
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

function muteLink(port: number): MqttLink {
  return new MqttLink({
    url: `mqtt://127.0.0.1:${port}`,
    gateId: 'g-1',
    subscriptions: [],
    will: { topic: 'anxin/v1/gates/g-1/status', payload: () => '{"online":false}' },
    keepaliveSec: 60,
    reconnectMs: 60_000,
    logger: silentLogger,
  });
}

describe('MqttLink memory', () => {
  it("never builds mqtt-packet's cache of a Buffer per packet id (≈ 7.5 MB of heap)", async () => {
    // The module MQTT.js writes its packets with: its cache is filled at the first packet unless turned off.
    const fromMqtt = createRequire(createRequire(import.meta.url).resolve('mqtt'));
    const numbers = fromMqtt('mqtt-packet/numbers.js') as { cache: Record<number, Buffer> };
    const link = muteLink(await mute());
    const up = once(link, 'up');
    link.start();
    await up;
    // A QoS 1 publish carries a packet id: written from the cache when there is one.
    expect(link.publish('anxin/v1/gates/g-1/status', '{"online":true}', { qos: 1 })).toBe(true);
    await link.stop();
    expect(Object.keys(numbers.cache)).toHaveLength(0);
  });
});

describe('MqttLink.stop', () => {
  it('stops within its grace period when the broker never acknowledges what is in flight', async () => {
    const link = muteLink(await mute());
    const up = once(link, 'up');
    link.start();
    await up;
    expect(link.publish('anxin/v1/gates/g-1/status', '{"online":false}', { qos: 1, retain: true })).toBe(true);
    const started = Date.now();
    await link.stop();
    // The grace period (2 s), not for ever.
    expect(Date.now() - started).toBeLessThan(8_000);
  });
});
