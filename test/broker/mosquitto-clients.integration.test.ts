/**
 * A second client implementation against our aedes broker: Debian's `mosquitto_pub` and
 * `mosquitto_sub` (MQTT 3.1.1). A missing tool fails the suite (apt-get install mosquitto-clients).
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { topics } from '../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { closeAll, collect, connectAs, nextMessage, ring, tokenFor } from './fixtures.ts';

const run = promisify(execFile);

let broker: TestBroker;
beforeAll(async () => {
  broker = await startTestBroker({ ring });
});
afterEach(closeAll);
afterAll(() => broker.stop());

const common = () => ['-h', '127.0.0.1', '-p', String(broker.port), '-V', 'mqttv311'];
const as = (id: string, role: 'gate' | 'cloud', compound?: string) => [
  '-i',
  id,
  '-u',
  id,
  '-P',
  tokenFor(id, role, compound ? { compound } : {}),
];

/** Exit code and stderr of a mosquitto_pub run (it exits non-zero on a refused connection). */
async function mosquittoPub(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await run('mosquitto_pub', [...common(), ...args], { timeout: 10_000 });
    return { code: 0, stderr };
  } catch (error) {
    const e = error as { code?: number | string; stderr?: string };
    if (typeof e.code !== 'number') throw error;
    return { code: e.code, stderr: e.stderr ?? '' };
  }
}

describe('mosquitto_pub / mosquitto_sub against the anxin broker', () => {
  it('mosquitto_sub (cloud) receives what mosquitto_pub (an authorised gate) publishes', async () => {
    const granted = broker.server.stats().subscriptionsGranted;
    const sub = spawn(
      'mosquitto_sub',
      [...common(), ...as('cloud', 'cloud'), '-t', 'anxin/v1/gates/+/events', '-q', '1', '-C', '1', '-W', '15', '-v'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    sub.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    const exited = new Promise<number | null>((resolve) => sub.once('exit', resolve));
    try {
      await vi.waitFor(() => expect(broker.server.stats().subscriptionsGranted).toBe(granted + 1), {
        timeout: 10_000,
      });
      const pub = await mosquittoPub([
        ...as('g1', 'gate', 'c1'),
        '-t',
        topics.gateEvents('g1'),
        '-q',
        '1',
        '-m',
        '{"events":[]}',
      ]);
      expect(pub.code).toBe(0);
      expect(await exited).toBe(0);
      expect(out.trim()).toBe(`${topics.gateEvents('g1')} {"events":[]}`);
    } finally {
      sub.kill();
    }
  });

  it('never delivers mosquitto_pub’s publish on another gate’s topic', async () => {
    const cloud = await connectAs(broker.url, 'cloud', 'cloud');
    await cloud.subscribeAsync('anxin/v1/gates/+/events', { qos: 1 });
    const seen = collect(cloud);
    const refusedBefore = broker.server.stats().refused.publish['not-own-topic'] ?? 0;
    await mosquittoPub([...as('g1', 'gate'), '-t', topics.gateEvents('g2'), '-q', '1', '-m', 'forged']);
    expect(broker.server.stats().refused.publish['not-own-topic']).toBe(refusedBefore + 1);
    const sentinel = nextMessage(cloud, topics.gateEvents('g3'));
    await mosquittoPub([...as('g3', 'gate'), '-t', topics.gateEvents('g3'), '-q', '1', '-m', 'sentinel']);
    await sentinel;
    expect(seen.map((m) => m.payload)).toEqual(['sentinel']);
  });

  it('refuses an anonymous mosquitto_pub (non-zero exit, connection refused)', async () => {
    const result = await mosquittoPub(['-i', 'g1', '-t', topics.gateEvents('g1'), '-m', 'x']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/refused/i);
  });

  it('refuses mosquitto_pub with a token for another client id', async () => {
    const result = await mosquittoPub([
      '-i',
      'g2',
      '-u',
      'g2',
      '-P',
      tokenFor('g1', 'gate'),
      '-t',
      topics.gateEvents('g2'),
      '-m',
      'x',
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/not authori[sz]ed/i);
  });
});
