/**
 * `anxin cloud`'s MQTT flags: `--mqtt-ca` (a private CA's PEM bundle, read at start) and
 * `--mqtt-share-group` (validated), and `--db-pool`, with their `ANXIN_*` forms. Only the refusals run in-process
 * here — a good configuration starts the cloud and waits for a signal; the connections themselves
 * are shown by test/integration/mqtts-private-ca.integration.test.ts and cloud-shared-subscription.integration.test.ts.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cloudConfigSchema, help, run } from '../../../cli/commands/cloud.ts';
import { loadConfig } from '../../../shared/config.ts';
import { createKeysFile } from '../../../shared/keys.ts';

let dir: string;
let err: string[];
let keys: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-cloud-cli-'));
  keys = join(dir, 'keys.json');
  writeFileSync(keys, JSON.stringify(createKeysFile()));
  err = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err.push(String(chunk));
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

const base = () => ['--keys', keys, '--db', join(dir, 'db', 'cloud.db'), '--port', '0', '--host', '127.0.0.1'];

describe('anxin cloud MQTT options', () => {
  it('reads --mqtt-ca and --mqtt-share-group, or ANXIN_MQTT_CA and ANXIN_MQTT_SHARE_GROUP', () => {
    const fromFlags = loadConfig(cloudConfigSchema, { flags: { 'mqtt-ca': '/ca.pem', 'mqtt-share-group': 'cloud-1' } });
    expect(fromFlags).toMatchObject({ mqttCa: '/ca.pem', mqttShareGroup: 'cloud-1' });
    const fromEnv = loadConfig(cloudConfigSchema, {
      env: { ANXIN_MQTT_CA: '/etc/anxin/ca.pem', ANXIN_MQTT_SHARE_GROUP: 'ingest' },
    });
    expect(fromEnv).toMatchObject({ mqttCa: '/etc/anxin/ca.pem', mqttShareGroup: 'ingest' });
    const none = loadConfig(cloudConfigSchema, {});
    expect(none.mqttCa).toBeUndefined();
    expect(none.mqttShareGroup).toBeUndefined();
    expect(help).toContain('--mqtt-ca FILE');
    expect(help).toContain('--mqtt-share-group G');
  });

  it('exits 2 with an mqttShareGroup: line for a group that is not [a-z0-9-]{1,64}', async () => {
    for (const bad of ['Cloud', 'a/b', '$share', 'x'.repeat(65), '']) {
      err = [];
      expect(await run([...base(), '--mqtt-share-group', bad])).toBe(2);
      expect(err.join('')).toMatch(/^mqttShareGroup: expected 1-64 characters of a-z, 0-9 and -\n$/);
    }
  });

  it('exits 2 with an mqttCa: line for a missing or non-PEM CA file, before creating anything', async () => {
    const missing = join(dir, 'no-ca.pem');
    expect(await run([...base(), '--mqtt-ca', missing])).toBe(2);
    expect(err.join('')).toBe(`mqttCa: cannot read ${missing}: ENOENT\n`);
    err = [];
    const notPem = join(dir, 'ca.txt');
    writeFileSync(notPem, 'not a certificate\n');
    expect(await run([...base(), '--mqtt-ca', notPem])).toBe(2);
    expect(err.join('')).toBe(`mqttCa: ${notPem} holds no PEM certificate (-----BEGIN CERTIFICATE-----)\n`);
    expect(existsSync(join(dir, 'db'))).toBe(false);
  });
});

describe('anxin cloud --db-pool', () => {
  it('reads --db-pool or ANXIN_DB_POOL (default 10) and documents it in --help', () => {
    expect(loadConfig(cloudConfigSchema, {}).dbPool).toBe(10);
    expect(loadConfig(cloudConfigSchema, { flags: { 'db-pool': '4' } }).dbPool).toBe(4);
    expect(loadConfig(cloudConfigSchema, { env: { ANXIN_DB_POOL: '25' } }).dbPool).toBe(25);
    expect(help).toMatch(/--db-pool N\s+PostgreSQL connections this instance opens at most \(1-100/);
  });

  it('exits 2 with a dbPool: line for a pool size outside 1-100, before creating anything', async () => {
    for (const bad of ['0', '101', 'ten', '2.5', '-1']) {
      err = [];
      expect(await run([...base(), `--db-pool=${bad}`])).toBe(2);
      expect(err.join('')).toMatch(/^dbPool: /);
    }
    expect(existsSync(join(dir, 'db'))).toBe(false);
  });
});
