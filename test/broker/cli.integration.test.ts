/** `anxin broker` and `anxin broker mosquitto-config` as an operator runs them. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../cli/commands/broker.ts';
import { verifyDynsecPassword } from '../../broker/mosquitto-config.ts';
import { createKeysFile, parseKeysFile, publicKeysOnly, publicOnly } from '../../shared/keys.ts';
import { signToken, verifyToken } from '../../shared/token.ts';
import { closeAll, connect } from './fixtures.ts';

const bin = fileURLToPath(new URL('../../bin/anxin.mjs', import.meta.url));
let dir: string;
let keysPath: string;
const keysFile = createKeysFile();
const keys = parseKeysFile(keysFile);

/** Runs the command in-process and captures what it writes. */
async function runCaptured(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  try {
    return { code: await run(argv), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'anxin-broker-cli-'));
  keysPath = join(dir, 'keys.json');
  await writeFile(keysPath, JSON.stringify(keysFile));
});
afterEach(async () => {
  await closeAll();
  await rm(dir, { recursive: true, force: true });
});

describe('anxin broker mosquitto-config', () => {
  it('writes the three files, keeps each gate’s own token, and prints a fresh token per service account', async () => {
    const out = join(dir, 'mosquitto');
    const gateToken = signToken({ sub: 'g1', role: 'gate', compound: 'c1', exp: Date.now() + 60_000 }, keys.signing!);
    const gateJson = join(dir, 'g1.json');
    await writeFile(
      gateJson,
      JSON.stringify({ gateId: 'g1', compoundId: 'c1', mqtt: { url: 'mqtt://x', token: gateToken } }),
    );
    const argv = ['mosquitto-config', '--out', out, '--keys', keysPath, '--gate-config', gateJson];
    const result = await runCaptured([
      ...argv,
      '--cloud',
      'cloud-a',
      '--observer',
      'wall',
      '--port',
      '18830',
      '--ttl-days',
      '30',
    ]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['cloud-a', 'wall']);
    const state = JSON.parse(await readFile(join(out, 'dynamic-security.json'), 'utf8')) as {
      clients: { username: string; password: string; salt: string; iterations: number }[];
    };
    const stored = (username: string) => state.clients.find((c) => c.username === username)!;
    for (const line of lines) {
      const [username, token] = line.split(' ') as [string, string];
      const check = verifyToken(token, keys.ring, Date.now());
      expect(check.ok && check.claims.sub).toBe(username);
      expect(check.ok && check.claims.exp).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000);
      expect(verifyDynsecPassword(token, stored(username))).toBe(true);
    }
    // The gate's account takes the token its gate.json already holds: one token per gate.
    expect(verifyDynsecPassword(gateToken, stored('g1'))).toBe(true);
    const admin = JSON.parse(await readFile(join(out, 'admin.json'), 'utf8')) as { url: string; password: string };
    expect(admin.url).toBe('mqtt://127.0.0.1:18830');
    expect(verifyDynsecPassword(admin.password, stored('anxin-admin'))).toBe(true);
    expect(await readFile(join(out, 'mosquitto.conf'), 'utf8')).toContain(
      `plugin_opt_config_file ${join(out, 'dynamic-security.json')}`,
    );
  });

  it('--max-queued-bytes sets max_queued_bytes (default 1 GiB), at least one largest packet', async () => {
    const conf = async (out: string) => (await readFile(join(out, 'mosquitto.conf'), 'utf8')).split('\n');
    const base = ['mosquitto-config', '--keys', keysPath, '--plugin', '/p.so'];
    const byDefault = join(dir, 'default');
    expect((await runCaptured([...base, '--out', byDefault])).code).toBe(0);
    expect(await conf(byDefault)).toContain(`max_queued_bytes ${1024 ** 3}`);
    const lowered = join(dir, 'lowered');
    expect((await runCaptured([...base, '--out', lowered, '--max-queued-bytes', '67108864'])).code).toBe(0);
    expect(await conf(lowered)).toContain('max_queued_bytes 67108864');
    expect(await conf(lowered)).not.toContain(`max_queued_bytes ${1024 ** 3}`);
    // Exactly one packet of a smaller --max-payload is enough; one byte less is not.
    const small = ['--max-payload', '4096'];
    const tight = join(dir, 'tight');
    expect((await runCaptured([...base, '--out', tight, ...small, '--max-queued-bytes', '5120'])).code).toBe(0);
    expect(await conf(tight)).toContain('max_queued_bytes 5120');
    for (const bad of ['0', '5119', '-1', '1e9', '64MiB', '']) {
      const refused = join(dir, `bad-${bad}`);
      const result = await runCaptured([...base, '--out', refused, ...small, `--max-queued-bytes=${bad}`]);
      expect(result.code, bad).toBe(2);
      expect(result.stderr, bad).toBe(
        `maxQueuedBytes: ${JSON.stringify(bad)} must be a whole number of bytes, at least 5120 (one largest packet: max payload + 1024)\n`,
      );
      await expect(readFile(join(refused, 'mosquitto.conf')), bad).rejects.toThrow(/ENOENT/);
    }
  });

  it('exits 2 with one path: message line per problem', async () => {
    await writeFile(join(dir, 'public.json'), JSON.stringify(publicOnly(keysFile)));
    const result = await runCaptured([
      'mosquitto-config',
      '--keys',
      join(dir, 'public.json'),
      '--gate-config',
      join(dir, 'missing.json'),
      '--port',
      '99999',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      'out: required (--out DIR)',
      `gateConfig: ${join(dir, 'missing.json')}: ENOENT`,
      'port: "99999" is not a port number',
      `keys: ${join(dir, 'public.json')} holds no private key for its current kid; use the cloud's file`,
    ]);
  });
});

describe('anxin broker', () => {
  it('exits 2 on an unknown flag, a lone --tls-cert and a missing keys file', async () => {
    expect((await runCaptured(['--bogus'])).stderr).toMatch(/^anxin broker: Unknown option '--bogus'/);
    expect((await runCaptured(['--tls-cert', 'c.pem'])).stderr).toBe('tlsKey: --tls-cert and --tls-key go together\n');
    const missing = await runCaptured(['--keys', join(dir, 'none.json'), '--port', '0']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^keys: .*none\.json.*ENOENT/);
  });

  it('--print-config: flag > env > default, with the source of each value', async () => {
    vi.stubEnv('ANXIN_HOST', '10.1.2.3');
    vi.stubEnv('ANXIN_PORT', '1999');
    try {
      const result = await runCaptured(['--port', '18830', '--print-config']);
      expect(result.code).toBe(0);
      const printed = JSON.parse(result.stdout);
      expect(printed.precedence).toBe('flag > env (ANXIN_*) > file > default');
      expect(printed.config).toMatchObject({ port: 18830, host: '10.1.2.3', keys: 'data/keys.json' });
      expect(printed.sources).toEqual({ port: 'flag --port', host: 'env ANXIN_HOST' });
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("--expected-gates and --max-unread-total size the read-ahead budget; below one connection's 2 MiB is refused", async () => {
    const sized = JSON.parse((await runCaptured(['--expected-gates', '1000', '--print-config'])).stdout);
    expect(sized.config).toMatchObject({ expectedGates: 1000 });
    expect(sized.config.maxUnreadTotal).toBeUndefined();
    const given = JSON.parse(
      (await runCaptured(['--max-unread-total', String(64 * 1024 * 1024), '--print-config'])).stdout,
    );
    expect(given.config).toMatchObject({ expectedGates: 256, maxUnreadTotal: 64 * 1024 * 1024 });
    expect(given.sources).toMatchObject({ maxUnreadTotal: 'flag --max-unread-total' });
    const small = await runCaptured(['--max-unread-total', '1048576', '--print-config']);
    expect(small.code).toBe(2);
    expect(small.stderr).toMatch(/^maxUnreadTotal: /);
  });

  it('starts with --revocations naming a file that does not exist yet, and with a public-only keys file', async () => {
    const publicKeys = join(dir, 'keys.public.json');
    await writeFile(publicKeys, JSON.stringify(publicKeysOnly(keysFile)));
    const child = spawn(
      process.execPath,
      [
        bin,
        'broker',
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--keys',
        publicKeys,
        '--revocations',
        join(dir, 'none-yet.txt'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (chunk) => (out += String(chunk)));
    child.stderr.on('data', (chunk) => (out += String(chunk)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await vi.waitFor(() => expect(out).toContain('"broker listening"'), { timeout: 20_000 });
    expect(out).toContain('revocation file does not exist yet');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('serves authenticated MQTT until SIGTERM, then exits 0', async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      [bin, 'broker', '--port', '0', '--host', '127.0.0.1', '--keys', keysPath],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ANXIN_LOG_LEVEL: 'info' } },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
          const line = out.split('\n').find((l) => l.includes('"broker listening"'));
          if (line) resolve((JSON.parse(line) as { port: number }).port);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code} before listening: ${out}`)));
      });
      const password = signToken({ sub: 'g1', role: 'gate', exp: Date.now() + 60_000 }, keys.signing!);
      const client = await connect(`mqtt://127.0.0.1:${port}`, { clientId: 'g1', username: 'g1', password });
      expect(client.connected).toBe(true);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
