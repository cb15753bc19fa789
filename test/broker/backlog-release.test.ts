/**
 * A backlog inside aedes released all at once must not recurse (broker/emit-turns.ts), against the
 * embedded broker over real TCP on 127.0.0.1. A cloud subscribes and stops reading, so aedes' 100
 * deliveries wait on its socket; raw gates that ignore their uplink window flood QoS 1 PUBLISHes,
 * which aedes parses anyway (all it read at once) and queues in its emitter behind the
 * deliveries. Then the cloud goes: the queued messages now match nobody, and mqemitter completed
 * each of them synchronously inside the previous one's release (released → _do → parallel →
 * released …): `RangeError: Maximum call stack size exceeded`, uncaught — the broker process died.
 * Afterwards the broker must still serve: a QoS 2 marker published behind the backlog is answered
 * (PUBREC is sent once its publish is done, so the backlog before it was released), and a new
 * cloud gets a gate's message.
 */
import type { Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { filters, topics } from '../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { ring, signedInRaw } from './fixtures.ts';
import type { RawMqttClient } from './raw-mqtt.ts';

/**
 * Queued messages released in one synchronous chain, a few frames each: without the fix Node's
 * default stack overflowed with 3000 queued (6 flooders) and held with 2000 (4 flooders). Twice
 * that here, as ~100-byte publishes (one 60 KB write per flooder, ~1 MB in all) so the run stays
 * short; 16 flooders could queue 9600, so a write split into two reads still leaves enough.
 */
const QUEUED = 6000;
const FLOODERS = 16;
const PAYLOAD_BYTES = 64;
/** Publishes of ~100 bytes in one write of < 64 KiB: aedes parses such a write at once. */
const PER_FLOODER = 600;
/**
 * What fills the held cloud's path first so aedes' deliveries wait: its socket buffers (a few MiB)
 * and the guard's 8 MiB write buffer, then 100 deliveries each waiting for a drain.
 */
const FILL_MESSAGES = 320;
const FILL_BYTES = 64 * 1024;
const flooders: RawMqttClient[] = [];

let broker: TestBroker | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  flooders.length = 0;
  await broker?.stop();
  broker = undefined;
});

function publishOf(gateId: string, messageId: number, qos: 1 | 2, payload: Buffer): Buffer {
  return mqttPacket.generate({
    cmd: 'publish',
    topic: topics.gateEvents(gateId),
    qos,
    messageId,
    retain: false,
    dup: false,
    payload,
  } as Packet);
}

const client = (port: number, id: string, role: 'gate' | 'cloud') => signedInRaw(port, id, role, sockets);

async function cloudOf(port: number, id: string): Promise<RawMqttClient> {
  const cloud = await client(port, id, 'cloud');
  expect(await cloud.subscribe(1, [{ topic: filters.allGates('events'), qos: 1 }])).toEqual([1]);
  return cloud;
}

describe('a backlog queued in aedes, released at once (embedded broker)', () => {
  it('is released without exhausting the stack, and the broker serves on', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      // The bound on each gate's unfinished publishes (broker/unfinished-publishes.ts) would stop each
      // flooder at 128: lifted, so 16 of them can still queue the thousands this is about (a fleet can).
      broker = await startTestBroker({
        ring,
        limits: { cloudWindowBytes: 16 * 1024, maxUnfinishedPublishes: Number.POSITIVE_INFINITY },
      });
      const cloud = await cloudOf(broker.port, 'cloud');
      cloud.socket.pause();
      // One gate fills the cloud's path: aedes' 100 deliveries now wait for the cloud's socket to drain.
      const filler = await client(broker.port, 'g-fill', 'gate');
      const fill = Buffer.alloc(FILL_BYTES, 0x20);
      for (let i = 1; i <= FILL_MESSAGES; i++) filler.socket.write(publishOf('g-fill', i, 1, fill));
      await filler.next((p) => p.cmd === 'puback' && p.messageId === FILL_MESSAGES);
      expect(broker.server.stats().cloudWindowWaits).toBeGreaterThan(0);
      // Flooders ignoring their window: what aedes parses of one 64 KiB write each is queued in its emitter.
      let queued = 0;
      let enough!: () => void;
      const queuedEnough = new Promise<void>((resolve) => {
        enough = resolve;
      });
      const payload = Buffer.alloc(PAYLOAD_BYTES, 0x20);
      for (let g = 0; g < FLOODERS; g++) {
        const flooder = await client(broker.port, `g-flood-${g}`, 'gate');
        // aedes sends a QoS 1 PUBACK just before it hands the publish on: each one counted is queued.
        flooder.socket.on('data', () => {
          queued = flooders.reduce((n, f) => n + f.received.filter((p) => p.cmd === 'puback').length, 0);
          if (queued >= QUEUED) enough();
        });
        flooders.push(flooder);
        flooder.socket.write(
          Buffer.concat(Array.from({ length: PER_FLOODER }, (_, i) => publishOf(`g-flood-${g}`, i + 1, 1, payload))),
        );
      }
      await queuedEnough;

      // The cloud goes: what is queued matches nobody now.
      await cloud.drop();
      const marker = await client(broker.port, 'g-marker', 'gate');
      marker.send({
        cmd: 'publish',
        topic: topics.gateEvents('g-marker'),
        qos: 2,
        messageId: 1,
        retain: false,
        dup: false,
        payload: Buffer.from('marker'),
      });
      await marker.next((p) => p.cmd === 'pubrec' && p.messageId === 1);
      expect(uncaught).toEqual([]);

      // Still serving: a new cloud gets a gate's message, and the flooder is still connected.
      const next = await cloudOf(broker.port, 'cloud-2');
      const gate = await client(broker.port, 'g-after', 'gate');
      gate.socket.write(publishOf('g-after', 1, 1, Buffer.from('after')));
      await gate.next((p) => p.cmd === 'puback' && p.messageId === 1);
      const delivered = (await next.next((p) => p.cmd === 'publish')) as Packet & { topic: string; payload: Buffer };
      expect(delivered.topic).toBe(topics.gateEvents('g-after'));
      expect(delivered.payload.toString()).toBe('after');
      expect(flooders.every((f) => !f.isClosed)).toBe(true);
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  }, 60_000);
});
