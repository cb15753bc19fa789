/**
 * The broker over real sockets on 127.0.0.1 with MQTT.js clients (protocolVersion 4): exact
 * CONNACK and SUBACK codes, and refused publishes that never reach a subscriber.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../shared/keys.ts';
import { topics } from '../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import {
  closeAll,
  closed,
  collect,
  connect,
  connectAs,
  grantedQos,
  nextMessage,
  refusedCode,
  ring,
  tokenFor,
} from './fixtures.ts';

let broker: TestBroker;
const MAX_PAYLOAD = 4096;

beforeAll(async () => {
  broker = await startTestBroker({ ring, maxPayload: MAX_PAYLOAD, revocations: { jtis: ['revoked-at-start'] } });
});
afterEach(closeAll);
afterAll(() => broker.stop());

describe('CONNACK codes', () => {
  it('accepts a gate whose client id, username and token sub agree', async () => {
    const client = await connectAs(broker.url, 'g1', 'gate', { compound: 'c1' });
    expect(client.connected).toBe(true);
  });

  it('answers 4 (bad username or password) when the password is not a usable token', async () => {
    const stranger = generateSigningKey(1);
    const otherKid = generateSigningKey(2);
    const cases: [string, string | undefined][] = [
      ['no credentials', undefined],
      ['malformed', 'not-a-token'],
      ['wrongly signed', tokenFor('g1', 'gate', { key: stranger })],
      ['unknown key id', tokenFor('g1', 'gate', { key: otherKid })],
      ['expired', tokenFor('g1', 'gate', { exp: Date.now() - 1 })],
      ['revoked', tokenFor('g1', 'gate', { jti: 'revoked-at-start' })],
    ];
    for (const [what, password] of cases) {
      const options = password === undefined ? { clientId: 'g1' } : { clientId: 'g1', username: 'g1', password };
      expect(await refusedCode(broker.url, options), what).toBe(4);
    }
  });

  it('answers 5 (not authorized) when a genuine token does not allow this connection', async () => {
    const cases: [string, Parameters<typeof refusedCode>[1]][] = [
      ['HTTP role', { clientId: 'alice', username: 'alice', password: tokenFor('alice', 'manager') }],
      ['client id ≠ sub', { clientId: 'g2', username: 'g2', password: tokenFor('g1', 'gate') }],
      ['username ≠ sub', { clientId: 'g1', username: 'g2', password: tokenFor('g1', 'gate') }],
      [
        'will on another gate',
        {
          clientId: 'g1',
          username: 'g1',
          password: tokenFor('g1', 'gate'),
          will: { topic: topics.gateStatus('g2'), payload: Buffer.from('{}'), qos: 1, retain: true },
        },
      ],
    ];
    for (const [what, options] of cases) expect(await refusedCode(broker.url, options), what).toBe(5);
  });

  it('refuses an anonymous client even with a client id that names a gate', async () => {
    expect(await refusedCode(broker.url, { clientId: 'g1', username: 'g1' })).toBe(4);
  });
});

describe('SUBACK codes', () => {
  it('grants a gate its own ack/cmd/sync and its compound’s changes, 0x80 for the rest', async () => {
    const gate = await connectAs(broker.url, 'g1', 'gate', { compound: 'c1' });
    const filters = [
      topics.gateAck('g1'),
      topics.gateCmd('g1'),
      topics.gateSync('g1'),
      topics.compoundChanges('c1'),
      topics.gateCmd('g2'),
      topics.compoundChanges('c2'),
      topics.gateEvents('g1'),
      '#',
      'anxin/v1/gates/+/cmd',
      'anxin/v1/compounds/+/changes',
      '$SYS/#',
    ];
    expect(await grantedQos(gate, filters)).toEqual([1, 1, 1, 1, 128, 128, 128, 128, 128, 128, 128]);
  });

  it('grants the cloud the upstream filters of every gate (plain: aedes has no $share), and nothing else', async () => {
    const cloud = await connectAs(broker.url, 'cloud', 'cloud');
    const filters = [
      'anxin/v1/gates/+/events',
      'anxin/v1/gates/+/status',
      'anxin/v1/gates/+/alarms',
      'anxin/v1/gates/+/cmd/result',
      'anxin/v1/gates/+/sync/request',
      '$share/cloud/anxin/v1/gates/+/events',
      'anxin/v1/gates/+/ack',
      '#',
      '$SYS/#',
    ];
    expect(await grantedQos(cloud, filters)).toEqual([1, 1, 1, 1, 1, 128, 128, 128, 128]);
  });

  it('grants an observer status and alarms only', async () => {
    const observer = await connectAs(broker.url, 'watcher', 'observer');
    const filters = ['anxin/v1/gates/+/status', 'anxin/v1/gates/+/alarms', 'anxin/v1/gates/+/events', '#'];
    expect(await grantedQos(observer, filters)).toEqual([1, 1, 128, 128]);
  });
});

describe('publish authorization', () => {
  it('delivers a gate’s own events to the cloud', async () => {
    const cloud = await connectAs(broker.url, 'cloud', 'cloud');
    await cloud.subscribeAsync('anxin/v1/gates/+/events', { qos: 1 });
    const gate = await connectAs(broker.url, 'g1', 'gate', { compound: 'c1' });
    const received = nextMessage(cloud, topics.gateEvents('g1'));
    await gate.publishAsync(topics.gateEvents('g1'), '{"events":[]}', { qos: 1 });
    expect((await received).payload).toBe('{"events":[]}');
  });

  it('refuses $share subscriptions (aedes has none) and counts why; a gate is refused by the ACL first', async () => {
    const before = broker.server.stats().refused.subscribe;
    const cloud = await connectAs(broker.url, 'cloud-a', 'cloud');
    expect(await grantedQos(cloud, ['$share/cloud/anxin/v1/gates/+/status', 'anxin/v1/gates/+/status'])).toEqual([
      128, 1,
    ]);
    const gate = await connectAs(broker.url, 'g5', 'gate');
    expect(await grantedQos(gate, ['$share/cloud/anxin/v1/gates/g5/cmd'])).toEqual([128]);
    const after = broker.server.stats().refused.subscribe;
    expect((after['shared-subscription-unsupported'] ?? 0) - (before['shared-subscription-unsupported'] ?? 0)).toBe(1);
    expect((after['shared-subscription-not-allowed'] ?? 0) - (before['shared-subscription-not-allowed'] ?? 0)).toBe(1);
  });

  /**
   * The forger is disconnected (3.1.1 has no negative PUBACK). To show the refused message was not
   * merely late, a legitimate sentinel is sent after the forger is gone: the subscriber sees only it.
   */
  async function expectRefused(publish: (forger: Awaited<ReturnType<typeof connectAs>>) => void, forgerId = 'g1') {
    const cloud = await connectAs(broker.url, 'cloud', 'cloud');
    await cloud.subscribeAsync(['anxin/v1/gates/+/events', 'anxin/v1/gates/+/status'], { qos: 1 });
    const seen = collect(cloud);
    const forger = await connectAs(broker.url, forgerId, forgerId === 'watcher' ? 'observer' : 'gate', {
      compound: 'c1',
    });
    const gone = closed(forger);
    publish(forger);
    await gone;
    const honest = await connectAs(broker.url, 'g3', 'gate');
    const sentinel = nextMessage(cloud, topics.gateEvents('g3'));
    await honest.publishAsync(topics.gateEvents('g3'), 'sentinel', { qos: 1 });
    await sentinel;
    expect(seen.map((m) => m.payload)).toEqual(['sentinel']);
  }

  it('never delivers a gate’s publish on another gate’s topic, and disconnects it', async () => {
    const before = broker.server.stats().refused.publish['not-own-topic'] ?? 0;
    await expectRefused((forger) => forger.publish(topics.gateEvents('g2'), 'forged', { qos: 1 }));
    expect(broker.server.stats().refused.publish['not-own-topic']).toBe(before + 1);
  });

  it('never delivers a QoS 0 forgery either', async () => {
    await expectRefused((forger) => forger.publish(topics.gateStatus('g2'), 'forged', { qos: 0 }));
  });

  it('refuses an oversized payload from an otherwise allowed gate', async () => {
    await expectRefused((forger) => forger.publish(topics.gateEvents('g1'), 'x'.repeat(MAX_PAYLOAD + 1), { qos: 1 }));
    expect(broker.server.stats().refused.publish['payload-too-large']).toBeGreaterThanOrEqual(1);
  });

  it('refuses retained events (only a status is retained)', async () => {
    await expectRefused((forger) => forger.publish(topics.gateEvents('g1'), 'forged', { qos: 1, retain: true }));
  });

  it('refuses any publish from an observer and on $SYS', async () => {
    await expectRefused((forger) => forger.publish(topics.gateStatus('g1'), 'forged', { qos: 1 }), 'watcher');
    await expectRefused((forger) => forger.publish('$SYS/fake/new/clients', 'forged', { qos: 1 }));
  });
});

describe('stats()', () => {
  it('counts accepted connections and every refusal by reason', async () => {
    const before = broker.server.stats();
    expect(await refusedCode(broker.url, { clientId: 'g1', username: 'g1', password: 'junk' })).toBe(4);
    const gate = await connectAs(broker.url, 'g9', 'gate');
    await grantedQos(gate, ['#']);
    const after = broker.server.stats();
    expect(after.refused.connect.malformed).toBe((before.refused.connect.malformed ?? 0) + 1);
    expect(after.refused.subscribe['filter-too-broad']).toBe((before.refused.subscribe['filter-too-broad'] ?? 0) + 1);
    expect(after.connectsAccepted).toBe(before.connectsAccepted + 1);
    expect(after.refusedTotal).toBe(before.refusedTotal + 2);
    expect(after.clientsConnected).toBeGreaterThanOrEqual(1);
    expect(after.revokedTokens).toBe(1);
  });

  it('a client without a token never gets as far as a subscription', async () => {
    await expect(connect(broker.url, { clientId: 'x' })).rejects.toMatchObject({ code: 4 });
  });
});
