/**
 * A cloud held back by its own ingest is not cut off by its own keepalive (docs/deploy.md, "A broker
 * that dies silently"). MQTT.js handles packets one at a time and counts only acks and PINGRESPs
 * as the broker's answer; while a message is held (a full ingest queue, a slow store) the PINGRESP
 * waits unread behind it, so with a plain keepalive a hold past 1.5 × keepalive ended a healthy link.
 *
 * Real parts: the anxin broker on 127.0.0.1, the cloud's MQTT client and a gate publishing one
 * message that the cloud's handler holds for 3 × 1.5 × keepalive (within a cap of 6 keepalives:
 * past it the keepalive judges the link again, test/cloud/mqtt/hold-cap.test.ts). Time is
 * injected as there: the keepalive's interval timer (MQTT.js's and the holds') is a manual one
 * the test advances, so the hold is exact logical time, not a sleep; the keepalive is long in real
 * time (the broker hears from the cloud within 45 s however slow the machine). The link stays up
 * through the hold (no 'offline', still connected), and once the hold ends the message is
 * acknowledged to the gate on the same link and the next one arrives.
 */
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CloudMqttClient } from '../../../cloud/mqtt/cloud-mqtt-client.ts';
import { createKeysFile, parseKeysFile, type SigningKey } from '../../../shared/keys.ts';
import { signToken } from '../../../shared/token.ts';
import { topics } from '../../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../../testkit/broker.ts';
import { ManualIntervals } from './manual-intervals.ts';

const keys = parseKeysFile(createKeysFile());
const signing = keys.signing as SigningKey;
const KEEPALIVE_S = 30;
const KEEPALIVE_MS = KEEPALIVE_S * 1000;
/** The hold: twice past the 1.5 × keepalive after which MQTT.js alone gave the link up. */
const HOLD_MS = 3 * 1.5 * KEEPALIVE_MS;

let broker: TestBroker | undefined;
const stops: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  await broker?.stop();
  broker = undefined;
});

describe('a cloud whose ingest holds a message', () => {
  it('keeps its link through a hold longer than 1.5 × keepalive, then acknowledges and goes on', async () => {
    broker = await startTestBroker({ ring: keys.ring });
    const lines: { msg: string }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const received: string[] = [];
    let release: (() => void) | undefined;
    const timer = new ManualIntervals();
    const cloud = new CloudMqttClient({
      url: broker.url,
      clientId: 'cloud',
      token: () => signToken({ sub: 'cloud', role: 'cloud', exp: Date.now() + 3_600_000 }, signing),
      keepaliveSec: KEEPALIVE_S,
      holdCapKeepalives: 6,
      keepaliveTimer: timer,
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
    expect(cloud.connected).toBe(true);

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

    // The hold itself is the scenario: the cloud reads nothing for HOLD_MS of logical time, in
    // half-keepalive steps (the timers' period) with a macrotask between them for the pings.
    for (let held = 0; held < HOLD_MS; held += KEEPALIVE_MS / 2) {
      timer.advance(KEEPALIVE_MS / 2);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(lines.map((l) => JSON.stringify(l)).filter((l) => /offline|Keepalive timeout/i.test(l))).toEqual([]);
    expect(cloud.connected).toBe(true);

    release!();
    await first; // the PUBACK left once the hold ended: the same connection carried it
    await gate.publishAsync(topics.gateEvents('g-1'), 'two', { qos: 1 });
    await vi.waitFor(() => expect(received).toEqual(['one', 'two']), { timeout: 10_000, interval: 20 });
    expect(lines.map((l) => JSON.stringify(l)).filter((l) => /offline|Keepalive timeout/i.test(l))).toEqual([]);
  }, 60_000);
});
