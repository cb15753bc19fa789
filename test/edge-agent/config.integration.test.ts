import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEdgeConfig, parseEdgeConfig } from '../../edge-agent/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import { gateKeysFile } from './fixtures.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'anxin-edge-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const minimal = {
  gateId: 'g1',
  compoundId: 'c1',
  mqtt: { url: 'mqtt://127.0.0.1:1883' },
  keysFile: '/etc/anxin/keys.json',
};

describe('edge config', () => {
  it('fills every default from a minimal config', () => {
    const config = parseEdgeConfig(minimal);
    expect(config).toMatchObject({
      dataDir: './data/gate',
      binding: 'os',
      http: { enabled: true, port: 8090, host: '127.0.0.1' },
      devices: { readers: [] },
      timeouts: { passageMs: 10_000, tailgateWindowMs: 3_000, ackMs: 30_000, syncRetryMs: 15_000 },
      stalenessLimitMs: 900_000,
      antiPassback: false,
      yellowPolicy: 'deny',
      journal: { alarmDepth: 200_000, maxInFlight: 4, batchSize: 500, synchronous: 'full' },
    });
  });

  it('takes flags over ANXIN_* env over the file', () => {
    const config = loadEdgeConfig({
      file: { name: 'gate.json', text: JSON.stringify({ ...minimal, devices: { qr: { path: '/dev/ttyS1' } } }) },
      env: { ANXIN_GATE_ID: 'from-env', ANXIN_HTTP__PORT: '9001', ANXIN_DEVICES__QR__BAUD_RATE: '115200' },
      flags: { 'http.port': '9002' },
    });
    expect(config.gateId).toBe('from-env');
    expect(config.http.port).toBe(9002);
    expect(config.devices.readers).toEqual([
      { kind: 'qr', name: 'qr', path: '/dev/ttyS1', baudRate: 115200, direction: 'in' },
    ]);
  });

  it('takes mqtt.caFile from the file or as ANXIN_MQTT__CA_FILE, and no empty path', () => {
    expect(parseEdgeConfig(minimal).mqtt.caFile).toBeUndefined();
    const fromFile = loadEdgeConfig({
      file: { name: 'gate.json', text: JSON.stringify({ ...minimal, mqtt: { ...minimal.mqtt, caFile: '/a.pem' } }) },
    });
    expect(fromFile.mqtt.caFile).toBe('/a.pem');
    const fromEnv = loadEdgeConfig({
      file: { name: 'gate.json', text: JSON.stringify(minimal) },
      env: { ANXIN_MQTT__CA_FILE: '/etc/anxin/ca.pem' },
    });
    expect(fromEnv.mqtt).toMatchObject({ url: 'mqtt://127.0.0.1:1883', caFile: '/etc/anxin/ca.pem' });
    expect(() => parseEdgeConfig({ ...minimal, mqtt: { ...minimal.mqtt, caFile: '' } })).toThrow(/^mqtt\.caFile: /);
  });

  it('accepts the keys inline instead of a file, but not both or neither', () => {
    const { keysFile: _k, ...withoutKeys } = minimal;
    expect(parseEdgeConfig({ ...withoutKeys, keys: gateKeysFile() }).keys?.version).toBe(1);
    expect(() => parseEdgeConfig(withoutKeys)).toThrow(/keysFile: give exactly one of keysFile or keys/);
    expect(() => parseEdgeConfig({ ...minimal, keys: gateKeysFile() })).toThrow(ConfigError);
  });

  it('reports every problem as a path: message line', () => {
    try {
      parseEdgeConfig({
        gateId: 'Gate 1',
        compoundId: 'c1',
        mqtt: { url: 'http://x' },
        keysFile: 'k.json',
        devices: { turnstile: { path: '', address: 200 } },
        yellowPolicy: 'maybe',
      } as never);
      expect.unreachable();
    } catch (error) {
      const problems = (error as ConfigError).problems;
      expect(problems).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^gateId: /),
          expect.stringMatching(/^mqtt\.url: /),
          expect.stringMatching(/^devices\.turnstile\.path: /),
          expect.stringMatching(/^devices\.turnstile\.address: /),
          expect.stringMatching(/^yellowPolicy: /),
        ]),
      );
    }
  });
});

// Each case starts up to three processes; on a loaded machine one start can take seconds.
describe('anxin edge (command line)', { timeout: 90_000 }, () => {
  const anxin = (...args: string[]) =>
    spawnSync(process.execPath, ['bin/anxin.mjs', 'edge', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });

  it('exits 2 with one path: message line per problem for a bad config', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({ gateId: 'g1', mqtt: { url: 'nope' }, keysFile: 'k.json', http: { port: -1 } }),
    );
    const result = anxin('--config', file);
    expect(result.status).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toEqual(expect.arrayContaining(['compoundId: Invalid input: expected string, received undefined']));
    expect(lines.some((l) => l.startsWith('mqtt.url: '))).toBe(true);
    expect(lines.some((l) => l.startsWith('http.port: '))).toBe(true);
  });

  it('exits 2 for an unknown flag, a missing file and an unreadable keys file', () => {
    expect(anxin('--bogus').status).toBe(2);
    const missing = anxin('--config', join(dir, 'nope.json'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^config: cannot read .*ENOENT/);
    const file = join(dir, 'nokeys.json');
    writeFileSync(
      file,
      JSON.stringify({ ...minimal, keysFile: join(dir, 'missing-keys.json'), http: { enabled: false } }),
    );
    const noKeys = anxin('--config', file);
    expect(noKeys.status).toBe(2);
    expect(noKeys.stderr).toMatch(/missing-keys\.json: .*ENOENT/);
  });

  it('exits 2 with an mqtt.caFile: line when the CA file cannot be read', () => {
    const keysFile = join(dir, 'gate-keys.json');
    writeFileSync(keysFile, JSON.stringify(gateKeysFile()));
    const file = join(dir, 'ca-missing.json');
    writeFileSync(
      file,
      JSON.stringify({
        ...minimal,
        mqtt: { url: 'mqtts://127.0.0.1:1' },
        keysFile,
        dataDir: join(dir, 'gate-data'),
        http: { enabled: false },
      }),
    );
    const missing = join(dir, 'no-ca.pem');
    const result = spawnSync(process.execPath, ['bin/anxin.mjs', 'edge', '--config', file], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, ANXIN_MQTT__CA_FILE: missing, ANXIN_LOG_LEVEL: 'silent' },
    });
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([`mqtt.caFile: cannot read ${missing}: ENOENT`]);
  });

  it('prints its help', () => {
    const result = anxin('--help');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('anxin edge --config FILE');
  });
});

describe('edge config: the lane readers (docs/lanes.md)', () => {
  const reader = (kind: 'qr' | 'idreader', path: string, extra: Record<string, unknown> = {}) => ({
    kind,
    path,
    ...extra,
  });

  it('reads the single-device form of the first gate.json files as named readers, unchanged in meaning', () => {
    const config = parseEdgeConfig({
      ...minimal,
      devices: {
        idreader: { path: '/dev/anxin/idreader', direction: 'out', pollIntervalMs: 500 },
        qr: { path: '/dev/anxin/qr', terminator: 'cr' },
        turnstile: { path: '/dev/anxin/rs485' },
      },
    });
    expect(config.devices.readers).toEqual([
      {
        kind: 'idreader',
        name: 'idreader',
        path: '/dev/anxin/idreader',
        baudRate: 115200,
        direction: 'out',
        pollIntervalMs: 500,
      },
      { kind: 'qr', name: 'qr', path: '/dev/anxin/qr', baudRate: 9600, direction: 'in', terminator: 'cr' },
    ]);
    expect(config.devices.turnstile?.path).toBe('/dev/anxin/rs485');
    expect(config.devices).not.toHaveProperty('qr');
  });

  it('takes any number of readers with their directions, named kind-direction by default, mixed with the old form', () => {
    const config = parseEdgeConfig({
      ...minimal,
      devices: {
        qr: { path: '/dev/a' },
        readers: [
          reader('idreader', '/dev/b'),
          reader('qr', '/dev/c', { direction: 'out' }),
          reader('idreader', '/dev/d', { direction: 'out', name: 'id-exit' }),
        ],
      },
    });
    expect(config.devices.readers.map((r) => [r.name, r.kind, r.direction, r.path])).toEqual([
      ['qr', 'qr', 'in', '/dev/a'],
      ['idreader-in', 'idreader', 'in', '/dev/b'],
      ['qr-out', 'qr', 'out', '/dev/c'],
      ['id-exit', 'idreader', 'out', '/dev/d'],
    ]);
  });

  it('refuses two readers of one name, two devices on one port, an unknown kind and a bad name', () => {
    expect(() =>
      parseEdgeConfig({ ...minimal, devices: { readers: [reader('qr', '/dev/a'), reader('qr', '/dev/b')] } }),
    ).toThrow(/^devices\.readers: two devices named "qr-in": give each reader its own name$/m);
    expect(() =>
      parseEdgeConfig({
        ...minimal,
        devices: { readers: [reader('qr', '/dev/a')], turnstile: { path: '/dev/a' } },
      }),
    ).toThrow(/^devices\.readers: "qr-in" and "turnstile" both use \/dev\/a: one serial port per device$/m);
    expect(() => parseEdgeConfig({ ...minimal, devices: { readers: [reader('nfc' as never, '/dev/a')] } })).toThrow(
      /^devices\.readers\.0\.kind: /m,
    );
    expect(() =>
      parseEdgeConfig({ ...minimal, devices: { readers: [reader('qr', '/dev/a', { name: 'QR Exit' })] } }),
    ).toThrow(/^devices\.readers\.0\.name: /m);
  });

  it('loads the readers from a gate.json file through the same migration', () => {
    const config = loadEdgeConfig({
      file: {
        name: 'gate.json',
        text: JSON.stringify({
          ...minimal,
          devices: { idreader: { path: '/dev/x' }, readers: [reader('qr', '/dev/y')] },
        }),
      },
      env: { ANXIN_DEVICES__IDREADER__DIRECTION: 'out' },
    });
    expect(config.devices.readers.map((r) => `${r.name}:${r.direction}`)).toEqual(['idreader:out', 'qr-in:in']);
  });
});
