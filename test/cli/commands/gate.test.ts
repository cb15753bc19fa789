import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  expect(await runKeys(['init', '--keys', keysPath])).toBe(0);
  out = [];
});

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

describe('anxin gate add', () => {
  it('prints a gate.json the edge agent accepts, with a gate token for exactly that gate', async () => {
    expect(await run(['add', '--compound', 'sunny-garden', '--id', 'north-in', '--keys', keysPath])).toBe(0);
    const raw = JSON.parse(out.join(''));
    const config = parseEdgeConfig(raw);
    expect(config.gateId).toBe('north-in');
    // The terminal has no login and accepts remote opens: loopback unless exposed on purpose.
    expect(raw.http).toEqual({ port: 8090, host: '127.0.0.1' });
    expect(config.http.host).toBe('127.0.0.1');
    // The production layout of docs/hardware.md, and placeholders for every device.
    expect(config.dataDir).toBe('/var/lib/anxin/north-in');
    expect(Object.keys(raw.devices).sort()).toEqual(['idreader', 'qr', 'turnstile']);
    expect(config.devices.readers.find((r) => r.kind === 'qr')?.path).toMatch(/REPLACE/);
    expect(config.keys?.keys.every((k) => k.privateKey === undefined)).toBe(true);
    const check = verifyToken(config.mqtt.token!, readKeysFile(keysPath).ring, Date.now());
    expect(check.ok && check.claims).toMatchObject({ sub: 'north-in', role: 'gate', compound: 'sunny-garden' });
  });

  it('writes a two-way lane as readers with their directions when given the exit side (docs/lanes.md)', async () => {
    const args = ['add', '--compound', 'c1', '--id', 'east-1', '--keys', keysPath, '--data-dir', dir];
    const devices = ['--qr', '/dev/anxin/qr-entry', '--qr-out', '/dev/anxin/qr-exit'];
    expect(
      await run([...args, ...devices, '--idreader-out', '/dev/anxin/id-exit', '--turnstile', '/dev/anxin/rs485']),
    ).toBe(0);
    const config = parseEdgeConfig(JSON.parse(out.join('')));
    expect(config.devices.readers.map((r) => [r.name, r.kind, r.direction, r.path, r.baudRate])).toEqual([
      ['qr-entry', 'qr', 'in', '/dev/anxin/qr-entry', 9600],
      ['qr-exit', 'qr', 'out', '/dev/anxin/qr-exit', 9600],
      ['id-exit', 'idreader', 'out', '/dev/anxin/id-exit', 115200],
    ]);
    expect(config.devices.turnstile?.path).toBe('/dev/anxin/rs485');
  });

  it('--mqtt-ca writes mqtt.caFile; an mqtts:// broker without it gets a line naming the option', async () => {
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const args = ['add', '--compound', 'c1', '--id', 'g1', '--keys', keysPath, '--mqtt', 'mqtts://broker.example:8883'];
    expect(await run([...args, '--mqtt-ca', ca])).toBe(0);
    expect(parseEdgeConfig(JSON.parse(out.join(''))).mqtt).toMatchObject({
      url: 'mqtts://broker.example:8883',
      caFile: ca,
    });
    expect(err.join('')).toBe('');
    out = [];
    expect(await run(args)).toBe(0);
    expect(err.join('')).toMatch(/from a private CA needs --mqtt-ca FILE/);
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'hello');
    err = [];
    expect(await run([...args, '--mqtt-ca', notPem])).toBe(2);
    expect(err.join('')).toMatch(/^anxin gate: --mqtt-ca: .*not\.pem holds no PEM certificate/);
  });

  it('list shows the registered gates and what each last said', async () => {
    const db = join(dir, 'cloud.db');
    const store = new SqliteCloudStore({ path: db });
    await store.createCompound({ id: 'sunny-garden', name: 'Sunny Garden', timeZone: 'Asia/Shanghai' }, Date.now());
    await store.close();
    const add = (id: string) => run(['add', '--compound', 'sunny-garden', '--id', id, '--keys', keysPath, '--db', db]);
    expect(await add('north-1')).toBe(0);
    expect(await add('south-1')).toBe(0);
    out = [];
    expect(await run(['list', '--db', db])).toBe(0);
    const rows = out
      .join('')
      .trim()
      .split('\n')
      .map((line) => line.split(/\s{2,}/));
    expect(rows).toEqual([
      ['id', 'compound', 'name', 'status'],
      ['north-1', 'sunny-garden', 'north-1', 'never heard'],
      ['south-1', 'sunny-garden', 'south-1', 'never heard'],
    ]);
    expect(await run(['list', '--db', join(dir, 'missing.db')])).toBe(2);
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

  it('audits the registration as gate.register, and a re-issued token as gate.token, like the cloud does', async () => {
    const db = join(dir, 'cloud.db');
    const store = new SqliteCloudStore({ path: db });
    await store.createCompound({ id: 'sunny-garden', name: 'Sunny Garden', timeZone: 'Asia/Shanghai' }, Date.now());
    await store.createCompound({ id: 'other', name: 'Other', timeZone: 'Asia/Shanghai' }, Date.now());
    await store.close();
    const add = (...more: string[]) =>
      run(['add', '--compound', 'sunny-garden', '--id', 'north-in', '--keys', keysPath, '--db', db, ...more]);

    const before = Date.now();
    expect(await add('--name', 'North gate, entry')).toBe(0);
    expect(await add('--days', '30')).toBe(0);
    expect(err.join('')).toContain('north-in is already registered; issuing a new token only');
    // The same id in another compound is a different gate: refused, nothing written.
    expect(await run(['add', '--compound', 'other', '--id', 'north-in', '--keys', keysPath, '--db', db])).toBe(2);
    expect(err.at(-1)).toBe('anxin gate: --id: gate north-in is registered in compound "sunny-garden", not "other"\n');

    const reopened = new SqliteCloudStore({ path: db });
    try {
      const { entries } = await reopened.listAudit({ limit: 100 });
      const gateEntries = entries.filter((e) => e.action.startsWith('gate.')).sort((a, b) => a.id - b.id);
      expect(gateEntries).toHaveLength(2);
      expect(gateEntries[0]).toMatchObject({
        actor: 'cli',
        role: 'admin',
        action: 'gate.register',
        compoundId: 'sunny-garden',
        target: 'north-in',
        detail: { name: 'North gate, entry' },
      });
      expect(gateEntries[1]).toMatchObject({
        actor: 'cli',
        role: 'admin',
        action: 'gate.token',
        compoundId: 'sunny-garden',
        target: 'north-in',
      });
      const expiresAt = (gateEntries[1]!.detail as { expiresAt: number }).expiresAt;
      expect(expiresAt).toBeGreaterThanOrEqual(before + 30 * 86_400_000);
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + 30 * 86_400_000);
      for (const e of gateEntries) expect(e.at).toBeGreaterThanOrEqual(before);
      expect((await reopened.listAudit({ limit: 10, action: 'gate.register' })).entries).toHaveLength(1);
    } finally {
      await reopened.close();
    }
  });

  it('--data-dir and the device flags: a gate.json that runs as is, with only the devices given', async () => {
    const dataDir = join(dir, 'gates', 'north-in');
    expect(
      await run([
        'add',
        '--compound',
        'sunny-garden',
        '--id',
        'north-in',
        '--keys',
        keysPath,
        '--data-dir',
        dataDir,
        '--qr',
        '/tmp/qr-gate',
        '--turnstile',
        '/tmp/rs485-gate',
      ]),
    ).toBe(0);
    const config = parseEdgeConfig(JSON.parse(out.join('')));
    expect(config.dataDir).toBe(dataDir);
    expect(config.http.host).toBe('127.0.0.1');
    expect(config.devices).toEqual({
      readers: [{ kind: 'qr', name: 'qr', path: '/tmp/qr-gate', baudRate: 9600, direction: 'in' }],
      turnstile: expect.objectContaining({ path: '/tmp/rs485-gate', baudRate: 115200, address: 0 }),
    });
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
