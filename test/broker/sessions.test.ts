/**
 * Session life: a gate's retained status and last will, and sessions ended by revocation
 * (pushed, or from the hot-reloaded file) and by token expiry.
 */
import { appendFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseRevocationFile, RevocationList } from '../../broker/revocations.ts';
import { subjectRevocation } from '../../shared/revocation-entry.ts';
import { topics } from '../../shared/topics.ts';
import { startTestBroker, type TestBroker } from '../../testkit/broker.ts';
import { closeAll, closed, connect, connectAs, nextMessage, refusedCode, ring, tokenFor } from './fixtures.ts';

let broker: TestBroker | undefined;
let dir: string | undefined;

afterEach(async () => {
  await closeAll();
  await broker?.stop();
  broker = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('retained status and last will', () => {
  it('keeps a gate’s retained status and publishes its will when it vanishes', async () => {
    broker = await startTestBroker({ ring });
    const gate = await connectAs(broker.url, 'g1', 'gate', {
      compound: 'c1',
      keepalive: 30,
      will: { topic: topics.gateStatus('g1'), payload: Buffer.from('{"online":false}'), qos: 1, retain: true },
    });
    await gate.publishAsync(topics.gateStatus('g1'), '{"online":true}', { qos: 1, retain: true });

    const observer = await connectAs(broker.url, 'watcher', 'observer');
    const retained = nextMessage(observer, topics.gateStatus('g1'));
    await observer.subscribeAsync('anxin/v1/gates/+/status', { qos: 1 });
    expect(await retained).toMatchObject({ payload: '{"online":true}', retain: true });

    // Kill the TCP connection without DISCONNECT: the broker must publish the will (§3.1.2.5).
    const will = nextMessage(observer, topics.gateStatus('g1'), (p) => p.includes('false'));
    gate.stream.destroy();
    expect((await will).payload).toBe('{"online":false}');

    // The will is retained as well: a late subscriber sees the gate offline.
    const late = await connectAs(broker.url, 'cloud', 'cloud');
    const lateStatus = nextMessage(late, topics.gateStatus('g1'));
    await late.subscribeAsync('anxin/v1/gates/+/status', { qos: 1 });
    expect(await lateStatus).toMatchObject({ payload: '{"online":false}', retain: true });
  });
});

describe('revocation', () => {
  it('revoke(jti) disconnects the live session and refuses the token afterwards (CONNACK 4)', async () => {
    broker = await startTestBroker({ ring });
    const options = { clientId: 'g1', username: 'g1', password: tokenFor('g1', 'gate', { jti: 'stolen-1' }) };
    const gate = await connect(broker.url, options);
    const other = await connectAs(broker.url, 'g2', 'gate');
    const gone = closed(gate);
    broker.server.revoke('stolen-1');
    await gone;
    expect(other.connected).toBe(true);
    expect(await refusedCode(broker.url, options)).toBe(4);
    expect(broker.server.stats().kicked.revoked).toBe(1);
    expect(broker.server.stats().refused.connect.revoked).toBe(1);
  });

  it('reloads the revocation file when it changes, even when it is replaced', async () => {
    dir = await mkdtemp(join(tmpdir(), 'anxin-revocations-'));
    const file = join(dir, 'revoked.txt');
    await writeFile(file, '# revoked device tokens\nold-token\n');
    broker = await startTestBroker({ ring, revocations: { file, pollMs: 50 } });
    expect(broker.server.stats().revokedTokens).toBe(1);

    const first = { clientId: 'g1', username: 'g1', password: tokenFor('g1', 'gate', { jti: 'jti-a' }) };
    const gate = await connect(broker.url, first);
    const gone = closed(gate);
    await appendFile(file, 'jti-a\n');
    await gone;
    expect(await refusedCode(broker.url, first)).toBe(4);

    // Written elsewhere and renamed over the file, as careful writers do.
    const second = { clientId: 'g2', username: 'g2', password: tokenFor('g2', 'gate', { jti: 'jti-b' }) };
    const gate2 = await connect(broker.url, second);
    const gone2 = closed(gate2);
    await writeFile(join(dir, 'next.json'), JSON.stringify(['old-token', 'jti-a', 'jti-b']));
    await rename(join(dir, 'next.json'), file);
    await gone2;
    expect(await refusedCode(broker.url, second)).toBe(4);
    expect(broker.server.stats().revokedTokens).toBe(3);
  });

  it('starts with a revocation file that does not exist yet, and revokes from it once it appears', async () => {
    dir = await mkdtemp(join(tmpdir(), 'anxin-revocations-'));
    const file = join(dir, 'revoked.txt');
    broker = await startTestBroker({ ring, revocations: { file, pollMs: 50 } });
    expect(broker.server.stats().revokedTokens).toBe(0);
    const options = { clientId: 'g1', username: 'g1', password: tokenFor('g1', 'gate', { jti: 'late-1' }) };
    const gate = await connect(broker.url, options);
    const gone = closed(gate);
    // The cloud's first revocation creates the file (write beside it, rename over it).
    await writeFile(join(dir, 'next.txt'), 'late-1\n');
    await rename(join(dir, 'next.txt'), file);
    await gone;
    expect(await refusedCode(broker.url, options)).toBe(4);
  });

  it('keeps the previous list when the file turns unreadable', async () => {
    dir = await mkdtemp(join(tmpdir(), 'anxin-revocations-'));
    const file = join(dir, 'revoked.json');
    await writeFile(file, '["bad-1"]');
    broker = await startTestBroker({ ring, revocations: { file, pollMs: 50 } });
    await writeFile(file, '[not json');
    await vi.waitFor(() => expect(broker?.server.stats().revocationReloadErrors).toBeGreaterThan(0), {
      timeout: 5_000,
    });
    const options = { clientId: 'g1', username: 'g1', password: tokenFor('g1', 'gate', { jti: 'bad-1' }) };
    expect(await refusedCode(broker.url, options)).toBe(4);
  });

  it('a subject cut-off retires every earlier token of that gate, live or not, and admits a newer one', async () => {
    broker = await startTestBroker({ ring });
    const t0 = Date.now();
    const stolen = { clientId: 'g1', username: 'g1', password: tokenFor('g1', 'gate', { iat: t0 - 60_000 }) };
    const spare = {
      clientId: 'g1',
      username: 'g1',
      password: tokenFor('g1', 'gate', { iat: t0 - 30_000, jti: 'spare' }),
    };
    const gate = await connect(broker.url, stolen);
    const neighbour = await connectAs(broker.url, 'g2', 'gate');
    const gone = closed(gate);
    broker.server.revoke(subjectRevocation('g1', t0));
    await gone;
    expect(neighbour.connected).toBe(true);
    expect(await refusedCode(broker.url, stolen)).toBe(4);
    expect(await refusedCode(broker.url, spare)).toBe(4);
    const replacement = await connect(broker.url, {
      clientId: 'g1',
      username: 'g1',
      password: tokenFor('g1', 'gate', { iat: t0 + 1 }),
    });
    expect(replacement.connected).toBe(true);
  });

  it('matches entries by token id or by subject and issue time', () => {
    const token = { jti: 'j1', sub: 'g1', iat: 1_000 };
    const revoked = (...jtis: string[]) => new RevocationList({ jtis }).isRevoked(token);
    expect(revoked('j1')).toBe(true);
    expect(revoked(subjectRevocation('g1', 1_001))).toBe(true);
    expect(revoked(subjectRevocation('g1', 1_000))).toBe(false);
    expect(revoked(subjectRevocation('g2', 5_000), 'j2')).toBe(false);
    expect(revoked(subjectRevocation('g1', 900), subjectRevocation('g1', 1_500))).toBe(true);
    expect(
      parseRevocationFile(`${subjectRevocation('g1', 1_001)}
`),
    ).toEqual(['sub:g1@1001']);
  });

  it('parses line and JSON revocation files', () => {
    expect(parseRevocationFile('a\n  b  # why\n\n# c\r\nd\n')).toEqual(['a', 'b', 'd']);
    expect(() => parseRevocationFile('a\nhalf-writ')).toThrow(TypeError);
    expect(parseRevocationFile('')).toEqual([]);
    expect(parseRevocationFile(' ["x", "y"] ')).toEqual(['x', 'y']);
    expect(() => parseRevocationFile('[1]')).toThrow(TypeError);
  });
});

describe('token expiry', () => {
  it('ends a session when its token expires', async () => {
    broker = await startTestBroker({ ring });
    const exp = Date.now() + 500;
    const gate = await connect(broker.url, {
      clientId: 'g1',
      username: 'g1',
      password: tokenFor('g1', 'gate', { exp }),
    });
    await closed(gate);
    expect(Date.now()).toBeGreaterThanOrEqual(exp);
    expect(broker.server.stats().kicked['token-expired']).toBe(1);
  });
});
