/**
 * A stolen gate that floods sync requests and stops reading its own `sync` topic must not delay
 * the cloud's acks to the other gates (docs/deploy.md, "Limits per connection"). Real broker and
 * real cloud on 127.0.0.1; the stolen gate speaks raw MQTT over a socket it never reads again.
 *
 * Without the broker's per-client limit, aedes waits for the stolen gate's socket to drain before
 * it finishes delivering the cloud's sync answer, and reads nothing more from the cloud until then
 * — so every ack to every gate waited behind it (for aedes' 60 s drain timeout).
 */
import { connect as connectTcp, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';
import { signToken } from '../../shared/token.ts';
import { topics } from '../../shared/topics.ts';
import { closeAll, connect } from '../broker/fixtures.ts';
import { entryEvent } from '../cloud/fixtures.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { startTestCloud, type TestCloud } from '../../testkit/cloud.ts';

const keysFile = createKeysFile();
const keys = parseKeysFile(keysFile);
const COMPOUND = 'c1';
const gateToken = (id: string) =>
  signToken({ sub: id, role: 'gate', compound: COMPOUND, exp: Date.now() + 3_600_000 }, keys.signing!);

let broker: TestBroker;
let cloud: TestCloud;

beforeAll(async () => {
  // 256 KiB of unsent answers is plenty for a gate that reads; the stolen one passes it quickly.
  broker = await startTestBroker({ ring: keys.ring, limits: { maxQueuedBytes: 256 * 1024 } });
  cloud = await startTestCloud({ keysFile, mqttUrl: broker.url });
  const actor = { username: 'test', role: 'admin' as const };
  const { registry } = cloud.cloud.core;
  await registry.createCompound({ id: COMPOUND, name: 'Sunny Garden', timeZone: 'Asia/Shanghai' }, actor);
  for (const id of ['stolen', 'honest']) {
    await registry.registerGate({ id, compoundId: COMPOUND, name: id, antiPassback: false }, actor);
  }
  // A snapshot of some 100 KB per sync answer.
  const rows = Array.from({ length: 600 }, (_, i) => ({
    row: i + 2,
    personId: `p-${String(i).padStart(6, '0')}`,
    compoundId: COMPOUND,
    householdId: `h-${String(i >> 2).padStart(4, '0')}`,
    kind: 'resident' as const,
    name: '张三明',
    cards: [],
    elderly: false,
    validFrom: null,
    validTo: null,
  }));
  const imported = await registry.importResidents(rows, actor);
  expect(imported).toEqual({ created: 600, updated: 0 });
}, 60_000);

afterAll(async () => {
  await closeAll();
  await cloud.stop();
  await broker.stop();
});

/** Signs in as `stolen`, subscribes to its sync topic, reads CONNACK and SUBACK, then never reads again. */
async function stalledGate(): Promise<Socket> {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connectTcp({ port: broker.port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
  socket.on('error', () => {});
  socket.write(
    mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      keepalive: 0,
      clientId: 'stolen',
      username: 'stolen',
      password: Buffer.from(gateToken('stolen')),
    }),
  );
  socket.write(
    mqttPacket.generate({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [{ topic: topics.gateSync('stolen'), qos: 1 }],
    }),
  );
  await new Promise<void>((resolve) => {
    let got = 0;
    const onData = (chunk: Buffer) => {
      got += chunk.length;
      if (got >= 9) {
        socket.off('data', onData);
        socket.pause();
        resolve();
      }
    };
    socket.on('data', onData);
  });
  return socket;
}

describe('a stolen gate that stops reading its sync topic', () => {
  it('is disconnected, and the honest gate gets every ack meanwhile', async () => {
    const stolen = await stalledGate();
    let stolenOpen = true;
    const stolenClosed = new Promise<void>((resolve) =>
      stolen.once('close', () => {
        stolenOpen = false;
        resolve();
      }),
    );
    // Ask for a full snapshot again and again, as fast as the socket takes it, until cut off.
    const request = mqttPacket.generate({
      cmd: 'publish',
      topic: topics.gateSyncRequest('stolen'),
      payload: Buffer.from('{"fromRev":0}'),
      qos: 0,
      dup: false,
      retain: false,
    });
    const flood = (async () => {
      while (stolenOpen) {
        if (!stolen.write(request)) await Promise.race([new Promise((r) => stolen.once('drain', r)), stolenClosed]);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const honest = await connect(broker.url, { clientId: 'honest', username: 'honest', password: gateToken('honest') });
    await honest.subscribeAsync(topics.gateAck('honest'), { qos: 1 });
    for (let seq = 1; seq <= 40; seq++) {
      const acked = new Promise<void>((resolve) => {
        const onMessage = (topic: string, payload: Buffer) => {
          if (topic !== topics.gateAck('honest')) return;
          if ((JSON.parse(payload.toString()) as { upTo: number }).upTo >= seq) {
            honest.off('message', onMessage);
            resolve();
          }
        };
        honest.on('message', onMessage);
      });
      await honest.publishAsync(topics.gateEvents('honest'), JSON.stringify({ events: [entryEvent('honest', seq)] }), {
        qos: 1,
      });
      await acked;
    }
    await stolenClosed;
    await flood;
    expect(broker.server.stats().kicked['slow-reader']).toBe(1);
  }, 120_000);
});
