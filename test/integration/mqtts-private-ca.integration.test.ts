/**
 * anxin's own MQTT clients over mqtts:// with a private CA (docs/deploy.md "TLS"). `openssl`
 * makes a throwaway CA and a broker certificate signed by it (a missing openssl fails this suite,
 * it never skips); the embedded broker serves MQTT over TLS on 127.0.0.1. A gate's `MqttLink`
 * with `caFile` and the cloud's MQTT client with the CA connect and exchange a message; without
 * the CA both are refused because the certificate is not trusted (verification is never off).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CloudMqttClient } from '../../cloud/mqtt/cloud-mqtt-client.ts';
import { MqttLink } from '../../edge-agent/mqtt-link.ts';
import { ConfigError } from '../../shared/errors.ts';
import { createKeysFile, parseKeysFile, type SigningKey } from '../../shared/keys.ts';
import type { Logger } from '../../shared/log.ts';
import { signToken } from '../../shared/token.ts';
import { topics } from '../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { startTestCloud } from '../../testkit/cloud.ts';

const execFileAsync = promisify(execFile);
/**
 * What Node's TLS says when the broker's certificate chains to no trusted CA: the broker sends only
 * its own certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE), whose issuer is our private CA.
 */
const UNTRUSTED = /unable to verify the first certificate|unable to get local issuer certificate/i;

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('openssl is not installed; this suite needs it to make its test CA (apt-get install -y openssl)');
    }
    throw error;
  }
}

/** A logger whose lines the test can read (pino JSON, one object per line). */
function recordingLogger(): { logger: Logger; lines: { level: number; msg: string; err?: string }[] } {
  const lines: { level: number; msg: string; err?: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

async function until(condition: () => boolean, what: string, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const keysFile = createKeysFile();
const keys = parseKeysFile(keysFile);
const signing = keys.signing as SigningKey;
const gateToken = (gateId: string) =>
  signToken({ sub: gateId, role: 'gate', compound: 'c1', exp: Date.now() + 3_600_000 }, signing);
const cloudToken = (clientId: string) => () =>
  signToken({ sub: clientId, role: 'cloud', exp: Date.now() + 3_600_000 }, signing);

let dir: string;
let caFile: string;
let broker: TestBroker;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'anxin-private-ca-'));
  caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  const key = join(dir, 'broker-key.pem');
  const csr = join(dir, 'broker.csr');
  const cert = join(dir, 'broker-cert.pem');
  const ext = join(dir, 'broker.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  // biome-ignore format: one openssl option per pair reads better than one per line
  await openssl([
    'req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '1', '-subj', '/CN=Anxin Test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await openssl(['req', ...ec, '-keyout', key, '-out', csr, '-subj', '/CN=localhost']);
  await writeFile(
    ext,
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
  );
  // biome-ignore format: one openssl option per pair reads better than one per line
  await openssl([
    'x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', '1', '-days', '1',
    '-out', cert, '-extfile', ext,
  ]);
  broker = await startTestBroker({
    ring: keys.ring,
    wsPort: 0,
    tls: { cert: await readFile(cert), key: await readFile(key) },
  });
  expect(broker.url).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
  expect(broker.wsUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
});

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

afterAll(async () => {
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function gateLink(options: { gateId: string; caFile?: string; logger?: Logger; url?: string }): MqttLink {
  const link = new MqttLink({
    url: options.url ?? broker.url,
    gateId: options.gateId,
    token: gateToken(options.gateId),
    ...(options.caFile === undefined ? {} : { caFile: options.caFile }),
    subscriptions: [topics.gateAck(options.gateId)],
    will: { topic: topics.gateStatus(options.gateId), payload: () => '{"online":false}' },
    keepaliveSec: 30,
    reconnectMs: 200,
    logger: options.logger ?? recordingLogger().logger,
  });
  stops.push(() => link.stop());
  return link;
}

function cloudClient(options: {
  clientId: string;
  ca?: Buffer;
  logger?: Logger;
  onMessage?: (topic: string, payload: Buffer) => Promise<void>;
}) {
  const client = new CloudMqttClient({
    url: broker.url,
    clientId: options.clientId,
    token: cloudToken(options.clientId),
    onMessage: options.onMessage ?? (async () => {}),
    logger: options.logger ?? recordingLogger().logger,
    connectWaitMs: 5_000,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  });
  stops.push(() => client.stop());
  return client;
}

describe('mqtts:// with a private CA', () => {
  it('connects a gate (mqtt.caFile) and the cloud (CA bundle) and carries a message between them', async () => {
    const received: { topic: string; payload: string }[] = [];
    const cloud = cloudClient({
      clientId: 'cloud',
      ca: await readFile(caFile),
      onMessage: async (topic, payload) => void received.push({ topic, payload: payload.toString() }),
    });
    await cloud.start();
    expect(cloud.connected).toBe(true);

    const link = gateLink({ gateId: 'g1', caFile });
    const up = new Promise<void>((resolve) => link.once('up', () => resolve()));
    link.start();
    await up;
    expect(link.publish(topics.gateAlarms('g1'), '{"kind":"tamper","ts":1,"detail":"over tls"}', { qos: 1 })).toBe(
      true,
    );
    await until(() => received.length > 0, 'the alarm at the cloud');
    expect(received).toEqual([
      { topic: topics.gateAlarms('g1'), payload: '{"kind":"tamper","ts":1,"detail":"over tls"}' },
    ]);
  });

  it('connects a gate over wss:// with mqtt.caFile too', async () => {
    const link = gateLink({ gateId: 'g4', caFile, url: `${broker.wsUrl}/mqtt` });
    const up = new Promise<void>((resolve) => link.once('up', () => resolve()));
    link.start();
    await up;
    expect(link.connected).toBe(true);
  });

  it('passes the CA through createCloud (`mqttCa`, as `anxin cloud --mqtt-ca` does)', async () => {
    const cloud = await startTestCloud({ keysFile, mqttUrl: broker.url, mqttCa: await readFile(caFile) });
    stops.push(() => cloud.stop());
    const health = (await (await fetch(`${cloud.baseUrl}/healthz`)).json()) as { mqtt?: string };
    expect(health.mqtt).toBe('connected');
  });

  it('refuses a gate without the CA: the certificate is not trusted', async () => {
    const { logger, lines } = recordingLogger();
    const link = gateLink({ gateId: 'g2', logger });
    let ups = 0;
    link.on('up', () => {
      ups += 1;
    });
    link.start();
    await until(() => lines.some((l) => l.msg === 'mqtt error'), 'a connection error');
    expect(lines.find((l) => l.msg === 'mqtt error')?.err).toMatch(UNTRUSTED);
    // The error says what to do next: the CA option, in the gate's own words.
    expect((lines.find((l) => l.msg === 'mqtt error') as { hint?: string } | undefined)?.hint).toMatch(
      /give the CA that signed it with mqtt\.caFile in gate\.json \(anxin gate add --mqtt-ca FILE\)/,
    );
    expect(link.connected).toBe(false);
    expect(ups).toBe(0);
  });

  it('refuses the cloud without the CA: the certificate is not trusted', async () => {
    const { logger, lines } = recordingLogger();
    const cloud = new CloudMqttClient({
      url: broker.url,
      clientId: 'cloud-2',
      token: cloudToken('cloud-2'),
      onMessage: async () => {},
      logger,
      connectWaitMs: 1_000,
    });
    stops.push(() => cloud.stop());
    await cloud.start(); // gives up waiting after connectWaitMs, as it does for an unreachable broker
    expect(cloud.connected).toBe(false);
    expect(lines.find((l) => l.msg === 'mqtt error')?.err).toMatch(UNTRUSTED);
    expect((lines.find((l) => l.msg === 'mqtt error') as { hint?: string } | undefined)?.hint).toMatch(
      /give the CA that signed it with --mqtt-ca FILE/,
    );
    expect(lines.some((l) => l.msg === 'connected and subscribed')).toBe(false);
  });

  it('makes a missing or non-PEM caFile a config error with a path: message line', async () => {
    const missing = join(dir, 'no-such-ca.pem');
    const notPem = join(dir, 'not-a-ca.txt');
    await writeFile(notPem, 'hello\n');
    const problems = (file: string) => {
      try {
        gateLink({ gateId: 'g3', caFile: file });
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).problems;
      }
      throw new Error('the link was created');
    };
    expect(problems(missing)).toEqual([`mqtt.caFile: cannot read ${missing}: ENOENT`]);
    expect(problems(notPem)).toEqual([`mqtt.caFile: ${notPem} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`]);
  });
});
