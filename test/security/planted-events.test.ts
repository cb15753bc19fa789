/**
 * What a stolen gate can plant (docs/security.md, "A stolen gate"): over a real broker (aedes), a
 * gate of compound A publishes passages naming compound B's resident, a person nobody knows, a
 * date in 2100 and one older than the keep window. The cloud stores none of them, counts each by
 * reason, raises one `events-refused` alarm for the gate (not one per message), and acknowledges
 * past them, so the gate's journal can drain; the honest passages around them are stored.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';
import { ackMessageSchema, type EntryEvent } from '../../shared/schemas/mqtt.ts';
import { topics } from '../../shared/topics.ts';
import { entryEvent, resident } from '../cloud/fixtures.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';

const DAY = 24 * 3_600_000;

/** Resolves with `check()`'s first truthy value, polling every 20 ms (a wait on state, never a timed assertion). */
async function eventually<T>(check: () => T | false | Promise<T | false>, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
const GATE = 'gate-a';

describe('a stolen gate planting passages', () => {
  const keysFile = createKeysFile();
  let broker: TestBroker;
  let cloud: TestCloud;
  let gate: MqttClient;
  const acks: number[] = [];

  const event = (seq: number, extra: Partial<EntryEvent> = {}) =>
    entryEvent(GATE, seq, { personId: 'a-1', ts: Date.now() - 60_000, ...extra });
  const publish = (...events: EntryEvent[]) =>
    gate.publishAsync(topics.gateEvents(GATE), JSON.stringify({ events }), { qos: 1 });
  const storedSeqs = async () =>
    (await cloud.cloud.core.store.queryEvents({ gateId: GATE, limit: 100 })).events
      .map((e) => e.seq)
      .sort((a, b) => a - b);
  const rejects = async (reason: string) => {
    const text = await (await fetch(`${cloud.baseUrl}/metrics`)).text();
    return Number(new RegExp(`^anxin_ingest_rejects_total\\{reason="${reason}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  };
  const refusalAlarms = async () =>
    (await cloud.cloud.core.store.recentAlarms(GATE, 50)).filter((a) => a.kind === 'events-refused');

  beforeAll(async () => {
    broker = await startTestBroker({ ring: parseKeysFile(keysFile).ring });
    cloud = await startTestCloud({ mqttUrl: broker.url, keysFile });
    const admin = await cloud.login('admin');
    const api = (path: string, body: unknown) =>
      fetch(`${cloud.baseUrl}/api/v1${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await api('/compounds', { id: 'c-a', name: 'A' })).status).toBe(201);
    expect((await api('/compounds', { id: 'c-b', name: 'B' })).status).toBe(201);
    await cloud.cloud.core.store.upsertResidents([resident('a-1', 'c-a'), resident('b-1', 'c-b')]);
    const res = await api('/gates', { id: GATE, compoundId: 'c-a', name: 'A north' });
    const { token } = (await res.json()) as { token: string };
    gate = await mqtt.connectAsync(broker.url, {
      clientId: GATE,
      username: GATE,
      password: token,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    gate.on('message', (topic, payload) => {
      if (topic === topics.gateAck(GATE)) acks.push(ackMessageSchema.parse(JSON.parse(payload.toString())).upTo);
    });
    await gate.subscribeAsync(topics.gateAck(GATE), { qos: 1 });
  }, 60_000);

  afterAll(async () => {
    await gate?.endAsync();
    await cloud?.stop();
    await broker?.stop();
  });

  it('refuses, counts and alarms on planted passages, stores the honest ones, and acks past the refused', async () => {
    await publish(
      event(1),
      event(2, { personId: 'b-1' }), // compound B's resident
      event(3, { ts: Date.UTC(2100, 0, 1) }), // would sit at the top of every list, never purged
      event(4, { ts: Date.now() - 60 * DAY }), // older than the 28-day keep window
      event(5, { personId: 'nobody' }), // a person the cloud does not know
      event(6, { method: 'manual', personId: undefined, guard: 'guard-1' }), // a manual open names no one
      event(7),
    );
    await eventually(() => acks.includes(7), 'the ack stepping over the refused seqs up to 7');
    expect(await storedSeqs()).toEqual([1, 6, 7]);
    expect(await rejects('foreign-person')).toBe(1);
    expect(await rejects('ts-in-future')).toBe(1);
    expect(await rejects('ts-too-old')).toBe(1);
    expect(await rejects('unknown-person')).toBe(1);
    const alarms = await eventually(async () => {
      const found = await refusalAlarms();
      return found.length > 0 && found;
    }, 'the events-refused alarm');
    expect(alarms).toHaveLength(1);
    expect(alarms[0]).toMatchObject({ gateId: GATE, compoundId: 'c-a' });
    expect(alarms[0]!.detail).toContain('refused 4 events');
    // Newest first, the list starts with an honest passage: nothing dated 2100 is there.
    const top = (await cloud.cloud.core.store.queryEvents({ compoundId: 'c-a', limit: 1 })).events[0];
    expect(top?.ts).toBeLessThanOrEqual(Date.now());
    // Compound B holds nothing from this gate.
    expect((await cloud.cloud.core.store.queryEvents({ compoundId: 'c-b', limit: 10 })).events).toEqual([]);
  });

  it('answers a resent refused passage again without storing it, and alarms at most once per window', async () => {
    const before = acks.length;
    await publish(event(2, { personId: 'b-1' }), event(8, { personId: 'b-1' }), event(9));
    await eventually(() => acks.slice(before).includes(9), 'the ack up to 9');
    expect(await storedSeqs()).toEqual([1, 6, 7, 9]);
    expect(await rejects('foreign-person')).toBe(3);
    // The alarm of the first message covers this window; the new refusals wait for the next one.
    expect(await refusalAlarms()).toHaveLength(1);
    expect(await cloud.cloud.core.store.ackedUpTo(GATE)).toBe(9);
  });
});
