/**
 * `anxin edge` with a data directory it cannot use: a gate.json written by `anxin gate add` names
 * the production layout (/var/lib/anxin/<id>), which an ordinary user cannot create. That is a
 * configuration problem — exit 2 with one `dataDir: …` line — not a crash with a stack trace.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../../cli/commands/edge.ts';
import type { EdgeConfigInput } from '../../../edge-agent/config.ts';
import { createKeysFile, publicOnly } from '../../../shared/keys.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const isRoot = process.getuid?.() === 0;
/**
 * Root passes every permission check (CAP_DAC_OVERRIDE). Run as root, the child gets those
 * capabilities dropped with util-linux's setpriv, so file modes bind it like an ordinary user —
 * while it can still read the checkout wherever it lies (a `mktemp -d` clone is 0700).
 */
const WITHOUT_DAC = ['--bounding-set=-dac_override,-dac_read_search', '--inh-caps=-dac_override,-dac_read_search'];

let dir: string;

function gateJson(dataDir: string): string {
  const config: EdgeConfigInput = {
    gateId: 'north-in',
    compoundId: 'sunny-garden',
    mqtt: { url: 'mqtt://127.0.0.1:1' },
    keys: publicOnly(createKeysFile()),
    dataDir,
    http: { port: 0, host: '127.0.0.1' },
  };
  const path = join(dir, `gate-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(config), { mode: 0o644 });
  return path;
}

/** `anxin edge --config FILE` as a child process bound by file modes (root: without its DAC capabilities). */
function runEdgeAsUser(configPath: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const argv = [process.execPath, 'bin/anxin.mjs', 'edge', '--config', configPath];
    const [command, ...args] = isRoot ? ['setpriv', ...WITHOUT_DAC, ...argv] : argv;
    const child = spawn(command!, args, {
      cwd: ROOT,
      env: { ...process.env, ANXIN_LOG_LEVEL: 'warn', NODE_ENV: 'test', HOME: tmpdir() },
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
      reject(new Error(`anxin edge did not exit within 20 s\n${stdout}\n${stderr}`));
    }, 20_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-edge-cli-'));
  // Readable (not writable) by the ordinary user the child runs as.
  chmodSync(dir, 0o755);
});

afterEach(() => {
  vi.restoreAllMocks();
  chmodSync(dir, 0o755);
  rmSync(dir, { recursive: true, force: true });
});

describe('anxin edge: a data directory it cannot use', () => {
  it('exits 2 with one "dataDir: cannot create …" line, before opening anything', async () => {
    const file = join(dir, 'not-a-directory');
    writeFileSync(file, '');
    const err: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      err.push(String(chunk));
      return true;
    });
    const dataDir = join(file, 'north-in');
    expect(await run(['--config', gateJson(dataDir)])).toBe(2);
    expect(err).toEqual([`dataDir: cannot create ${dataDir}: ENOTDIR\n`]);
  });

  it('run as an ordinary user: EACCES is a config-style error (exit 2, one line), not a crash', async () => {
    // A directory like /var/lib: the user may read it but not create anything in it.
    const varLib = join(dir, 'var-lib');
    mkdirSync(varLib, { mode: 0o755 });
    chmodSync(varLib, 0o555);

    const missing = join(varLib, 'anxin', 'north-in');
    const created = await runEdgeAsUser(gateJson(missing));
    expect(created.stderr).toBe(`dataDir: cannot create ${missing}: EACCES\n`);
    expect(created.code).toBe(2);

    // It exists, but the gate may not write its database into it.
    const unwritable = await runEdgeAsUser(gateJson(varLib));
    expect(unwritable.stderr).toBe(`dataDir: cannot write to ${varLib}: EACCES\n`);
    expect(unwritable.code).toBe(2);
  }, 60_000);
});

describe('anxin edge: one configuration rule, said out loud', () => {
  /** Runs the command in-process, capturing what it writes. */
  async function runCaptured(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      stdout += String(chunk);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      stderr += String(chunk);
      return true;
    });
    try {
      return { code: await run(argv), stdout, stderr };
    } finally {
      vi.restoreAllMocks();
    }
  }

  it('without --config says so in one line and exits 2', async () => {
    const result = await runCaptured([]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "anxin edge: --config FILE is required: the gate's gate.json (anxin gate add writes one)\n",
    );
  });

  it('--print-config: flag > env > file > default, each value with its source, secrets redacted', async () => {
    const path = gateJson(join(dir, 'from-file'));
    vi.stubEnv('ANXIN_DATA_DIR', join(dir, 'from-env'));
    vi.stubEnv('ANXIN_HTTP__PORT', '9100');
    vi.stubEnv('ANXIN_MQTT__TOKEN', 'a-secret-token');
    try {
      const result = await runCaptured(['--config', path, '--http-port', '9200', '--print-config']);
      expect(result.code).toBe(0);
      const printed = JSON.parse(result.stdout) as {
        precedence: string;
        config: Record<string, unknown> & { http: { port: number }; mqtt: { token: string } };
        sources: Record<string, string>;
      };
      expect(printed.precedence).toBe('flag > env (ANXIN_*) > file > default');
      expect(printed.config.dataDir).toBe(join(dir, 'from-env'));
      expect(printed.config.http.port).toBe(9200);
      expect(printed.config.mqtt.token).toBe('(secret)');
      expect(result.stdout).not.toContain('a-secret-token');
      expect(printed.config.keys).toMatchObject({ pepper: '(secret)' });
      expect(printed.sources).toMatchObject({
        dataDir: 'env ANXIN_DATA_DIR',
        'http.port': 'flag --http-port',
        'http.host': `file ${path}`,
        gateId: `file ${path}`,
      });
      // Nothing was started or created.
      expect(existsSync(join(dir, 'from-env'))).toBe(false);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('an ANXIN_DATA_DIR that replaces gate.json’s dataDir is logged, not silent', () => {
    const path = gateJson(join(dir, 'from-file'));
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, '');
    const result = spawnSync(process.execPath, ['bin/anxin.mjs', 'edge', '--config', path], {
      cwd: ROOT,
      env: { ...process.env, ANXIN_DATA_DIR: join(blocker, 'gate'), ANXIN_LOG_LEVEL: 'info' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    expect(`${result.stdout}${result.stderr}`).toContain(`env ANXIN_DATA_DIR overrides dataDir of ${path}`);
    expect(result.stderr).toContain(`dataDir: cannot create ${join(blocker, 'gate')}: ENOTDIR`);
  });

  it('takes the old flag names --mqtt-url and --keys-file with a deprecation line', async () => {
    const path = gateJson(join(dir, 'd'));
    const result = await runCaptured(['--config', path, '--mqtt-url', 'mqtt://10.0.0.9:1883', '--print-config']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('anxin edge: --mqtt-url is deprecated; use --mqtt\n');
    expect(JSON.parse(result.stdout).sources['mqtt.url']).toBe('flag --mqtt');
  });
});
