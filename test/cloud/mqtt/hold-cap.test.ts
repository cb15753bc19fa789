/**
 * An ingest hold keeps the cloud's keepalive quiet only up to a cap (cloud/mqtt/keepalive-during-holds.ts;
 * docs/deploy.md, "A broker that dies silently"). Without the cap a wedged store kept a broker that
 * died silently unnoticed for as long as it stayed wedged, `/healthz` saying `ok`.
 *
 * Real parts: the anxin broker on 127.0.0.1 (behind a TCP proxy that can go silent like a dead
 * host), the cloud's MQTT client and an MQTT.js gate. Time is injected: the keepalive's interval
 * timer (MQTT.js's and the holds') is a manual one that the test advances, so "a hold of N
 * keepalives" is exact logical time, not a sleep, and a busy machine changes nothing; the only
 * waits are on events (a link state, a PUBACK, a message), bounded.
 */
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CloudMqttClient } from '../../../cloud/mqtt/cloud-mqtt-client.ts';
import { createKeysFile, parseKeysFile, type SigningKey } from '../../../shared/keys.ts';
import { signToken } from '../../../shared/token.ts';
import { topics } from '../../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../../testkit/broker.ts';
import { type SilentProxy, startSilentProxy } from '../../../testkit/silent-proxy.ts';
import { ManualIntervals } from './manual-intervals.ts';

const keys = parseKeysFile(createKeysFile());
const signing = keys.signing as SigningKey;
/** Long in real time (the broker hears from the cloud within 45 s however slow the machine), free in logical time. */
const KEEPALIVE_S = 30;
const KEEPALIVE_MS = KEEPALIVE_S * 1000;
const CAP_KEEPALIVES = 3;

let broker: TestBroker | undefined;
let proxy: SilentProxy | undefined;
const stops: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  await proxy?.stop();
  proxy = undefined;
  await broker?.stop();
  broker = undefined;
});

/** The MQTT packet types a client sent on each connection through the proxy (PUBACK = 4). */
function packetTypes() {
  const pending = new Map<number, Buffer>();
  const types = new Map<number, number[]>();
  const record = (connection: number, chunk: Buffer) => {
    let buf = Buffer.concat([pending.get(connection) ?? Buffer.alloc(0), chunk]);
    for (;;) {
      let length = 0;
      let i = 1;
      for (let shift = 0; i < buf.length; i++, shift += 7) {
        length += (buf[i]! & 0x7f) << shift;
        if ((buf[i]! & 0x80) === 0) break;
      }
      if (i >= buf.length || buf.length < i + 1 + length) break;
      types.set(connection, [...(types.get(connection) ?? []), buf[0]! >> 4]);
      buf = buf.subarray(i + 1 + length);
    }
    pending.set(connection, buf);
  };
  return { record, of: (connection: number) => types.get(connection) ?? [] };
}

/** A cloud (behind a silenceable proxy) that holds the first event message until `release()`. */
async function heldCloud() {
  broker = await startTestBroker({ ring: keys.ring });
  const sent = packetTypes();
  proxy = await startSilentProxy(broker.port, { onClientBytes: sent.record });
  const timer = new ManualIntervals();
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  const received: string[] = [];
  let overCap = 0;
  let withheld = 0;
  let release: (() => void) | undefined;
  const cloud = new CloudMqttClient({
    url: proxy.url,
    clientId: 'cloud',
    token: () => signToken({ sub: 'cloud', role: 'cloud', exp: Date.now() + 3_600_000 }, signing),
    keepaliveSec: KEEPALIVE_S,
    holdCapKeepalives: CAP_KEEPALIVES,
    keepaliveTimer: timer,
    onHoldOverCap: () => {
      overCap += 1;
    },
    onPubackWithheld: () => {
      withheld += 1;
    },
    reconnectMs: 50,
    logger,
    onMessage: (topic, payload) => {
      if (!topic.endsWith('/events')) return undefined;
      received.push(payload.toString());
      if (received.length > 1) return undefined;
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    },
  });
  stops.push(() => cloud.stop());
  await cloud.start();
  expect(cloud.linkState).toBe('connected');
  const gate = await mqtt.connectAsync(broker.url, {
    clientId: 'g-1',
    username: 'g-1',
    password: signToken({ sub: 'g-1', role: 'gate', compound: 'c1', exp: Date.now() + 3_600_000 }, signing),
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  stops.push(() => gate.endAsync(true));
  const first = gate.publishAsync(topics.gateEvents('g-1'), 'one', { qos: 1 });
  await vi.waitFor(() => expect(release).toBeDefined(), { timeout: 10_000, interval: 20 });
  const timedOut = () => lines.filter((l) => /Keepalive timeout/.test(l)).length;
  const capLogged = () => lines.filter((l) => /past the cap/.test(l)).length;
  /** Logical time in half-keepalive steps (the timers' period), a macrotask between steps. */
  const advance = async (ms: number) => {
    for (let done = 0; done < ms; done += KEEPALIVE_MS / 2) {
      timer.advance(KEEPALIVE_MS / 2);
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return {
    cloud,
    sent,
    gate,
    first,
    received,
    release: () => release!(),
    advance,
    timedOut,
    capLogged,
    overCap: () => overCap,
    withheld: () => withheld,
    withheldLogged: () => lines.filter((l) => /PUBACK withheld/.test(l)).length,
  };
}

describe('an ingest hold past the cap', () => {
  it('over a broker that stopped answering: the keepalive judges again and the link is declared down', async () => {
    const held = await heldCloud();
    proxy!.silence();
    // Up to the cap the hold keeps the keepalive quiet, though nothing answers.
    await held.advance(CAP_KEEPALIVES * KEEPALIVE_MS);
    expect(held.timedOut()).toBe(0);
    expect(held.cloud.linkState).toBe('connected');
    expect(held.overCap()).toBe(0);
    // Then MQTT.js's keepalive runs out 1.5 × keepalive later: the link is down, /healthz degraded.
    await held.advance(2 * KEEPALIVE_MS);
    expect(held.timedOut()).toBeGreaterThan(0);
    await vi.waitFor(() => expect(held.cloud.linkState).not.toBe('connected'), { timeout: 10_000, interval: 20 });
    expect(held.overCap()).toBe(1);
    expect(held.capLogged()).toBe(1);
    // Said once per hold, however long it goes on.
    await held.advance(10 * KEEPALIVE_MS);
    expect(held.overCap()).toBe(1);
    held.release();
  }, 60_000);

  it('over a live broker too (its answers wait unread behind the hold): the link ends, comes back, and gets no stale PUBACK', async () => {
    const held = await heldCloud();
    await held.advance((CAP_KEEPALIVES + 2) * KEEPALIVE_MS);
    expect(held.timedOut()).toBeGreaterThan(0);
    expect(held.overCap()).toBe(1);
    await vi.waitFor(() => expect(held.sent.of(2)).toContain(8), { timeout: 10_000, interval: 20 }); // re-subscribed
    await vi.waitFor(() => expect(held.cloud.linkState).toBe('connected'), { timeout: 10_000, interval: 20 });
    // The held message ends on the new link: its PUBACK (a packet id of the old session, which the
    // new one may have given to another message) is not sent.
    held.release();
    await held.gate.publishAsync(topics.gateEvents('g-1'), 'two', { qos: 1 });
    await vi.waitFor(() => expect(held.received).toEqual(['one', 'two']), { timeout: 10_000, interval: 20 });
    // A barrier: once the broker acks a later publish of the cloud's, the proxy has passed on every
    // byte the cloud sent before it on this link — the PUBACK of 'two', and a stale one, if any.
    await held.cloud.publish(topics.cloudStatus(), { online: true, ts: Date.now() }, { retain: true });
    expect(held.sent.of(2).filter((type) => type === 4)).toHaveLength(1);
    // MQTT.js swallows the withheld PUBACK's error: the client logs and counts it itself.
    expect(held.withheld()).toBe(1);
    expect(held.withheldLogged()).toBe(1);
  }, 60_000);

  it('over a live broker, a hold of most of the cap (twice past 1.5 × keepalive) keeps its link, then acks and goes on', async () => {
    const held = await heldCloud();
    await held.advance((CAP_KEEPALIVES - 0.5) * KEEPALIVE_MS);
    expect(held.timedOut()).toBe(0);
    expect(held.cloud.linkState).toBe('connected');
    expect(held.overCap()).toBe(0);
    held.release();
    await held.first; // the PUBACK left on the same link once the hold ended
    await held.gate.publishAsync(topics.gateEvents('g-1'), 'two', { qos: 1 });
    await vi.waitFor(() => expect(held.received).toEqual(['one', 'two']), { timeout: 10_000, interval: 20 });
    expect(held.cloud.linkState).toBe('connected');
    expect(held.overCap()).toBe(0);
    expect(held.capLogged()).toBe(0);
    expect(held.withheld()).toBe(0);
  }, 60_000);
});
