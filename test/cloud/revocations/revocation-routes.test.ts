/**
 * A stolen gate (docs/security.md): an admin revokes its device tokens through the API; the
 * embedded broker ends its session at once and refuses the old token, the revocations file a
 * standalone broker watches gets the entry, a fresh token for the replacement gate works, and a
 * restarted cloud hands every entry to a new broker again.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fullCloudExtensions } from '../../../cloud/full-cloud.ts';
import { createKeysFile, parseKeysFile } from '../../../shared/keys.ts';
import { closeAll, closed, connect, refusedCode } from '../../broker/fixtures.ts';
import { startTestBroker, type TestBroker } from '../../../testkit/broker.ts';
import { startTestCloud, type TestCloud } from '../../../testkit/cloud.ts';

const keysFile = createKeysFile();
const ring = parseKeysFile(keysFile).ring;
let broker: TestBroker;
let cloud: TestCloud | undefined;
let dir: string;
let file: string;

async function startCloud(dbPath?: string): Promise<TestCloud> {
  const revocations = { file, onRevocation: (entry: string) => broker.server.revoke(entry) };
  return startTestCloud({
    keysFile,
    mqttUrl: broker.url,
    ...fullCloudExtensions({ keysFile, revocations }),
    ...(dbPath ? { reuseDbPath: dbPath } : {}),
  });
}

async function api(path: string, token: string, body?: unknown) {
  const res = await fetch(`${cloud!.baseUrl}/api/v1${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json().catch(() => undefined)) as Record<string, unknown> };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'anxin-revocations-'));
  file = join(dir, 'revoked.txt');
  broker = await startTestBroker({ ring });
  cloud = await startCloud();
});

afterEach(async () => {
  await closeAll();
  await cloud?.stop();
  cloud = undefined;
  await broker.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('revoking a gate', () => {
  it('cuts the gate off at the broker, records the entry, and lets a fresh token in', async () => {
    const admin = await cloud!.login('admin');
    const manager = await cloud!.login('manager');
    expect((await api('/compounds', admin, { id: 'c1', name: 'C1' })).status).toBe(201);
    const registered = await api('/gates', admin, { id: 'g1', compoundId: 'c1', name: 'north' });
    expect(registered.status).toBe(201);
    const stolen = { clientId: 'g1', username: 'g1', password: registered.body.token as string };
    const session = await connect(broker.url, stolen);

    expect((await api('/gates/g1/revoke', manager, { reason: 'stolen' })).status).toBe(403);
    expect((await api('/gates/g1/revoke', admin, {})).status).toBe(400);
    expect((await api('/gates/nope/revoke', admin, { reason: 'stolen' })).status).toBe(404);

    const gone = closed(session);
    const revoked = await api('/gates/g1/revoke', admin, { reason: 'stolen from the north gate' });
    expect(revoked.status).toBe(200);
    expect(revoked.body.entry).toMatch(/^sub:g1@\d+$/);
    await gone;
    expect(await refusedCode(broker.url, stolen)).toBe(4);
    expect(await readFile(file, 'utf8')).toContain(`${revoked.body.entry as string}  #`);

    const listed = await api('/revocations', admin);
    expect(listed.body.revocations).toMatchObject([{ entry: revoked.body.entry, subject: 'g1', by: 'admin' }]);
    const audit = await api('/audit?action=gate.revoke', admin);
    expect(JSON.stringify(audit.body)).toContain('stolen from the north gate');

    const fresh = await api('/gates/g1/token', admin, {});
    expect(fresh.status).toBe(201);
    const replacement = await connect(broker.url, {
      clientId: 'g1',
      username: 'g1',
      password: fresh.body.token as string,
    });
    expect(replacement.connected).toBe(true);
  });

  it('hands every recorded entry to a new broker when the cloud starts again', async () => {
    const admin = await cloud!.login('admin');
    await api('/compounds', admin, { id: 'c1', name: 'C1' });
    const registered = await api('/gates', admin, { id: 'g1', compoundId: 'c1', name: 'north' });
    await api('/gates/g1/revoke', admin, { reason: 'stolen' });
    const dbPath = cloud!.dbPath;
    await cloud!.stop({ keepDb: true });
    await broker.stop();

    broker = await startTestBroker({ ring });
    cloud = await startCloud(dbPath);
    const stolen = { clientId: 'g1', username: 'g1', password: registered.body.token as string };
    await expect.poll(() => refusedCode(broker.url, stolen).catch(() => 0), { timeout: 5_000 }).toBe(4);
  });
});

describe('a broker that keeps one account per gate (Mosquitto, --mosquitto-admin)', () => {
  it('is told of each revoke and token, and a failed call still records the revocation and says so', async () => {
    const calls: string[] = [];
    let reachable = false;
    const accounts = {
      async putGate(gate: { id: string; compoundId: string }, token: string) {
        if (!reachable) throw new Error('ECONNREFUSED');
        calls.push(`put ${gate.id}@${gate.compoundId} ${token.length > 0}`);
      },
      async disableGate(gateId: string) {
        if (!reachable) throw new Error('ECONNREFUSED');
        calls.push(`disable ${gateId}`);
      },
    };
    await cloud?.stop();
    cloud = await startTestCloud({
      keysFile,
      mqttUrl: broker.url,
      ...fullCloudExtensions({ keysFile, revocations: { file, accounts } }),
    });
    const admin = await cloud.login('admin');
    await api('/compounds', admin, { id: 'c1', name: 'C1' });
    await api('/gates', admin, { id: 'g1', compoundId: 'c1', name: 'north' });

    const failed = await api('/gates/g1/revoke', admin, { reason: 'stolen' });
    expect(failed.status).toBe(200);
    expect(failed.body.brokerAccount).toBe('failed');
    expect(await readFile(file, 'utf8')).toContain(`${failed.body.entry as string}  #`);

    reachable = true;
    const again = await api('/gates/g1/revoke', admin, { reason: 'stolen, again' });
    expect(again.body.brokerAccount).toBe('applied');
    const token = await api('/gates/g1/token', admin, {});
    expect(token.body.brokerAccount).toBe('applied');
    expect(calls).toEqual(['disable g1', 'put g1@c1 true']);
  });
});
