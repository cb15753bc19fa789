/**
 * docs/quickstart.md "Driving one gate by hand over socat", step by step, with real processes on
 * 127.0.0.1 and nothing seeded behind the doc's back: `anxin keys init` → `anxin user add` →
 * `anxin broker` + `anxin cloud` → sign in, compound, resident and pass over the HTTP API →
 * `anxin gate add --db` → `anxin edge --config gate.json` (the file as printed, unedited) →
 * `anxin sim qr --text <pass>` on the far end of a socat pty pair. Every scan is granted, stored in
 * the cloud, and the provisioning is in the audit log. Only the ports and paths differ from the doc
 * (free ports, a temp dir), so the suite never meets a running demo.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEdgeConfig } from '../../edge-agent/config.ts';
import type { GateStatus } from '../../shared/schemas/mqtt.ts';
import { freePort } from '../../testkit/mosquitto.ts';
import { openPtyPair, type PtyPair } from '../../testkit/socat.ts';
import { AnxinProcess, eventually, ROOT, tcpOpen } from '../../testkit/deployment.ts';

const COMPOUND = 'sunny-garden';
const GATE = 'north-in';
const PERSON = 'p-000001';
const PASSWORD = 'change-me-please';

/** One `anxin …` command to completion, bounded. */
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
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
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

interface StoredEvent {
  gateId: string;
  seq: number;
  method: string;
  result: string;
  reason: string;
  personId?: string;
  passId?: string;
  passed: boolean | null;
}

describe('provisioning a gate by hand, as docs/quickstart.md says, then a pass through it', () => {
  let dir: string;
  let qrPty: PtyPair | undefined;
  let brokerPort: number;
  let cloudPort: number;
  let terminalPort: number;
  let api: string;
  let auth: Record<string, string>;
  let pass: { passId: string; text: string };
  const procs: AnxinProcess[] = [];
  const logs = () => procs.map((p) => `--- ${p.name}:\n${p.output}`).join('\n');

  const start = (name: string, args: string[]): AnxinProcess => {
    const proc = new AnxinProcess(name, args);
    procs.push(proc);
    proc.spawn();
    return proc;
  };

  type GateHealth = Pick<GateStatus, 'online' | 'rev' | 'devices'> & { status: string };

  /** The gate's public `/healthz` (the gate.json from `gate add` has no guards, so no guard panel). */
  const gateState = async (): Promise<GateHealth | undefined> => {
    try {
      const res = await fetch(`http://127.0.0.1:${terminalPort}/healthz`);
      return res.ok ? ((await res.json()) as GateHealth) : undefined;
    } catch {
      return undefined;
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anxin-provisioning-'));
    [brokerPort, cloudPort, terminalPort] = [await freePort(), await freePort(), await freePort()];
    const keys = join(dir, 'keys.json');
    const db = join(dir, 'cloud.db');
    const mqtt = `mqtt://127.0.0.1:${brokerPort}`;
    api = `http://127.0.0.1:${cloudPort}/api/v1`;

    // 1. keys and an admin login, then the broker and the cloud.
    await expectOk(['keys', 'init', '--keys', keys]);
    await expectOk(['user', 'add', '--db', db, '--username', 'admin', '--role', 'admin', '--password', PASSWORD]);
    start('broker', ['broker', '--host', '127.0.0.1', '--port', String(brokerPort), '--keys', keys]);
    await eventually(() => tcpOpen(brokerPort), 'the broker to listen', 20_000, logs);
    start('cloud', [
      'cloud',
      '--host',
      '127.0.0.1',
      '--port',
      String(cloudPort),
      '--mqtt',
      mqtt,
      '--db',
      db,
      '--keys',
      keys,
    ]);
    await eventually(
      async () => {
        try {
          const res = await fetch(`http://127.0.0.1:${cloudPort}/healthz`);
          return res.ok && ((await res.json()) as { mqtt?: string }).mqtt === 'connected';
        } catch {
          return false;
        }
      },
      'the cloud to serve and reach the broker',
      20_000,
      logs,
    );

    // 2. Over the HTTP API: sign in, a compound, a resident, a QR pass valid for a day.
    const login = await fetch(`${api}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: PASSWORD }),
    });
    expect(login.status).toBe(200);
    auth = {
      authorization: `Bearer ${((await login.json()) as { token: string }).token}`,
      'content-type': 'application/json',
    };
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${api}${path}`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
      const json = (await res.json()) as Record<string, unknown>;
      expect(res.status, `POST ${path}: ${JSON.stringify(json)}`).toBe(201);
      return json;
    };
    await post('/compounds', { id: COMPOUND, name: 'Sunny Garden', timeZone: 'Asia/Shanghai' });
    await post('/residents', { personId: PERSON, compoundId: COMPOUND, name: '李秀英' });
    pass = (await post('/passes', { personId: PERSON, validTo: (Math.floor(Date.now() / 1000) + 86_400) * 1000 })) as {
      passId: string;
      text: string;
    };
    expect(pass.text).toMatch(/\S{20,}/);

    // 3. The gate: a serial line for its QR scanner, its gate.json from `gate add`, the agent.
    qrPty = await openPtyPair();
    const gateJson = join(dir, 'gate.json');
    await expectOk([
      'gate',
      'add',
      '--compound',
      COMPOUND,
      '--id',
      GATE,
      '--keys',
      keys,
      '--db',
      db,
      '--mqtt',
      mqtt,
      '--data-dir',
      join(dir, 'gates', GATE),
      '--qr',
      qrPty.a,
      '--out',
      gateJson,
    ]);
    expect(statSync(gateJson).mode & 0o777).toBe(0o600);
    const config = parseEdgeConfig(JSON.parse(readFileSync(gateJson, 'utf8')));
    expect(config.http.host).toBe('127.0.0.1');
    expect(config.devices.readers.map((r) => r.name)).toEqual(['qr']);
    expect(config.devices.turnstile).toBeUndefined();

    // The terminal's port is the only thing overridden (8090 may be taken on a test machine).
    start(GATE, ['edge', '--config', gateJson, '--http-port', String(terminalPort)]);
    // Online, and the snapshot holding the resident has arrived (rev > 0): from now on the
    // resident is known, so no scan can be denied as unknown-person.
    await eventually(
      async () => {
        const s = await gateState();
        return s?.online === true && s.rev > 0 && s.devices.qr === 'ok';
      },
      'the gate online, with the residents and its QR scanner',
      30_000,
      logs,
    );

    // 4. The resident's pass on the scanner, every 500 ms.
    start('sim-qr', ['sim', 'qr', '--port', qrPty.b, '--text', pass.text, '--interval', '500']);
  }, 120_000);

  afterAll(async () => {
    // Simulator and gate first (their last words need the broker), then the cloud, then the broker.
    for (const proc of [...procs].reverse()) {
      if (!proc.running) continue;
      const exited = proc.kill('SIGTERM');
      const timer = setTimeout(() => void proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await qrPty?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('every scan of the pass is granted at the gate and stored in the cloud', async () => {
    const events = await eventually(
      async () => {
        const res = await fetch(`${api}/events?gate=${GATE}`, { headers: auth });
        const body = (await res.json()) as { events: StoredEvent[] };
        return body.events.length >= 3 ? body.events : undefined;
      },
      'three stored passages',
      30_000,
      logs,
    );
    for (const event of events) {
      expect(event).toMatchObject({
        gateId: GATE,
        method: 'qr',
        result: 'granted',
        reason: 'ok',
        personId: PERSON,
        passId: pass.passId,
        passed: null, // no turnstile on this gate
      });
    }
    // The public result screen shows the scans (no guard needed for that).
    const screen = (await (await fetch(`http://127.0.0.1:${terminalPort}/api/screen`)).json()) as {
      results: { reason: string; colour: string }[];
    };
    expect(screen.results[0]).toMatchObject({ reason: 'ok', colour: 'green' });
    for (const proc of procs) {
      expect(proc.unexpectedExits, proc.output).toEqual([]);
      expect(proc.running, `${proc.name} is running`).toBe(true);
    }
  });

  it('the provisioning is in the audit log: the gate registered from the command line, the rest over the API', async () => {
    const res = await fetch(`${api}/audit?limit=100`, { headers: auth });
    expect(res.status).toBe(200);
    const { entries } = (await res.json()) as {
      entries: { actor: string; action: string; target: string | null; compoundId: string | null }[];
    };
    const seen = entries.map((e) => `${e.actor} ${e.action} ${e.target}`);
    expect(seen).toEqual(
      expect.arrayContaining([
        'cli user.create admin',
        'admin compound.create sunny-garden',
        `admin resident.create ${PERSON}`,
        `admin pass.issue ${pass.passId}`,
        `cli gate.register ${GATE}`,
      ]),
    );
  });

  it('the gate is listed in the cloud, online', async () => {
    const res = await fetch(`${api}/gates/${GATE}`, { headers: auth });
    expect(res.status).toBe(200);
    expect(JSON.stringify(await res.json())).toContain('"online":true');
  });
});
