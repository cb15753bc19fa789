/** `anxin broker` and `anxin broker mosquitto-config` as an operator runs them. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../cli/commands/broker.ts';
import { verifyMosquittoPassword } from '../../broker/mosquitto-config.ts';
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
  it('writes the three files and prints one fresh token per account', async () => {
    const out = join(dir, 'mosquitto');
    const argv = ['mosquitto-config', '--out', out, '--keys', keysPath, '--gate', 'g1:c1', '--gate', 'g2:c2'];
    const result = await runCaptured([...argv, '--cloud', 'cloud-a', '--port', '18830', '--ttl-days', '30']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['g1', 'g2', 'cloud-a']);
    const passwd = await readFile(join(out, 'passwd'), 'utf8');
    for (const line of lines) {
      const [username, token] = line.split(' ') as [string, string];
      const check = verifyToken(token, keys.ring, Date.now());
      expect(check.ok && check.claims.sub).toBe(username);
      expect(check.ok && check.claims.exp).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000);
      const entry = passwd.split('\n').find((l) => l.startsWith(`${username}:`))!;
      expect(verifyMosquittoPassword(token, entry.slice(username.length + 1))).toBe(true);
    }
    expect(await readFile(join(out, 'acl'), 'utf8')).toContain('topic read anxin/v1/compounds/c2/changes');
    expect(await readFile(join(out, 'mosquitto.conf'), 'utf8')).toContain(`acl_file ${join(out, 'acl')}`);
  });

  it('exits 2 with one path: message line per problem', async () => {
    await writeFile(join(dir, 'public.json'), JSON.stringify(publicOnly(keysFile)));
    const result = await runCaptured([
      'mosquitto-config',
      '--keys',
      join(dir, 'public.json'),
      '--gate',
      'G1:c1',
      '--port',
      '99999',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      'out: required (--out DIR)',
      'gate: "G1:c1" is not ID:COMPOUND with ids in [a-z0-9-]{1,64}',
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
