/**
 * docs/deploy.md "Using Mosquitto instead", step by step, with real processes on 127.0.0.1:
 * `anxin keys init` → `anxin broker mosquitto-config` → `mosquitto -c …` started as root (it drops
 * to user `mosquitto`) → `anxin user add` + `anxin cloud --mqtt-token … --mosquitto-admin …` →
 * a compound over the API → `anxin gate add --mosquitto-admin …` for two gates. Then what the page
 * promises of Mosquitto:
 * - the generated files are readable by user mosquitto, also on SIGHUP;
 * - each gate signs in with the token its gate.json holds (one token per gate);
 * - a gate's subscription to another gate's topics gets SUBACK 0x80;
 * - `POST /api/v1/gates/:id/revoke` disconnects that gate at once and refuses it from then on,
 *   while the other gate's session is never interrupted; a replacement token works;
 * - a packet over `max_packet_size` disconnects its sender and is not delivered.
 * Only ports and paths differ from the page.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookUpUser } from '../../broker/mosquitto-files.ts';
import { topics } from '../../shared/topics.ts';
import { closeAll, connect, grantedQos, refusedCode } from '../broker/fixtures.ts';
import { findMosquitto, freePort } from '../../testkit/mosquitto.ts';
import { AnxinProcess, eventually, ROOT } from '../../testkit/deployment.ts';

const COMPOUND = 'sunny-garden';
const PASSWORD = 'change-me-please';

function anxin(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/anxin.mjs', ...args], {
      cwd: ROOT,
      env: { ...process.env, ANXIN_LOG_LEVEL: 'warn', NODE_ENV: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`anxin ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function expectOk(args: string[]): Promise<string> {
  const result = await anxin(args);
  expect(result.code, `anxin ${args.join(' ')}\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout;
}

function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Uid:'))!;
  return Number(line.split(/\s+/)[2]); // effective uid
}

describe('Mosquitto deployed as docs/deploy.md says', () => {
  let dir: string;
  let conf: string;
  let mosquitto: ChildProcess;
  let mosquittoLog = '';
  let cloud: AnxinProcess;
  let mqtt: string;
  let api: string;
  let auth: Record<string, string>;
  const gateJson = (id: string) =>
    JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8')) as {
      gateId: string;
      mqtt: { url: string; token: string };
    };
  const asGate = (id: string, token = gateJson(id).mqtt.token) => ({ clientId: id, username: id, password: token });

  beforeAll(async () => {
    // mosquitto drops to its own user: it must be able to reach the directory it is given.
    dir = mkdtempSync(join(tmpdir(), 'anxin-mosquitto-deploy-'));
    chmodSync(dir, 0o755);
    const keys = join(dir, 'keys.json');
    // The cloud's own data folder (made 0700 at start), beside Mosquitto's — as /var/lib/anxin and
    // /var/lib/mosquitto are — not the folder that holds Mosquitto's files.
    const db = join(dir, 'cloud', 'cloud.db');
    const out = join(dir, 'mosquitto');
    const [brokerPort, cloudPort] = [await freePort(), await freePort()];
    mqtt = `mqtt://127.0.0.1:${brokerPort}`;
    api = `http://127.0.0.1:${cloudPort}/api/v1`;

    // 1. keys; 2. the broker's files with the cloud's account, whose token is printed.
    await expectOk(['keys', 'init', '--keys', keys]);
    const printed = await expectOk([
      'broker',
      'mosquitto-config',
      '--out',
      out,
      '--keys',
      keys,
      '--cloud',
      'cloud',
      '--host',
      '127.0.0.1',
      '--port',
      String(brokerPort),
    ]);
    const cloudToken = printed
      .split('\n')
      .find((l) => l.startsWith('cloud '))!
      .slice('cloud '.length);

    // 3. mosquitto -c …/mosquitto.conf, as root.
    conf = join(out, 'mosquitto.conf');
    mosquitto = spawn(findMosquitto(), ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    mosquitto.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      mosquittoLog += chunk;
    });
    await eventually(
      () => /mosquitto version \S+ running/.test(mosquittoLog),
      'mosquitto to start',
      10_000,
      () => mosquittoLog,
    );

    // 4. the cloud with that token and the administrator file.
    await expectOk(['user', 'add', '--db', db, '--username', 'admin', '--role', 'admin', '--password', PASSWORD]);
    cloud = new AnxinProcess('cloud', [
      'cloud',
      '--host',
      '127.0.0.1',
      '--port',
      String(cloudPort),
      '--mqtt',
      mqtt,
      '--mqtt-token',
      cloudToken,
      '--mosquitto-admin',
      join(out, 'admin.json'),
      '--db',
      db,
      '--keys',
      keys,
    ]);
    cloud.spawn();
    await eventually(
      async () => {
        try {
          const res = await fetch(`http://127.0.0.1:${cloudPort}/healthz`);
          return res.ok && ((await res.json()) as { mqtt?: string }).mqtt === 'connected';
        } catch {
          return false;
        }
      },
      'the cloud to serve and reach mosquitto',
      20_000,
      () => `${cloud.output}\n${mosquittoLog}`,
    );
    const login = await fetch(`${api}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: PASSWORD }),
    });
    auth = {
      authorization: `Bearer ${((await login.json()) as { token: string }).token}`,
      'content-type': 'application/json',
    };
    const compound = await fetch(`${api}/compounds`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ id: COMPOUND, name: 'Sunny Garden', timeZone: 'Asia/Shanghai' }),
    });
    expect(compound.status).toBe(201);

    // 5. each gate: `anxin gate add … --mosquitto-admin` makes its account with the token it writes.
    for (const id of ['north-in', 'south-out']) {
      await expectOk([
        'gate',
        'add',
        '--compound',
        COMPOUND,
        '--id',
        id,
        '--db',
        db,
        '--keys',
        keys,
        '--mqtt',
        mqtt,
        '--data-dir',
        join(dir, id),
        '--mosquitto-admin',
        join(out, 'admin.json'),
        '--out',
        join(dir, `${id}.json`),
      ]);
    }
  }, 120_000);

  afterAll(async () => {
    await closeAll();
    await cloud?.kill('SIGTERM');
    if (mosquitto && mosquitto.exitCode === null) {
      const exited = new Promise((resolve) => mosquitto.once('exit', resolve));
      mosquitto.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs as user mosquitto, which can read its files (and only those it needs)', () => {
    const user = lookUpUser('mosquitto')!;
    expect(uidOf(mosquitto.pid!)).toBe(user.uid);
    const out = join(dir, 'mosquitto');
    const mode = (path: string) => statSync(path).mode & 0o777;
    expect(statSync(out).uid).toBe(user.uid);
    expect([statSync(conf).uid, statSync(conf).gid, mode(conf)]).toEqual([0, user.gid, 0o640]);
    const state = join(out, 'dynamic-security.json');
    expect([statSync(state).uid, mode(state)]).toEqual([user.uid, 0o600]);
    const admin = join(out, 'admin.json');
    expect([statSync(admin).uid, mode(admin)]).toEqual([0, 0o600]);
    expect(mosquittoLog).not.toMatch(/Error|Unable/);
  });

  it('lets each gate sign in with the token of its gate.json, and no other', async () => {
    const north = await connect(gateJson('north-in').mqtt.url, asGate('north-in'));
    expect(north.connected).toBe(true);
    expect(await refusedCode(mqtt, asGate('north-in', gateJson('south-out').mqtt.token))).toBe(5);
    await north.endAsync();
  });

  it('refuses a gate’s subscription to another gate’s topics with SUBACK 0x80', async () => {
    const north = await connect(mqtt, asGate('north-in'));
    expect(
      await grantedQos(north, [
        topics.gateAck('south-out'),
        topics.gateCmd('south-out'),
        'anxin/v1/gates/+/ack',
        '#',
        topics.gateAck('north-in'),
      ]),
    ).toEqual([128, 128, 128, 128, 1]);
    await north.endAsync();
  });

  it('re-reads its configuration on SIGHUP as user mosquitto, sessions kept', async () => {
    const south = await connect(mqtt, asGate('south-out'));
    let dropped = false;
    south.on('close', () => {
      dropped = true;
    });
    const before = mosquittoLog.length;
    mosquitto.kill('SIGHUP');
    await eventually(
      () => mosquittoLog.slice(before).includes('Reloading config.'),
      'the reload',
      10_000,
      () => mosquittoLog,
    );
    // A fresh sign-in after the reload proves the plugin's state is still there.
    const north = await connect(mqtt, asGate('north-in'));
    expect(north.connected).toBe(true);
    expect(mosquittoLog.slice(before)).not.toMatch(/Error|Unable/);
    expect(dropped).toBe(false);
    await Promise.all([north.endAsync(), south.endAsync()]);
  });

  it('revokes one gate through the API within seconds; the other gate is never interrupted', async () => {
    const north = await connect(mqtt, asGate('north-in'));
    const south = await connect(mqtt, asGate('south-out'));
    const southEvents: string[] = [];
    south.on('close', () => southEvents.push('close'));
    const northClosed = new Promise<void>((resolve) => north.once('close', () => resolve()));

    const res = await fetch(`${api}/gates/north-in/revoke`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ reason: 'box stolen' }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { brokerAccount?: string }).brokerAccount).toBe('applied');
    // Disconnected by the broker (the answer came after the plugin had applied it)…
    await northClosed;
    // …and refused from then on.
    expect(await refusedCode(mqtt, asGate('north-in'))).toBe(5);

    // The other gate's session carried on: still connected, and its publishes still acknowledged.
    await south.publishAsync(topics.gateStatus('south-out'), '{"online":true}', { qos: 1, retain: true });
    expect(south.connected).toBe(true);
    expect(southEvents).toEqual([]);
    await south.endAsync();

    // A replacement token for the gate works at once.
    const issued = await fetch(`${api}/gates/north-in/token`, { method: 'POST', headers: auth });
    expect(issued.status).toBe(201);
    const replacement = (await issued.json()) as { token: string; brokerAccount?: string };
    expect(replacement.brokerAccount).toBe('applied');
    const again = await connect(mqtt, asGate('north-in', replacement.token));
    expect(again.connected).toBe(true);
    await again.endAsync();
  });

  it('accepts a 1 MiB payload and disconnects a client whose packet is over max_packet_size', async () => {
    const south = await connect(mqtt, asGate('south-out'));
    await south.publishAsync(topics.gateEvents('south-out'), Buffer.alloc(1024 * 1024, 0x20), { qos: 1 });
    const closed = new Promise<void>((resolve) => south.once('close', () => resolve()));
    south.publish(topics.gateEvents('south-out'), Buffer.alloc(1024 * 1024 + 2048, 0x20), { qos: 1 });
    await closed;
  });
});
