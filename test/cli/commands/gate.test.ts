import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../../cli/commands/gate.ts';
import { run as runKeys } from '../../../cli/commands/keys.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import { parseEdgeConfig } from '../../../edge-agent/config.ts';
import { readKeysFile } from '../../../shared/keys.ts';
import { verifyToken } from '../../../shared/token.ts';

let dir: string;
let keysPath: string;
let out: string[];
let err: string[];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-gate-'));
  keysPath = join(dir, 'keys.json');
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
  expect(await runKeys(['init', '--out', keysPath])).toBe(0);
  out = [];
});

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

describe('anxin gate add', () => {
  it('prints a gate.json the edge agent accepts, with a gate token for exactly that gate', async () => {
    expect(await run(['add', '--compound', 'sunny-garden', '--id', 'north-in', '--keys', keysPath])).toBe(0);
    const config = parseEdgeConfig(JSON.parse(out.join('')));
    expect(config.gateId).toBe('north-in');
    expect(config.keys?.keys.every((k) => k.privateKey === undefined)).toBe(true);
    const check = verifyToken(config.mqtt.token!, readKeysFile(keysPath).ring, Date.now());
    expect(check.ok && check.claims).toMatchObject({ sub: 'north-in', role: 'gate', compound: 'sunny-garden' });
  });

  it('registers the gate in the cloud database when --db is given, and refuses an unknown compound', async () => {
    const db = join(dir, 'cloud.db');
    const store = new SqliteCloudStore({ path: db });
    await store.createCompound({ id: 'sunny-garden', name: 'Sunny Garden', timeZone: 'Asia/Shanghai' }, Date.now());
    await store.close();

    const outFile = join(dir, 'gate.json');
    expect(
      await run([
        'add',
        '--compound',
        'sunny-garden',
        '--id',
        'south-out',
        '--keys',
        keysPath,
        '--db',
        db,
        '--out',
        outFile,
      ]),
    ).toBe(0);
    expect(JSON.parse(readFileSync(outFile, 'utf8')).gateId).toBe('south-out');
    expect(await run(['add', '--compound', 'other', '--id', 'x1', '--keys', keysPath, '--db', db])).toBe(2);
    expect(err.join('')).toContain('no compound "other"');

    const reopened = new SqliteCloudStore({ path: db });
    expect((await reopened.listGates('sunny-garden')).map((g) => g.id)).toEqual(['south-out']);
    await reopened.close();
  });

  it('exits 2 with one line for bad ids, unknown flags and a missing keys file', async () => {
    expect(await run(['add', '--compound', 'Bad/Id', '--id', 'g1', '--keys', keysPath])).toBe(2);
    expect(await run(['add', '--compound', 'c1', '--id', 'g1', '--nope'])).toBe(2);
    expect(await run(['add', '--compound', 'c1', '--id', 'g1', '--keys', join(dir, 'missing.json')])).toBe(2);
    expect(await run(['remove'])).toBe(2);
    expect(err).toHaveLength(4);
    for (const line of err) expect(line).toMatch(/^anxin gate: .+\n$/);
  });
});
