/**
 * Gates held back behind a full cloud keep their connection (broker/connection-guard.ts,
 * "Keepalive"). While the cloud takes nothing, the gates' messages wait undelivered — and aedes' own
 * keepalive, which counts only the packets it handled, closed every held gate after 1.5 × the
 * gate's keepalive (45 s at 30 s), before the cloud's 60 s drain timeout, and the gates' PINGREQs
 * went unanswered. Here real MQTT.js gates with a 6 s keepalive publish a backlog while the cloud
 * reads nothing: they stay held (their messages unacked) for several keepalives, every PINGREQ is
 * answered, none is disconnected, and once the cloud reads again every message arrives once. A
 * client that really goes silent is still closed, by the guard (`kicked['keepalive-timeout']`).
 */
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { filters, topics } from '../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { closeAll, connectAs, ring, tokenFor } from './fixtures.ts';
import { RawMqttClient } from './raw-mqtt.ts';

const GATES = 20;
/** 20 × 32 × 48 KiB = 30 MiB: more than the loopback buffers and the window hold; 1.5 MiB a gate. */
const MESSAGES_PER_GATE = 32;
const PAYLOAD_BYTES = 48 * 1024;
const CLOUD_WINDOW = 64 * 1024;
/**
 * Short enough for a fast test, long enough that a loaded machine's event-loop stalls stay well
 * inside the 1.5 × grace (the gates, the broker and the cloud share this process).
 */
const KEEPALIVE_S = 6;
/** Pings each held gate must have had answered: held for at least two keepalives, past aedes' 1.5 × grace. */
const PINGS_WHILE_HELD = 3;

function payloadOf(gateId: string, index: number): Buffer {
  const head = Buffer.from(JSON.stringify({ gateId, index }));
  return Buffer.concat([head, Buffer.alloc(PAYLOAD_BYTES - head.length, 0x20)]);
}

describe('gates held back behind a cloud that reads nothing (embedded broker)', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker({ ring, limits: { cloudWindowBytes: CLOUD_WINDOW } });
  });
  afterEach(closeAll);
  afterAll(() => broker.stop());

  it('answer their pings and stay connected for as long as the hold lasts', async () => {
    const cloud = await connectAs(broker.url, 'cloud', 'cloud');
    let release!: () => void;
    const reading = new Promise<void>((resolve) => {
      release = resolve;
    });
    const received = new Map<string, number>();
    cloud.handleMessage = (packet, done) => {
      const key = (packet.payload as Buffer).toString('utf8', 0, 40).split('}')[0]!;
      received.set(key, (received.get(key) ?? 0) + 1);
      void reading.then(() => done());
    };
    await cloud.subscribeAsync(filters.allGates('events'), { qos: 1 });

    const gates: MqttClient[] = await Promise.all(
      Array.from({ length: GATES }, (_, i) =>
        connectAs(broker.url, `g${i}`, 'gate', { compound: 'c1', keepalive: KEEPALIVE_S }),
      ),
    );
    let lost: (reason: Error) => void;
    const gateLost = new Promise<never>((_, reject) => {
      lost = reject;
    });
    const pongs = gates.map(() => 0);
    const unacked = gates.map(() => MESSAGES_PER_GATE);
    let held = false;
    gates.forEach((gate, g) => {
      gate.on('close', () => lost(new Error(`gate g${g} was disconnected while held`)));
      gate.on('packetreceive', (packet) => {
        if (packet.cmd === 'pingresp' && held && unacked[g]! > 0) pongs[g]! += 1;
      });
    });
    const published = gates.flatMap((gate, g) =>
      Array.from({ length: MESSAGES_PER_GATE }, (_, i) =>
        gate.publishAsync(topics.gateEvents(`g${g}`), payloadOf(`g${g}`, i), { qos: 1 }).then(() => {
          unacked[g]! -= 1;
        }),
      ),
    );
    for (const p of published) p.catch(() => {});

    await vi.waitFor(() => expect(broker.server.stats().cloudWindowWaits).toBeGreaterThan(0), {
      timeout: 30_000,
      interval: 20,
    });
    held = true;
    // Every gate still waiting for its acks hears its pings answered, keepalive after keepalive.
    const answered = vi.waitFor(
      () => {
        for (let g = 0; g < GATES; g++) {
          if (unacked[g]! > 0) expect(pongs[g], `pings of held gate g${g}`).toBeGreaterThanOrEqual(PINGS_WHILE_HELD);
        }
      },
      { timeout: 120_000, interval: 50 },
    );
    await Promise.race([answered, gateLost]);
    const stillHeld = unacked.filter((n) => n > 0).length;
    expect(stillHeld, 'gates still held when their pings had been answered').toBeGreaterThan(GATES / 2);
    expect(broker.server.stats().kicked).toEqual({});

    release();
    await Promise.race([Promise.all(published), gateLost]);
    await vi.waitFor(() => expect(received.size).toBe(GATES * MESSAGES_PER_GATE), { timeout: 60_000, interval: 20 });
    expect([...received.values()].every((n) => n === 1)).toBe(true);
    expect(gates.every((gate) => gate.connected)).toBe(true);
    expect(cloud.connected).toBe(true);
    expect(broker.server.stats().kicked).toEqual({});
  }, 240_000);

  it('still closes a client that goes silent past 1.5 × its keepalive, and answers one that pings', async () => {
    const silent = await RawMqttClient.open(broker.port);
    const pinging = await RawMqttClient.open(broker.port);
    const login = (id: string) => ({ clientId: id, username: id, password: tokenFor(id, 'gate', { compound: 'c1' }) });
    expect((await silent.connect({ ...login('g-silent'), keepalive: 2 })).returnCode).toBe(0);
    expect((await pinging.connect({ ...login('g-pinging'), keepalive: 2 })).returnCode).toBe(0);
    // The pinging one pings as MQTT.js would, well within its keepalive; the silent one sends nothing.
    const pings = setInterval(() => pinging.send({ cmd: 'pingreq' }), 250);
    await silent.closed;
    clearInterval(pings);
    expect(pinging.isClosed).toBe(false);
    expect(pinging.received.filter((p) => p.cmd === 'pingresp').length).toBeGreaterThan(0);
    expect(pinging.received.every((p) => p.cmd === 'connack' || p.cmd === 'pingresp')).toBe(true);
    expect(broker.server.stats().kicked).toEqual({ 'keepalive-timeout': 1 });
    pinging.send({ cmd: 'disconnect' });
    await pinging.closed;
  });
});
