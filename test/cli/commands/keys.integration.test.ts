import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { help, run } from '../../../cli/commands/keys.ts';
import { IdentitySeal } from '../../../cloud/registry/identity-seal.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import { pseudonymizeIdNumber } from '../../../shared/pseudonym.ts';
import { type KeysFile, parseKeysFile, readKeyRing, readKeysFile } from '../../../shared/keys.ts';

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

/** Writes what a command printed to a file of its own, to read it back as a consumer would. */
function writePrinted(json: unknown): string {
  const path = join(dir, `printed-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(json));
  return path;
}

const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as KeysFile;

describe('anxin keys', () => {
  it('init writes a parseable keys file with mode 0600, creating the folder', async () => {
    const path = join(dir, 'data', 'keys.json');
    expect(await run(['init', '--keys', path])).toBe(0);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const parsed = parseKeysFile(read(path));
    expect(parsed.signing?.kid).toBe(1);
    expect(out.join('')).toContain('kid 1');
  });

  it('init refuses to overwrite without --force: exit 2, one line, file untouched', async () => {
    const path = join(dir, 'keys.json');
    await run(['init', '--keys', path]);
    const before = readFileSync(path, 'utf8');
    expect(await run(['init', '--keys', path])).toBe(2);
    expect(readFileSync(path, 'utf8')).toBe(before);
    expect(err.join('').trim().split('\n')).toHaveLength(1);
    expect(err.join('')).toMatch(/exists; use --force/);
    expect(await run(['init', '--keys', path, '--force'])).toBe(0);
    expect(read(path).pepper).not.toBe(JSON.parse(before).pepper);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('rotate adds kid 2 as current and keeps kid 1 public; public prints no private key', async () => {
    const path = join(dir, 'keys.json');
    await run(['init', '--keys', path]);
    const first = read(path);
    expect(await run(['rotate', '--keys', path])).toBe(0);
    const rotated = read(path);
    expect(rotated.current).toBe(2);
    expect(rotated.keys.map((k) => k.kid)).toEqual([1, 2]);
    expect(rotated.keys[0]).toEqual({ kid: 1, publicKey: first.keys[0]!.publicKey });
    expect(rotated.pepper).toBe(first.pepper);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    out.length = 0;
    expect(await run(['public', '--keys', path])).toBe(0);
    const printed = JSON.parse(out.join('')) as KeysFile;
    expect(printed.keys.every((k) => k.privateKey === undefined)).toBe(true);
    expect(readKeyRing(writePrinted(printed)).size).toBe(2);
  });

  it('public holds public keys only — no private key, no pepper; gate adds the pepper a gate needs, 0600 with --out', async () => {
    const path = join(dir, 'keys.json');
    await run(['init', '--keys', path]);
    const secret = read(path);
    out.length = 0;
    expect(await run(['public', '--keys', path])).toBe(0);
    const text = out.join('');
    expect(JSON.parse(text)).toEqual({
      version: 1,
      current: 1,
      keys: [{ kid: 1, publicKey: secret.keys[0]!.publicKey }],
    });
    expect(text).not.toContain(secret.pepper);
    expect(text).not.toContain(secret.keys[0]!.privateKey);
    // A gate cannot run on it (it needs the pepper), and says what to use instead.
    expect(() => readKeysFile(writePrinted(JSON.parse(text)))).toThrow(/public keys only .* anxin keys gate/);

    const gateKeys = join(dir, 'gate-keys.json');
    expect(await run(['gate', '--keys', path, '--out', gateKeys])).toBe(0);
    expect(statSync(gateKeys).mode & 0o777).toBe(0o600);
    const forGate = readKeysFile(gateKeys);
    expect(forGate.signing).toBeUndefined();
    expect(forGate.file.pepper).toBe(secret.pepper);
    expect(await run(['gate', '--keys', path, '--out', gateKeys])).toBe(2);
    expect(err.join('')).toMatch(/gate-keys\.json exists; not overwriting it/);
  });

  it('takes the old flag names (--out for init, --file for rotate and public) with a deprecation line', async () => {
    const path = join(dir, 'keys.json');
    expect(await run(['init', '--out', path])).toBe(0);
    expect(await run(['rotate', '--file', path])).toBe(0);
    expect(await run(['public', '--file', path])).toBe(0);
    expect(read(path).current).toBe(2);
    expect(err).toEqual([
      `anxin keys: --out is deprecated here; use --keys ${path}\n`,
      `anxin keys: --file is deprecated here; use --keys ${path}\n`,
      `anxin keys: --file is deprecated here; use --keys ${path}\n`,
    ]);
  });

  it('exits 2 with one line for unknown sub-commands and flags, and path: message lines for a bad file', async () => {
    expect(await run([])).toBe(2);
    expect(await run(['destroy'])).toBe(2);
    expect(await run(['init', '--bogus'])).toBe(2);
    expect(await run(['rotate', '--keys', join(dir, 'missing.json')])).toBe(2);
    expect(err).toHaveLength(4);
    expect(err[3]).toMatch(/missing\.json: cannot read \(ENOENT\)/);
    err.length = 0;
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ version: 1, current: 3, keys: [], pepper: 'xy' }));
    expect(await run(['public', '--keys', bad])).toBe(2);
    expect(err.join('')).toMatch(/^keys: .*\npepper: .*\ncurrent: /m);
    expect(help).toContain('anxin keys init');
  });

  it('is reachable through the anxin command', () => {
    const bin = fileURLToPath(new URL('../../../bin/anxin.mjs', import.meta.url));
    const path = join(dir, 'keys.json');
    const result = spawnSync(process.execPath, [bin, 'keys', 'init', '--keys', path], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    expect(existsSync(path)).toBe(true);
    const again = spawnSync(process.execPath, [bin, 'keys', 'init', '--keys', path], { encoding: 'utf8' });
    expect(again.status).toBe(2);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('anxin keys rotate-pepper (docs/operations.md, "Rotating the pepper")', () => {
  const ID = '440524188001015368';

  async function residentStore(path: string, pepper: Buffer): Promise<void> {
    const store = new SqliteCloudStore({ path });
    await store.createCompound({ id: 'c1', name: 'C1', timeZone: 'Asia/Shanghai' }, NOW);
    const seal = new IdentitySeal(pepper);
    await store.upsertResidents([
      {
        personId: 'p-1',
        compoundId: 'c1',
        householdId: null,
        kind: 'resident',
        name: '李秀英',
        maskedName: '李*',
        idSealed: seal.seal(ID),
        idHash: pseudonymizeIdNumber(ID, pepper),
        maskedIdNumber: '4405**********5368',
        phone: null,
        cards: [],
        elderly: false,
        validFrom: null,
        validTo: null,
        active: true,
        health: 'green',
        healthTs: NOW,
        createdAt: NOW,
        updatedAt: NOW,
      },
    ]);
    await store.close();
  }
  const NOW = Date.UTC(2026, 11, 1);

  it('re-keys every pseudonym and seal to a new pepper in one step, and the keys file with it', async () => {
    const keys = join(dir, 'keys.json');
    const db = join(dir, 'cloud.db');
    await run(['init', '--keys', keys]);
    const before = read(keys);
    const oldPepper = Buffer.from(before.pepper, 'hex');
    await residentStore(db, oldPepper);

    expect(await run(['rotate-pepper', '--keys', keys, '--db', db])).toBe(0);
    const after = read(keys);
    expect(after.pepper).not.toBe(before.pepper);
    expect(after.keys).toEqual(before.keys);
    expect(statSync(keys).mode & 0o777).toBe(0o600);
    expect(existsSync(`${keys}.new`)).toBe(false);
    const newPepper = Buffer.from(after.pepper, 'hex');

    const store = new SqliteCloudStore({ path: db });
    try {
      // The card of that person matches under the new pepper, not under the old one.
      expect((await store.findResidentsByIdHash([pseudonymizeIdNumber(ID, newPepper)])).map((r) => r.personId)).toEqual(
        ['p-1'],
      );
      expect(await store.findResidentsByIdHash([pseudonymizeIdNumber(ID, oldPepper)])).toEqual([]);
      const resident = (await store.findResidentsByIdHash([pseudonymizeIdNumber(ID, newPepper)]))[0]!;
      expect(new IdentitySeal(newPepper).open(resident.idSealed!)).toBe(ID);
      expect(() => new IdentitySeal(oldPepper).open(resident.idSealed!)).toThrow();
    } finally {
      await store.close();
    }
  });

  it('changes nothing when a seal does not open with the keys file’s pepper', async () => {
    const keys = join(dir, 'keys.json');
    const db = join(dir, 'cloud.db');
    await run(['init', '--keys', keys]);
    await residentStore(db, Buffer.alloc(32, 7));
    const before = readFileSync(keys, 'utf8');
    expect(await run(['rotate-pepper', '--keys', keys, '--db', db])).toBe(2);
    expect(err.join('')).toMatch(
      /p-1: the sealed ID number does not open with this keys file's pepper; nothing changed/,
    );
    expect(readFileSync(keys, 'utf8')).toBe(before);
    expect(existsSync(`${keys}.new`)).toBe(false);
    expect(await run(['rotate-pepper', '--keys', keys])).toBe(2);
  });
});
