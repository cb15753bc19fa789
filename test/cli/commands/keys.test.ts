import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { help, run } from '../../../cli/commands/keys.ts';
import { type KeysFile, parseKeysFile } from '../../../shared/keys.ts';

let dir: string;
let out: string[];
let err: string[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-keys-'));
  out = [];
  err = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err.push(String(chunk));
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as KeysFile;

describe('anxin keys', () => {
  it('init writes a parseable keys file with mode 0600, creating the folder', async () => {
    const path = join(dir, 'data', 'keys.json');
    expect(await run(['init', '--out', path])).toBe(0);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const parsed = parseKeysFile(read(path));
    expect(parsed.signing?.kid).toBe(1);
    expect(out.join('')).toContain('kid 1');
  });

  it('init refuses to overwrite without --force: exit 2, one line, file untouched', async () => {
    const path = join(dir, 'keys.json');
    await run(['init', '--out', path]);
    const before = readFileSync(path, 'utf8');
    expect(await run(['init', '--out', path])).toBe(2);
    expect(readFileSync(path, 'utf8')).toBe(before);
    expect(err.join('').trim().split('\n')).toHaveLength(1);
    expect(err.join('')).toMatch(/exists; use --force/);
    expect(await run(['init', '--out', path, '--force'])).toBe(0);
    expect(read(path).pepper).not.toBe(JSON.parse(before).pepper);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('rotate adds kid 2 as current and keeps kid 1 public; public prints no private key', async () => {
    const path = join(dir, 'keys.json');
    await run(['init', '--out', path]);
    const first = read(path);
    expect(await run(['rotate', '--file', path])).toBe(0);
    const rotated = read(path);
    expect(rotated.current).toBe(2);
    expect(rotated.keys.map((k) => k.kid)).toEqual([1, 2]);
    expect(rotated.keys[0]).toEqual({ kid: 1, publicKey: first.keys[0]!.publicKey });
    expect(rotated.pepper).toBe(first.pepper);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    out.length = 0;
    expect(await run(['public', '--file', path])).toBe(0);
    const printed = JSON.parse(out.join('')) as KeysFile;
    expect(printed.keys.every((k) => k.privateKey === undefined)).toBe(true);
    expect(parseKeysFile(printed).ring.size).toBe(2);
  });

  it('exits 2 with one line for unknown sub-commands and flags, and path: message lines for a bad file', async () => {
    expect(await run([])).toBe(2);
    expect(await run(['destroy'])).toBe(2);
    expect(await run(['init', '--bogus'])).toBe(2);
    expect(await run(['rotate', '--file', join(dir, 'missing.json')])).toBe(2);
    expect(err).toHaveLength(4);
    expect(err[3]).toMatch(/missing\.json: cannot read \(ENOENT\)/);
    err.length = 0;
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ version: 1, current: 3, keys: [], pepper: 'xy' }));
    expect(await run(['public', '--file', bad])).toBe(2);
    expect(err.join('')).toMatch(/^keys: .*\npepper: .*\ncurrent: /m);
    expect(help).toContain('anxin keys init');
  });

  it('is reachable through the anxin command', () => {
    const bin = fileURLToPath(new URL('../../../bin/anxin.mjs', import.meta.url));
    const path = join(dir, 'keys.json');
    const result = spawnSync(process.execPath, [bin, 'keys', 'init', '--out', path], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    expect(existsSync(path)).toBe(true);
    const again = spawnSync(process.execPath, [bin, 'keys', 'init', '--out', path], { encoding: 'utf8' });
    expect(again.status).toBe(2);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
  });
});
