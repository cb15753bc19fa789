/**
 * A broker that dies silently (docs/deploy.md, "A broker that dies silently"): its host vanishes
 * without a FIN or RST, so the cloud's TCP connection stays open and nothing more arrives — a
 * half-open link. Only the MQTT keepalive notices: MQTT.js pings after a keepalive of silence and
 * gives the link up 1.5 × keepalive after the last answer. With MQTT.js's default 60 s the cloud's
 * `/healthz` said `ok` for up to 90 s while no gate could reach it; the cloud now uses 15 s.
 *
 * Real parts: the anxin broker and two full clouds on 127.0.0.1, each behind a TCP proxy that can
 * go silent (every byte dropped both ways, every connection left open; new connections accepted and
 * never answered). One cloud has a short keepalive (2 s, to keep the test short), the other a long
 * one (60 s, MQTT.js's default): once the first says `degraded`, the second still says `ok` — what
 * a long keepalive costs — and when the broker answers again the first reconnects and says `ok`.
 * Every wait is on the cloud's own `/healthz`, bounded; no sleeps.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createKeysFile, parseKeysFile } from '../../../shared/keys.ts';
import { startTestBroker, type TestBroker } from '../../../testkit/broker.ts';
import { startTestCloud, type TestCloud } from '../../../testkit/cloud.ts';
import { type SilentProxy, startSilentProxy } from '../../../testkit/silent-proxy.ts';

const keysFile = createKeysFile();
const { ring } = parseKeysFile(keysFile);
let broker: TestBroker | undefined;
const proxies: SilentProxy[] = [];
const clouds: TestCloud[] = [];

afterEach(async () => {
  await Promise.all(clouds.splice(0).map((cloud) => cloud.stop()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.stop()));
  await broker?.stop();
  broker = undefined;
});

async function health(cloud: TestCloud): Promise<Record<string, unknown>> {
  return (await (await fetch(`${cloud.baseUrl}/healthz`)).json()) as Record<string, unknown>;
}

async function cloudBehindProxy(clientId: string, keepaliveSec: number) {
  const proxy = await startSilentProxy(broker!.port);
  proxies.push(proxy);
  const cloud = await startTestCloud({
    keysFile,
    mqttUrl: proxy.url,
    mqttClientId: clientId,
    mqttKeepaliveSec: keepaliveSec,
    mqttReconnectMs: 100,
  });
  clouds.push(cloud);
  return { proxy, cloud };
}

describe('a broker that stops answering (half-open TCP)', () => {
  it('the cloud says degraded once its keepalive runs out, and ok again when the broker is back', async () => {
    broker = await startTestBroker({ ring });
    const short = await cloudBehindProxy('cloud', 2);
    const long = await cloudBehindProxy('cloud-long', 60);
    for (const { cloud } of [short, long]) {
      await vi.waitFor(async () => expect(await health(cloud)).toMatchObject({ status: 'ok', mqtt: 'connected' }), {
        timeout: 15_000,
        interval: 50,
      });
    }

    short.proxy.silence();
    long.proxy.silence();
    // Nothing closed the connection: only the keepalive can tell.
    await vi.waitFor(
      async () => expect(await health(short.cloud)).toMatchObject({ status: 'degraded', mqtt: 'disconnected' }),
      { timeout: 30_000, interval: 50 },
    );
    // The long keepalive has not noticed yet: it would say ok for up to 1.5 × 60 s.
    expect(await health(long.cloud)).toMatchObject({ status: 'ok', mqtt: 'connected' });

    short.proxy.revive();
    await vi.waitFor(async () => expect(await health(short.cloud)).toMatchObject({ status: 'ok', mqtt: 'connected' }), {
      timeout: 45_000,
      interval: 50,
    });
  }, 120_000);
});
