/**
 * The same broker over WebSocket, TLS and secure WebSocket. The TLS certificate is self-signed and
 * made at test time with `openssl` (a missing openssl fails this suite, it does not skip it).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { closeAll, connect, connectAs, grantedQos, nextMessage, refusedCode, ring, tokenFor } from './fixtures.ts';

const run = promisify(execFile);

afterEach(closeAll);

describe('MQTT over WebSocket', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker({ ring, wsPort: 0 });
  });
  afterAll(() => broker.stop());

  it('authenticates and applies the ACL to WebSocket clients like TCP ones', async () => {
    expect(broker.wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const cloud = await connectAs(broker.url, 'cloud', 'cloud');
    await cloud.subscribeAsync('anxin/v1/gates/+/events', { qos: 1 });
    const gate = await connectAs(`${broker.wsUrl}/mqtt`, 'g1', 'gate', { compound: 'c1' });
    expect(await grantedQos(gate, [topics.gateCmd('g1'), topics.gateCmd('g2')])).toEqual([1, 128]);
    const received = nextMessage(cloud, topics.gateEvents('g1'));
    await gate.publishAsync(topics.gateEvents('g1'), 'over-ws', { qos: 1 });
    expect((await received).payload).toBe('over-ws');
  });

  it('refuses a WebSocket client with a bad token (CONNACK 4)', async () => {
    expect(await refusedCode(`${broker.wsUrl}/mqtt`, { clientId: 'g1', username: 'g1', password: 'nope' })).toBe(4);
  });
});

describe('MQTT over TLS and secure WebSocket', () => {
  let broker: TestBroker;
  let dir: string;
  let cert: Buffer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anxin-tls-'));
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    // biome-ignore format: one openssl option per pair reads better than one per line
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ]);
    cert = await readFile(certFile);
    broker = await startTestBroker({ ring, wsPort: 0, tls: { cert, key: await readFile(keyFile) } });
  });
  afterAll(async () => {
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves mqtts with the certificate and verifies tokens as usual', async () => {
    expect(broker.url).toMatch(/^mqtts:/);
    const cloud = await connectAs(broker.url, 'cloud', 'cloud', { ca: cert, rejectUnauthorized: true });
    await cloud.subscribeAsync('anxin/v1/gates/+/status', { qos: 1 });
    const gate = await connectAs(broker.url, 'g1', 'gate', { ca: cert, rejectUnauthorized: true });
    const received = nextMessage(cloud, topics.gateStatus('g1'));
    await gate.publishAsync(topics.gateStatus('g1'), 'tls', { qos: 1, retain: true });
    expect((await received).payload).toBe('tls');
    expect(await refusedCode(broker.url, { clientId: 'g1', username: 'g1', password: 'x', ca: cert })).toBe(4);
  });

  it('serves wss on the WebSocket port', async () => {
    expect(broker.wsUrl).toMatch(/^wss:/);
    const gate = await connectAs(`${broker.wsUrl}/mqtt`, 'g2', 'gate', { ca: cert, rejectUnauthorized: true });
    expect(gate.connected).toBe(true);
  });

  it('does not speak plain MQTT on the TLS port', async () => {
    const plain = broker.url.replace('mqtts:', 'mqtt:');
    const password = tokenFor('g1', 'gate');
    await expect(connect(plain, { clientId: 'g1', username: 'g1', password, connectTimeout: 2_000 })).rejects.toThrow();
  });

  it('rejects a client that does not trust the certificate', async () => {
    await expect(connectAs(broker.url, 'g3', 'gate', { rejectUnauthorized: true })).rejects.toThrow(/self[- ]signed/i);
  });
});
