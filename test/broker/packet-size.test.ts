/**
 * The largest packet a signed-in client may announce (broker/connection-guard.ts, `maxPacketBytes`):
 * the largest payload plus its topic and headers, as Mosquitto's `max_packet_size`. aedes' parser
 * buffers a packet until the length its fixed header announces has arrived — up to 256 MB — and the
 * payload limit (`payload-too-large`) is checked only then. Against the embedded broker over real
 * TCP: a gate announcing 200 MB is disconnected on its fixed header (`kicked['packet-too-large']`),
 * a gate publishing the largest payload is not, and the limit follows `maxPayload`.
 */
import mqttPacket, { type Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { topics } from '../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { ring, tokenFor } from './fixtures.ts';
import { RawMqttClient } from './raw-mqtt.ts';

let broker: TestBroker | undefined;
const clients: RawMqttClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.socket.destroy();
  await broker?.stop();
  broker = undefined;
});

async function gate(port: number, id: string): Promise<RawMqttClient> {
  const client = await RawMqttClient.open(port);
  clients.push(client);
  const login = { clientId: id, username: id, password: tokenFor(id, 'gate', { compound: 'c1' }), keepalive: 0 };
  expect((await client.connect(login)).returnCode).toBe(0);
  return client;
}

function publishOf(gateId: string, payloadBytes: number): Buffer {
  return mqttPacket.generate({
    cmd: 'publish',
    topic: topics.gateEvents(gateId),
    qos: 1,
    messageId: 1,
    retain: false,
    dup: false,
    payload: Buffer.alloc(payloadBytes, 0x20),
  } as Packet);
}

describe('the largest packet a signed-in client may announce (embedded broker)', () => {
  it('disconnects a gate announcing 200 MB on its fixed header, and takes the largest payload', async () => {
    broker = await startTestBroker({ ring });
    const honest = await gate(broker.port, 'g-honest');
    honest.socket.write(publishOf('g-honest', 1024 * 1024));
    expect(await honest.next((p) => p.cmd === 'puback')).toMatchObject({ messageId: 1 });

    const hostile = await gate(broker.port, 'g-hostile');
    // A PUBLISH's fixed header announcing 200 000 000 bytes, and the start of its body.
    hostile.socket.write(Buffer.concat([Buffer.from([0x30, 0x80, 0x84, 0xaf, 0x5f]), Buffer.alloc(1000, 0x20)]));
    await vi.waitFor(() => expect(hostile.isClosed).toBe(true), { timeout: 10_000, interval: 10 });
    expect(broker.server.stats().kicked).toEqual({ 'packet-too-large': 1 });
    expect(honest.isClosed).toBe(false);
  });

  it('follows maxPayload', async () => {
    broker = await startTestBroker({ ring, maxPayload: 16 * 1024 });
    const small = await gate(broker.port, 'g-small');
    small.socket.write(publishOf('g-small', 16 * 1024 + 4096));
    await vi.waitFor(() => expect(small.isClosed).toBe(true), { timeout: 10_000, interval: 10 });
    expect(broker.server.stats().kicked).toEqual({ 'packet-too-large': 1 });
  });
});
