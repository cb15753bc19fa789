/**
 * The stall behind a drain that collapsed to 2 k passages/s with the CPU idle (bench/ingest.ts at
 * 200 gates × 5 batches of 500), at a small scale: many gates publish a backlog at once while the cloud
 * takes nothing, so more than the cloud's window waits unsent towards it; then the cloud reads
 * again. Before broker/connection-guard.ts held a cloud back, the broker disconnected it at this
 * point, its clean session threw away everything queued for it, and the gates waited for acks
 * until their resend timers. Now: the broker waits (backpressure onto the gates, counted), the
 * cloud is never disconnected, and every message reaches it exactly once.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { filters, topics } from '../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { closeAll, connectAs, ring } from './fixtures.ts';

const GATES = 20;
const MESSAGES_PER_GATE = 32;
/** 20 × 32 × 48 KiB = 30 MiB: far more than the loopback socket buffers and the window hold. */
const PAYLOAD_BYTES = 48 * 1024;
const CLOUD_WINDOW = 256 * 1024;

function payloadOf(gateId: string, index: number): Buffer {
  const head = Buffer.from(JSON.stringify({ gateId, index }));
  return Buffer.concat([head, Buffer.alloc(PAYLOAD_BYTES - head.length, 0x20)]);
}

function keyOf(payload: Buffer): string {
  const text = payload.toString('utf8', 0, 64);
  const { gateId, index } = JSON.parse(text.slice(0, text.indexOf('}') + 1)) as { gateId: string; index: number };
  return `${gateId}#${index}`;
}

describe('a cloud that stops reading while many gates publish (embedded broker)', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker({ ring, limits: { cloudWindowBytes: CLOUD_WINDOW } });
  });
  afterEach(closeAll);
  afterAll(() => broker.stop());

  it('is held back, never disconnected, and gets every message exactly once', async () => {
    const cloud = await connectAs(broker.url, 'cloud', 'cloud');
    let disconnects = 0;
    cloud.on('close', () => {
      disconnects += 1;
    });
    // Like the cloud's MQTT client: the next message (and its PUBACK) only once the handler is done.
    let release!: () => void;
    const reading = new Promise<void>((resolve) => {
      release = resolve;
    });
    const received = new Map<string, number>();
    cloud.handleMessage = (packet, done) => {
      const key = keyOf(packet.payload as Buffer);
      received.set(key, (received.get(key) ?? 0) + 1);
      void reading.then(() => done());
    };
    await cloud.subscribeAsync(filters.allGates('events'), { qos: 1 });

    const gates: MqttClient[] = await Promise.all(
      Array.from({ length: GATES }, (_, i) => connectAs(broker.url, `g${i}`, 'gate', { compound: 'c1' })),
    );
    // Every gate hands its whole backlog to MQTT.js at once (QoS 1, unbounded in flight).
    const published = gates.flatMap((gate, g) =>
      Array.from({ length: MESSAGES_PER_GATE }, (_, i) =>
        gate.publishAsync(topics.gateEvents(`g${g}`), payloadOf(`g${g}`, i), { qos: 1 }),
      ),
    );
    // The cloud's window fills while it takes nothing: the broker now waits instead of cutting it off.
    await vi.waitFor(() => expect(broker.server.stats().cloudWindowWaits).toBeGreaterThan(0), {
      timeout: 30_000,
      interval: 20,
    });
    release();
    await Promise.all(published);
    const total = GATES * MESSAGES_PER_GATE;
    await vi.waitFor(() => expect(received.size).toBe(total), { timeout: 60_000, interval: 20 });

    expect([...received.values()].every((n) => n === 1)).toBe(true);
    expect(disconnects).toBe(0);
    expect(cloud.connected).toBe(true);
    const stats = broker.server.stats();
    expect(stats.kicked).toEqual({});
    expect(stats.connectsAccepted).toBe(GATES + 1);
  }, 120_000);
});
