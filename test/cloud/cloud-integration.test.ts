/**
 * The cloud over a real anxin broker on 127.0.0.1 with three MQTT.js clients playing gates:
 * passages reach `GET /events` and `/live` (SSE over a real socket), replays are stored once,
 * cumulative acks arrive, and a health change made through the API is pushed to the gates.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';
import { ackMessageSchema, syncDeltaSchema, type SyncDelta } from '../../shared/schemas/mqtt.ts';
import { topics } from '../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';
import { entryEvent } from './fixtures.ts';

const GATES = ['g-1', 'g-2', 'g-3'] as const;
const PER_GATE = 20;

interface GateClient {
  id: string;
  client: MqttClient;
  acks: number[];
  changes: SyncDelta[];
}

/** Resolves once `check()` holds; polls every 20 ms, fails after `ms`. */
async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('cloud over a real broker', () => {
  const keysFile = createKeysFile();
  let broker: TestBroker;
  let cloud: TestCloud;
  let admin: string;
  const gates: GateClient[] = [];
  const api = async (method: string, path: string, token: string, body?: unknown) =>
    fetch(`${cloud.baseUrl}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });

  beforeAll(async () => {
    broker = await startTestBroker({ ring: parseKeysFile(keysFile).ring });
    cloud = await startTestCloud({ mqttUrl: broker.url, keysFile });
    admin = await cloud.login('admin');
    expect((await api('POST', '/compounds', admin, { id: 'c-1', name: 'Garden' })).status).toBe(201);
    // The person the fixture's passages name (ingest admits only the gate's own residents).
    expect(
      (await api('POST', '/residents', admin, { personId: 'p-1', compoundId: 'c-1', name: '张三明' })).status,
    ).toBe(201);
    for (const id of GATES) {
      const res = await api('POST', '/gates', admin, { id, compoundId: 'c-1', name: id });
      const { token } = (await res.json()) as { token: string };
      const client = await mqtt.connectAsync(broker.url, {
        clientId: id,
        username: id,
        password: token,
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      const gate: GateClient = { id, client, acks: [], changes: [] };
      client.on('message', (topic, payload) => {
        if (topic === topics.gateAck(id)) gate.acks.push(ackMessageSchema.parse(JSON.parse(payload.toString())).upTo);
        if (topic === topics.compoundChanges('c-1')) {
          gate.changes.push(syncDeltaSchema.parse(JSON.parse(payload.toString())));
        }
      });
      await client.subscribeAsync({ [topics.gateAck(id)]: { qos: 1 }, [topics.compoundChanges('c-1')]: { qos: 1 } });
      gates.push(gate);
    }
  });

  afterAll(async () => {
    for (const gate of gates) await gate.client.endAsync();
    await cloud?.stop();
    await broker?.stop();
  });

  it('stores passages once, acks them, and streams them live', async () => {
    await cloud.addUser('guard-1', 'guard', 'c-1');
    const guard = await cloud.login('guard-1');
    const controller = new AbortController();
    const live = await fetch(`${cloud.baseUrl}/api/v1/live`, {
      headers: { authorization: `Bearer ${guard}` },
      signal: controller.signal,
    });
    expect(live.status).toBe(200);
    const reader = live.body!.getReader();
    const decoder = new TextDecoder();
    let streamed = '';
    const pump = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          streamed += decoder.decode(value, { stream: true });
        }
      } catch {
        // aborted at the end of the test
      }
    })();
    await eventually(() => streamed.includes(': connected'), 'the live stream to open');

    for (const gate of gates) {
      const events = Array.from({ length: PER_GATE }, (_, i) => entryEvent(gate.id, i + 1));
      // Live events one by one, then the whole journal again as a drain after a reconnect would.
      for (const event of events)
        await gate.client.publishAsync(topics.gateEvents(gate.id), JSON.stringify({ events: [event] }), { qos: 1 });
      await gate.client.publishAsync(topics.gateEvents(gate.id), JSON.stringify({ events }), { qos: 1 });
    }
    await eventually(() => gates.every((g) => g.acks.includes(PER_GATE)), 'acks up to the last seq of every gate');
    for (const gate of gates) expect(Math.max(...gate.acks)).toBe(PER_GATE);

    const res = await api('GET', `/events?compound=c-1&limit=1000`, admin);
    const { events } = (await res.json()) as { events: { gateId: string; seq: number; receivedAt: number }[] };
    expect(events).toHaveLength(GATES.length * PER_GATE);
    expect(new Set(events.map((e) => `${e.gateId}/${e.seq}`)).size).toBe(GATES.length * PER_GATE);
    expect(events.every((e) => e.receivedAt > 0)).toBe(true);

    await eventually(
      () => GATES.every((id) => streamed.includes(`"gateId":"${id}","compoundId":"c-1","seq":${PER_GATE}`)),
      'every gate’s last entry on /live',
    );
    expect(streamed.split('event: entry').length - 1).toBe(GATES.length * PER_GATE);
    controller.abort();
    await pump;

    const metrics = await (await fetch(`${cloud.baseUrl}/metrics`)).text();
    expect(metrics).toContain(`anxin_ingest_events_total{outcome="stored"} ${GATES.length * PER_GATE}`);
    expect(metrics).toContain(`anxin_ingest_events_total{outcome="duplicate"} ${GATES.length * PER_GATE}`);
  });

  it('pushes a health change made through the API to every gate of the compound', async () => {
    const manager = await cloud.login('manager');
    const created = await api('POST', '/residents', manager, { personId: 'p-42', compoundId: 'c-1', name: '李雷' });
    expect(created.status).toBe(201);
    const health = await api('PUT', '/health', manager, [{ personId: 'p-42', colour: 'red', ts: Date.now() }]);
    expect(await health.json()).toEqual({ updated: 1, notFound: [] });
    await eventually(
      () =>
        gates.every((g) => g.changes.some((d) => d.changes.some((c) => c.op === 'health' && c.personId === 'p-42'))),
      'the health change on every gate',
    );
    const delta = gates[0]!.changes.find((d) => d.changes.some((c) => c.op === 'health'))!;
    expect(delta.changes).toEqual([{ op: 'health', personId: 'p-42', colour: 'red', ts: expect.any(Number) }]);
    expect(delta.toRev).toBe(delta.fromRev + 1);
  });

  it('answers a gate’s sync request on its own sync topic', async () => {
    const gate = gates[1]!;
    const received: unknown[] = [];
    gate.client.on('message', (topic, payload) => {
      if (topic === topics.gateSync(gate.id)) received.push(JSON.parse(payload.toString()));
    });
    await gate.client.subscribeAsync(topics.gateSync(gate.id), { qos: 1 });
    await gate.client.publishAsync(topics.gateSyncRequest(gate.id), JSON.stringify({ fromRev: 0 }), { qos: 1 });
    await eventually(() => received.length > 0, 'a snapshot part');
    // The compound's rev: the gates' registered settings (gate.settings), the resident, the health change.
    const { rev } = (await (await api('GET', '/compounds/c-1', admin)).json()) as { rev: number };
    expect(rev).toBeGreaterThanOrEqual(2);
    expect(received[0]).toMatchObject({ part: 1, parts: 1, snapshotRev: rev });
  });
});
