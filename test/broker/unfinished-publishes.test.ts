/**
 * The bound on a connection's unfinished publishes (broker/unfinished-publishes.ts,
 * broker/connection-guard.ts "Unfinished publishes"), against the embedded broker over real TCP on
 * 127.0.0.1 at its default limit (128). A raw cloud subscribes to every gate's events and stops
 * reading, so once its path is full (its socket buffers, the guard's 8 MiB write buffer, a 16 KiB
 * window) no publish to it finishes. Then:
 * - a gate ignoring its uplink window sends 500 QoS 1 publishes of 64 KiB without waiting: aedes
 *   reads and queues them all without the bound (every one PUBACKed); with it the gate is read no
 *   further once more than 128 are unfinished, so the broker never holds more than 128 + one socket
 *   read's (2) of them, and once the cloud reads again every one arrives exactly once, in order;
 * - an honest gate at the largest window (`journal.maxInFlight` 64) plus a status is still read: its
 *   PINGREQ behind them is answered while the cloud is held (a limit under 65 fails here);
 * - the cloud's own publishes never stop its socket being read: 200 acks sent while it is held wait
 *   in aedes' one queue behind the gate messages that wait for the cloud (aedes itself reads no
 *   further after ~100 of them), and the guard still reads every one, as it reads the cloud's
 *   PINGREQs. Bounded like a gate, the cloud was read no further after ~130.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_MAX_UNFINISHED_PUBLISHES } from '../../broker/unfinished-publishes.ts';
import { filters, topics } from '../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { ring, signedInRaw } from './fixtures.ts';
import type { RawMqttClient } from './raw-mqtt.ts';

const LIMIT = DEFAULT_MAX_UNFINISHED_PUBLISHES;
const FLOOD = 500;
const FLOOD_BYTES = 64 * 1024;
/** A socket read is at most 64 KiB: it completes at most two fixed headers of 64 KiB publishes. */
const PER_READ = 2;
/** The largest uplink window a gate may be configured with (`journal.maxInFlight`). */
const HONEST_WINDOW = 64;
const CLOUD_ACKS = 200;
/** 1.6 MiB of acks in all: past the limit in count, under the cloud's `maxUnreadBytes` (2 MiB) in bytes. */
const ACK_BYTES = 8 * 1024;

let broker: TestBroker | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await broker?.stop();
  broker = undefined;
});

type Publish = Packet & { topic: string; payload: Buffer; messageId?: number };

function publishOf(topic: string, messageId: number, payload: Buffer, retain = false): Buffer {
  return mqttPacket.generate({ cmd: 'publish', topic, qos: 1, messageId, retain, dup: false, payload } as Packet);
}

/** A payload of `bytes` carrying its sequence number in its first 4 bytes. */
function numbered(seq: number, bytes: number): Buffer {
  const payload = Buffer.alloc(bytes, 0x20);
  payload.writeUInt32BE(seq, 0);
  return payload;
}

const client = (port: number, id: string, role: 'gate' | 'cloud') => signedInRaw(port, id, role, sockets);

/**
 * A held cloud, and a gate that floods it ignoring its window, stopped by the bound: resolves once
 * the flooder is read no further with more than the limit unfinished.
 */
async function floodAHeldCloud(): Promise<{ broker: TestBroker; cloud: RawMqttClient; flooder: RawMqttClient }> {
  const started = await startTestBroker({ ring, limits: { cloudWindowBytes: 16 * 1024 } });
  broker = started;
  const cloud = await client(started.port, 'cloud', 'cloud');
  expect(await cloud.subscribe(1, [{ topic: filters.allGates('events'), qos: 1 }])).toEqual([1]);
  cloud.socket.pause();
  const flooder = await client(started.port, 'g-flood', 'gate');
  expect(await flooder.subscribe(1, [{ topic: topics.gateAck('g-flood'), qos: 1 }])).toEqual([1]);
  // Written without waiting for anything: what the broker does not read stays in TCP and in this process.
  for (let seq = 1; seq <= FLOOD; seq++) {
    flooder.socket.write(publishOf(topics.gateEvents('g-flood'), seq, numbered(seq, FLOOD_BYTES)));
  }
  await vi.waitFor(
    () => {
      const stats = started.server.stats();
      expect(stats.unfinishedPublishWaits).toBeGreaterThan(0);
      expect(stats.unfinishedPublishes).toBeGreaterThan(LIMIT);
    },
    { timeout: 60_000, interval: 20 },
  );
  return { broker: started, cloud, flooder };
}

/** The cloud reads again: every flooded message arrives exactly once, in order. */
async function releaseAndCheck(cloud: RawMqttClient, flooder: RawMqttClient): Promise<void> {
  const isFlood = (p: Packet): p is Publish =>
    p.cmd === 'publish' && (p as Publish).topic === topics.gateEvents('g-flood');
  cloud.socket.resume();
  await cloud.next((p) => isFlood(p) && p.payload.readUInt32BE(0) === FLOOD);
  const seqs = cloud.received.filter(isFlood).map((p) => p.payload.readUInt32BE(0));
  expect(seqs).toEqual(Array.from({ length: FLOOD }, (_, i) => i + 1));
  await flooder.next((p) => p.cmd === 'puback' && p.messageId === FLOOD);
  expect(flooder.received.filter((p) => p.cmd === 'puback')).toHaveLength(FLOOD);
  expect(flooder.isClosed).toBe(false);
}

describe('the bound on unfinished publishes (embedded broker)', () => {
  it('stops a gate flooding a held cloud after the limit, keeps an honest gate read, and loses nothing', async () => {
    const { broker, cloud, flooder } = await floodAHeldCloud();
    // Never more than the limit and one read's publishes held for it; without the bound aedes read
    // all 500 and held every one its path to the cloud could not take (a few hundred).
    expect(broker.server.stats().unfinishedPublishPeak).toBeLessThanOrEqual(LIMIT + PER_READ);
    const pubacks = flooder.received.filter((p) => p.cmd === 'puback').length;
    expect(pubacks).toBeLessThan(FLOOD);

    // An honest gate at the largest window, plus its retained status: all of it waits on the held
    // cloud too, and its ping behind them is read and answered — it is never stopped.
    const honest = await client(broker.port, 'g-honest', 'gate');
    const honestWrites = Array.from({ length: HONEST_WINDOW }, (_, i) =>
      publishOf(topics.gateEvents('g-honest'), i + 1, numbered(i + 1, 200)),
    );
    honestWrites.push(publishOf(topics.gateStatus('g-honest'), HONEST_WINDOW + 1, Buffer.from('{}'), true));
    honest.socket.write(Buffer.concat(honestWrites));
    // aedes has handled them all (a PUBACK goes out before the message is handed on); a ping sent
    // now is answered only if the guard still reads the socket.
    await honest.next((p) => p.cmd === 'puback' && p.messageId === HONEST_WINDOW + 1);
    honest.send({ cmd: 'pingreq' });
    await honest.next((p) => p.cmd === 'pingresp');
    // Nothing of the flood or of the honest gate finished meanwhile: the cloud is still held.
    expect(cloud.received.filter((p) => p.cmd === 'publish' && (p as Publish).topic.includes('g-honest'))).toEqual([]);

    await releaseAndCheck(cloud, flooder);
    const honestSeqs = () =>
      cloud.received
        .filter((p): p is Publish => p.cmd === 'publish' && (p as Publish).topic === topics.gateEvents('g-honest'))
        .map((p) => p.payload.readUInt32BE(0));
    await vi.waitFor(() => expect(honestSeqs()).toHaveLength(HONEST_WINDOW), { timeout: 30_000, interval: 20 });
    expect(honestSeqs()).toEqual(Array.from({ length: HONEST_WINDOW }, (_, i) => i + 1));
    // Each one is finished once aedes' delivery is done, which may be just after the cloud read it.
    await vi.waitFor(() => expect(broker.server.stats().unfinishedPublishes).toBe(0), {
      timeout: 30_000,
      interval: 20,
    });
    expect(broker.server.stats().kicked).toEqual({});
  }, 120_000);

  it("never stops the cloud's own publishes, though they wait behind the messages waiting for it", async () => {
    const { broker, cloud, flooder } = await floodAHeldCloud();
    // aedes' 100 deliveries now wait on the held cloud: anything published from now on waits in its
    // queue, and aedes itself reads the cloud no further after ~100 of them; the guard reads on
    // (up to `maxUnreadBytes`, so the cloud's PINGREQs are answered), and counts what it reads.
    const before = broker.server.stats();
    const ack = Buffer.alloc(ACK_BYTES, 0x20);
    for (let i = 1; i <= CLOUD_ACKS; i++) {
      if (!cloud.socket.write(publishOf(topics.gateAck('g-flood'), i, ack))) await once(cloud.socket, 'drain');
    }
    // Every one of them is read from the cloud's socket while the cloud itself still reads nothing;
    // bounded like a gate it was read no further past the limit.
    await vi.waitFor(
      () =>
        expect(broker.server.stats().unfinishedPublishes).toBeGreaterThanOrEqual(
          before.unfinishedPublishes + CLOUD_ACKS,
        ),
      { timeout: 60_000, interval: 20 },
    );
    expect(broker.server.stats().unfinishedPublishWaits).toBe(before.unfinishedPublishWaits);

    await releaseAndCheck(cloud, flooder);
    await vi.waitFor(
      () =>
        expect(
          flooder.received.filter((p) => p.cmd === 'publish' && (p as Publish).topic === topics.gateAck('g-flood')),
        ).toHaveLength(CLOUD_ACKS),
      { timeout: 30_000, interval: 20 },
    );
  }, 120_000);
});
