/**
 * Ingest backpressure end to end: the real cloud (`createCloud`: CloudMqttClient → GateMessageRouter
 * → EventIngest → SqliteCloudStore) on the embedded broker, four MQTT.js gates publishing a burst
 * ten times the ingest queue's bound, and a store made slow through its own instance (held, then
 * slow, then fast again). It shows that
 *   (a) the queue never holds more than `maxQueued` events, because the cloud's MQTT client stops
 *       taking packets (and withholds their PUBACKs) while ingest waits — not because messages
 *       are dropped: a second `cloud` client on the same broker receives more of the burst meanwhile;
 *   (b) `anxin_ingest_lag_seconds` rises while the store is held;
 *   (c) once the store is fast again every event is stored exactly once and acknowledged.
 * No timing assertions: every wait is a poll with a generous deadline.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { StoredEvent } from '../../../cloud/store/store.ts';
import { createKeysFile, parseKeysFile } from '../../../shared/keys.ts';
import { ackMessageSchema } from '../../../shared/schemas/mqtt.ts';
import { filters, topics } from '../../../shared/topics.ts';
import { signToken } from '../../../shared/token.ts';
import { startTestBroker, type TestBroker } from '../../../testkit/broker.ts';
import { startTestCloud, type TestCloud } from '../../../testkit/cloud.ts';
import { entryEvent } from '../fixtures.ts';

const GATES = ['g-1', 'g-2', 'g-3', 'g-4'] as const;
const MESSAGES_PER_GATE = 30;
/** Divides both bounds, so the queue moves in steps of 10 and can reach `MAX_QUEUED` exactly. */
const EVENTS_PER_MESSAGE = 10;
const MAX_QUEUED = 100;
const MAX_BATCH = 20;
const PER_GATE = MESSAGES_PER_GATE * EVENTS_PER_MESSAGE;
const TOTAL_EVENTS = GATES.length * PER_GATE;
/** Every gate also resends its first message, as after a lost ack: those must not be stored twice. */
const REPLAYED_EVENTS = GATES.length * EVENTS_PER_MESSAGE;
const TOTAL_MESSAGES = GATES.length * (MESSAGES_PER_GATE + 1);
const SLOW_MS = 10;

/** Resolves once `check()` holds; polls every 10 ms, fails after `ms`. */
async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** How the store behaves: `held` blocks every insert (and fsync) until the mode changes. */
type StoreMode = 'held' | 'slow' | 'fast';

class StoreThrottle {
  private mode: StoreMode = 'fast';
  private waiting: (() => void)[] = [];

  set(mode: StoreMode): void {
    this.mode = mode;
    if (mode !== 'held') for (const resolve of this.waiting.splice(0)) resolve();
  }

  async pass(): Promise<void> {
    while (this.mode === 'held') await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.mode === 'slow') await new Promise((r) => setTimeout(r, SLOW_MS));
  }
}

interface Gate {
  id: string;
  client: MqttClient;
  acks: number[];
}

describe('ingest backpressure over a real broker', () => {
  const keysFile = createKeysFile();
  const throttle = new StoreThrottle();
  let broker: TestBroker;
  let cloud: TestCloud;
  let witness: MqttClient | undefined;
  let sampler: NodeJS.Timeout | undefined;
  const gates: Gate[] = [];

  const scrape = async () => {
    const text = await (await fetch(`${cloud.baseUrl}/metrics`)).text();
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    return { depth: gauge('anxin_ingest_queue_depth'), lag: gauge('anxin_ingest_lag_seconds') };
  };

  beforeAll(async () => {
    broker = await startTestBroker({ ring: parseKeysFile(keysFile).ring });
    cloud = await startTestCloud({
      mqttUrl: broker.url,
      keysFile,
      ingest: { maxQueued: MAX_QUEUED, maxBatch: MAX_BATCH },
    });
    const admin = await cloud.login('admin');
    const api = (path: string, body: unknown) =>
      fetch(`${cloud.baseUrl}/api/v1${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await api('/compounds', { id: 'c-1', name: 'Garden' })).status).toBe(201);
    // The person the fixture's passages name (ingest admits only the gate's own residents).
    expect((await api('/residents', { personId: 'p-1', compoundId: 'c-1', name: '张三明' })).status).toBe(201);
    for (const id of GATES) {
      const res = await api('/gates', { id, compoundId: 'c-1', name: id });
      expect(res.status).toBe(201);
      const { token } = (await res.json()) as { token: string };
      const client = await mqtt.connectAsync(broker.url, {
        clientId: id,
        username: id,
        password: token,
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      const gate: Gate = { id, client, acks: [] };
      client.on('message', (topic, payload) => {
        if (topic === topics.gateAck(id)) gate.acks.push(ackMessageSchema.parse(JSON.parse(payload.toString())).upTo);
      });
      await client.subscribeAsync(topics.gateAck(id), { qos: 1 });
      gates.push(gate);
    }
  });

  afterAll(async () => {
    clearInterval(sampler);
    throttle.set('fast');
    vi.restoreAllMocks();
    for (const gate of gates) await gate.client.endAsync();
    await witness?.endAsync();
    await cloud?.stop();
    await broker?.stop();
  });

  it('bounds the queue by holding MQTT back, reports the lag, and loses nothing', async () => {
    const { core } = cloud.cloud;
    const { metrics, store, ingest } = core;

    // The slow store: the cloud's own SqliteCloudStore instance, whose insert and fsync first
    // pass the throttle. EventIngest calls `store.insertEvents` right after taking a batch off the
    // queue, and sets the depth gauge just before taking it, so the gauge read here is the depth
    // the queue had reached since the previous batch: the maximum over these reads is the exact
    // maximum the queue ever held.
    const depthsBeforeBatch: number[] = [];
    const batchSizes: number[] = [];
    const insert = store.insertEvents.bind(store);
    const durable = store.durable.bind(store);
    vi.spyOn(store, 'insertEvents').mockImplementation(async (events: readonly StoredEvent[], hook) => {
      depthsBeforeBatch.push(metrics.ingestQueueDepth.get());
      batchSizes.push(events.length);
      await throttle.pass();
      return insert(events, hook);
    });
    vi.spyOn(store, 'durable').mockImplementation(async () => {
      await throttle.pass();
      return durable();
    });
    // A second look at the queue, through its getter, independent of when batches are taken.
    let polledMax = 0;
    sampler = setInterval(() => {
      polledMax = Math.max(polledMax, ingest.queued);
    }, 1);

    // Another `cloud` session that takes every message at once: proof that the broker has the
    // burst while the real cloud holds back.
    const witnessId = 'cloud-witness';
    witness = await mqtt.connectAsync(broker.url, {
      clientId: witnessId,
      username: witnessId,
      password: signToken(
        { sub: witnessId, role: 'cloud', exp: Date.now() + 3_600_000 },
        parseKeysFile(keysFile).signing!,
      ),
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    let witnessed = 0;
    witness.on('message', () => {
      witnessed += 1;
    });
    await witness.subscribeAsync(filters.allGates('events'), { qos: 1 });

    throttle.set('held');
    const publishes = gates.flatMap((gate) => {
      const messages = Array.from({ length: MESSAGES_PER_GATE }, (_, m) =>
        Array.from({ length: EVENTS_PER_MESSAGE }, (_, i) => entryEvent(gate.id, m * EVENTS_PER_MESSAGE + i + 1)),
      );
      return [...messages, messages[0]!].map((events) =>
        gate.client.publishAsync(topics.gateEvents(gate.id), JSON.stringify({ events }), { qos: 1 }),
      );
    });

    // (a) Held: the queue fills to its bound, ingest stops taking messages, and the cloud's MQTT
    // client takes no further packet — although the broker has more of the burst (see the witness).
    await eventually(
      () => metrics.ingestBackpressure.get() >= 1 && ingest.queued >= MAX_QUEUED,
      'the queue to reach its bound',
    );
    // More than the cloud can have taken (the held batch plus a full queue) is on the broker. How
    // much more depends on socket buffers: aedes reads a gate's next packets only once the last
    // ones were written to every subscriber, so a long stall pushes back on the gates too.
    const mostTaken = (MAX_BATCH + MAX_QUEUED) / EVENTS_PER_MESSAGE;
    await eventually(() => witnessed > mostTaken, 'the broker to deliver more than the cloud can take');
    // (b) The lag gauge, as `GET /metrics` serves it, grows while the store is held.
    let firstLag = 0;
    await eventually(async () => {
      firstLag = (await scrape()).lag;
      return firstLag >= 0.3;
    }, 'the lag to pass 0.3 s');
    let laterLag = 0;
    await eventually(async () => {
      laterLag = (await scrape()).lag;
      return laterLag > firstLag;
    }, 'the lag to grow');
    const routedWhileHeld = metrics.ingestMessages.get({ kind: 'events' });
    // Taken from MQTT: the held batch plus the full queue, nothing more.
    expect(routedWhileHeld).toBeLessThanOrEqual(mostTaken);
    expect(routedWhileHeld).toBeLessThan(witnessed);
    expect((await scrape()).depth).toBe(ingest.queued);
    expect(ingest.queued).toBeLessThanOrEqual(MAX_QUEUED);

    // Slow: the queue drains 20 events per 10 ms while MQTT refills it, up to the bound each time.
    throttle.set('slow');
    await eventually(
      () => metrics.ingestEvents.get({ outcome: 'stored' }) >= TOTAL_EVENTS / 2,
      'half of the burst to be stored by the slow store',
    );
    // (c) Fast again: everything arrives, once, and is acknowledged.
    throttle.set('fast');
    const counted = () =>
      metrics.ingestEvents.get({ outcome: 'stored' }) + metrics.ingestEvents.get({ outcome: 'duplicate' });
    await eventually(
      () => counted() === TOTAL_EVENTS + REPLAYED_EVENTS && gates.every((g) => g.acks.at(-1) === PER_GATE),
      'every event to be stored or found a duplicate, and every gate acknowledged up to its last seq',
    );
    await Promise.all(publishes);
    clearInterval(sampler);

    for (const gate of gates) {
      const { events } = await store.queryEvents({ gateId: gate.id, limit: 2 * PER_GATE });
      expect(events).toHaveLength(PER_GATE);
      expect(new Set(events.map((e) => e.seq))).toEqual(new Set(Array.from({ length: PER_GATE }, (_, i) => i + 1)));
      // Cumulative acks only move forward.
      expect(gate.acks).toEqual([...gate.acks].sort((a, b) => a - b));
      expect(Math.max(...gate.acks)).toBe(PER_GATE);
    }
    expect(metrics.ingestEvents.get({ outcome: 'stored' })).toBe(TOTAL_EVENTS);
    expect(metrics.ingestEvents.get({ outcome: 'duplicate' })).toBe(REPLAYED_EVENTS);
    expect(metrics.ingestMessages.get({ kind: 'events' })).toBe(TOTAL_MESSAGES);
    expect(metrics.registry.render()).not.toMatch(/^anxin_ingest_rejects_total/m);

    const maxDepth = Math.max(...depthsBeforeBatch);
    expect(maxDepth).toBe(MAX_QUEUED);
    expect(polledMax).toBeLessThanOrEqual(MAX_QUEUED);
    expect(Math.max(...batchSizes)).toBeLessThanOrEqual(MAX_BATCH);
    expect(metrics.ingestBackpressure.get()).toBeGreaterThanOrEqual(1);
    expect(await scrape()).toEqual({ depth: 0, lag: 0 });
  }, 40_000);
});
