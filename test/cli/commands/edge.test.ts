/**
 * `anxin edge` with a data directory it cannot use: a gate.json written by `anxin gate add` names
 * the production layout (/var/lib/anxin/<id>), which an ordinary user cannot create. That is a
 * configuration problem — exit 2 with one `dataDir: …` line — not a crash with a stack trace.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
