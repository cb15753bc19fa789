/**
 * Interop: Debian's real `mosquitto -c <generated conf>` with MQTT.js clients. An authorised gate
 * publishes its events and the cloud receives them; a gate cannot publish on another gate's topic.
 * Mosquitto answers a denied 3.1.1 publish with a normal PUBACK and drops the message, so
 * "cannot" is shown by delivery: a sentinel sent afterwards arrives, the forgery never does.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mosquittoAccounts } from '../../broker/mosquitto-config.ts';
import { signToken } from '../../shared/token.ts';
import { topics } from '../../shared/topics.ts';
import { type RunningMosquitto, startMosquitto } from '../../testkit/mosquitto.ts';
import { closeAll, collect, connect, grantedQos, nextMessage, refusedCode, signingKey } from './fixtures.ts';

const accounts = mosquittoAccounts(
  {
    gates: [
      { id: 'g1', compound: 'c1' },
      { id: 'g2', compound: 'c1' },
    ],
    clouds: ['cloud'],
  },
  (claims) => signToken({ ...claims, exp: Date.now() + 3_600_000 }, signingKey),
);
const login = (username: string) => {
  const account = accounts.find((a) => a.username === username)!;
  return { clientId: username, username, password: account.password };
};

let mosquitto: RunningMosquitto;
beforeAll(async () => {
  mosquitto = await startMosquitto({ accounts });
});
afterEach(closeAll);
afterAll(() => mosquitto.stop());

describe('generated config on a real mosquitto', () => {
  it('delivers an authorised gate’s events to the cloud (plain and $share subscriptions)', async () => {
    const cloud = await connect(mosquitto.url, login('cloud'));
    expect(await grantedQos(cloud, ['anxin/v1/gates/+/events', '$share/cloud/anxin/v1/gates/+/status'])).toEqual([
      1, 1,
    ]);
    const gate = await connect(mosquitto.url, login('g1'));
    const events = nextMessage(cloud, topics.gateEvents('g1'));
    const status = nextMessage(cloud, topics.gateStatus('g1'));
    await gate.publishAsync(topics.gateEvents('g1'), '{"events":[]}', { qos: 1 });
    await gate.publishAsync(topics.gateStatus('g1'), '{"online":true}', { qos: 1, retain: true });
    expect((await events).payload).toBe('{"events":[]}');
    expect((await status).payload).toBe('{"online":true}');
  });

  it('never delivers a gate’s publish on another gate’s topic', async () => {
    const cloud = await connect(mosquitto.url, login('cloud'));
    await cloud.subscribeAsync('anxin/v1/gates/+/events', { qos: 1 });
    const seen = collect(cloud);
    const forger = await connect(mosquitto.url, login('g1'));
    await forger.publishAsync(topics.gateEvents('g2'), 'forged', { qos: 1 });
    const sentinel = nextMessage(cloud, topics.gateEvents('g1'));
    await forger.publishAsync(topics.gateEvents('g1'), 'sentinel', { qos: 1 });
    await sentinel;
    expect(seen.map((m) => `${m.topic} ${m.payload}`)).toEqual([`${topics.gateEvents('g1')} sentinel`]);
  });

  it('refuses a gate’s subscription to # and to another gate’s topics with SUBACK 0x80', async () => {
    const spy = await connect(mosquitto.url, login('g1'));
    // The dynamic-security plugin checks each filter against the role's patterns (the ACL file did not).
    expect(
      await grantedQos(spy, [
        '#',
        'anxin/v1/#',
        'anxin/v1/gates/+/cmd',
        topics.gateCmd('g2'),
        topics.gateAck('g2'),
        'anxin/v1/compounds/c2/changes',
        '$SYS/#',
        topics.gateCmd('g1'),
        'anxin/v1/compounds/c1/changes',
      ]),
    ).toEqual([128, 128, 128, 128, 128, 128, 128, 1, 1]);
    const seen = collect(spy);
    const cloud = await connect(mosquitto.url, login('cloud'));
    await spy.subscribeAsync(topics.gateCmd('g1'), { qos: 1 });
    const own = nextMessage(spy, topics.gateCmd('g1'));
    await cloud.publishAsync(topics.gateCmd('g2'), 'for-g2', { qos: 1 });
    await cloud.publishAsync(topics.gateCmd('g1'), 'for-g1', { qos: 1 });
    await own;
    expect(seen.every((m) => m.topic !== topics.gateCmd('g2'))).toBe(true);
  });

  it('keeps a gate token from taking over the cloud’s session by naming its client id', async () => {
    const cloud = await connect(mosquitto.url, login('cloud'));
    let cloudDropped = false;
    cloud.on('close', () => {
      cloudDropped = true;
    });
    // g1's own credentials, the cloud's client id: mosquitto uses the username as the id instead.
    const intruder = await connect(mosquitto.url, { ...login('g1'), clientId: 'cloud' });
    await cloud.subscribeAsync(topics.gateEvents('g1'), { qos: 1 });
    const delivered = nextMessage(cloud, topics.gateEvents('g1'));
    await intruder.publishAsync(topics.gateEvents('g1'), 'still-there', { qos: 1 });
    expect((await delivered).payload).toBe('still-there');
    expect(cloudDropped).toBe(false);
  });

  it('refuses a wrong token and an anonymous client', async () => {
    const code = await refusedCode(mosquitto.url, { ...login('g1'), password: `${login('g2').password}` });
    expect(code).toBe(5);
    expect(await refusedCode(mosquitto.url, { clientId: 'g1' })).toBe(5);
  });
});
