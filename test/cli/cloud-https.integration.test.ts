/**
 * `anxin cloud --tls-cert --tls-key` (docs/install.md, "HTTPS"): a real `anxin cloud` process
 * serves the API and the pages over HTTPS with a certificate from a throwaway private CA made by
 * `openssl` (missing openssl fails the suite); after the files are replaced, SIGHUP makes new
 * connections get the new certificate without a restart; a pair that does not fit is refused at
 * start with one `tlsKey:` line; the default bind address is loopback.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeysFile } from '../../shared/keys.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const execFileAsync = promisify(execFile);
let dir: string;
let caPem: Buffer;
let child: ChildProcess | undefined;

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

const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A server certificate for 127.0.0.1 signed by the test CA, with the given serial. */
async function serverCert(name: string, serial: string): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}-key.pem`);
  const cert = join(dir, `${name}-cert.pem`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await openssl(['req', ...ec, '-keyout', key, '-out', csr, '-subj', '/CN=localhost']);
  await writeFile(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  // biome-ignore format: one openssl option per pair reads better than one per line
  await openssl([
    'x509', '-req', '-in', csr, '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca-key.pem'),
    '-set_serial', serial, '-days', '1', '-out', cert, '-extfile', ext,
  ]);
  return { cert, key };
}

/** GET over HTTPS trusting only the test CA: the status and the serial of the certificate presented. */
function get(port: number, path: string): Promise<{ status: number; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca: caPem, agent: false, servername: 'localhost' }, (res) => {
      const serial = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().serialNumber;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, serial }));
    });
    req.on('error', reject);
    req.end();
  });
}

function startCloud(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, ['bin/anxin.mjs', 'cloud', ...args], {
    cwd: ROOT,
    env: { ...process.env, ANXIN_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout?.on('data', (chunk) => (output += String(chunk)));
  proc.stderr?.on('data', (chunk) => (output += String(chunk)));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { child: proc, output: () => output, exited };
}

async function until<T>(check: () => T | undefined, what: string, output: () => string): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'anxin-cloud-https-'));
  // biome-ignore format: one openssl option per pair reads better than one per line
  await openssl([
    'req', '-x509', ...ec, '-keyout', join(dir, 'ca-key.pem'), '-out', join(dir, 'ca.pem'), '-days', '1',
    '-subj', '/CN=Anxin Test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  caPem = await import('node:fs').then((fs) => fs.readFileSync(join(dir, 'ca.pem')));
  await writeFile(join(dir, 'keys.json'), JSON.stringify(createKeysFile()), { mode: 0o600 });
}, 60_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('anxin cloud over HTTPS', () => {
  it('serves HTTPS with the given certificate and takes a renewed one on SIGHUP', async () => {
    const first = await serverCert('first', '0x01');
    const second = await serverCert('second', '0x02');
    const live = { cert: join(dir, 'live-cert.pem'), key: join(dir, 'live-key.pem') };
    await copyFile(first.cert, live.cert);
    await copyFile(first.key, live.key);
    const cloud = startCloud([
      ...['--port', '0', '--db', join(dir, 'cloud.db'), '--keys', join(dir, 'keys.json')],
      ...['--mqtt', 'mqtt://127.0.0.1:1', '--tls-cert', live.cert, '--tls-key', live.key],
    ]);
    child = cloud.child;
    const port = await until(
      () => {
        const match = /cloud on https:\/\/127\.0\.0\.1:(\d+)/.exec(cloud.output());
        return match ? Number(match[1]) : undefined;
      },
      'the cloud on https',
      cloud.output,
    );
    expect(await get(port, '/healthz')).toEqual({ status: 200, serial: '01' });
    // Plain HTTP on the same port gets no answer it could mistake for one.
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();

    await copyFile(second.cert, live.cert);
    await copyFile(second.key, live.key);
    cloud.child.kill('SIGHUP');
    await until(
      () => (cloud.output().includes('TLS certificate reloaded') ? true : undefined),
      'the reload',
      cloud.output,
    );
    expect(await get(port, '/healthz')).toEqual({ status: 200, serial: '02' });

    // A broken pair on SIGHUP keeps the working one.
    await writeFile(live.key, 'not a key');
    cloud.child.kill('SIGHUP');
    await until(() => (cloud.output().includes('TLS reload failed') ? true : undefined), 'the refusal', cloud.output);
    expect(await get(port, '/healthz')).toEqual({ status: 200, serial: '02' });

    cloud.child.kill('SIGTERM');
    expect(await cloud.exited).toBe(0);
    child = undefined;
  }, 90_000);

  it('refuses a key that does not fit the certificate with one tlsKey: line, and binds loopback by default', async () => {
    const a = await serverCert('a', '0x0a');
    const b = await serverCert('b', '0x0b');
    const base = ['--db', join(dir, 'cloud2.db'), '--keys', join(dir, 'keys.json')];
    const bad = startCloud([...base, '--tls-cert', a.cert, '--tls-key', b.key]);
    expect(await bad.exited).toBe(2);
    expect(bad.output().trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^tlsKey: ${b.key} does not fit ${a.cert}: `)),
    ]);
    const printed = startCloud([...base, '--print-config']);
    expect(await printed.exited).toBe(0);
    const { config, sources } = JSON.parse(printed.output()) as {
      config: { host: string };
      sources: Record<string, string>;
    };
    expect(config.host).toBe('127.0.0.1');
    expect(sources).toMatchObject({ db: 'flag --db', keys: 'flag --keys' });
    expect(sources.host).toBeUndefined();
  }, 60_000);
});
