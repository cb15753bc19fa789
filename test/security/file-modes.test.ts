/**
 * Files and secrets (docs/security.md, "Where personal data lives"): the cloud's and the gate's
 * data folders are 0700 and their databases (with WAL and SHM) 0600 under a permissive umask, also
 * when the folder existed with a looser mode; the demo reads its password from a file or the
 * environment, so it need not stand in argv where `ps` shows it.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCloud } from '../../cloud/cloud-service.ts';
import { demoPassword } from '../../cli/demo/demo-password.ts';
import { openGateDatabase } from '../../edge-agent/gate-database.ts';
import { ConfigError } from '../../shared/errors.ts';
import { createKeysFile } from '../../shared/keys.ts';

const mode = (path: string) => statSync(path).mode & 0o777;

describe('data folders and files', () => {
  let dir: string;
  let umask: number;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'anxin-modes-'));
    umask = process.umask(0o022);
  });
  afterEach(() => {
    process.umask(umask);
    rmSync(dir, { recursive: true, force: true });
  });

  it("the cloud's data folder is 0700 and its database, WAL and SHM 0600, new or found open", async () => {
    for (const folder of ['new/cloud', 'existing']) {
      const data = join(dir, folder);
      if (folder === 'existing') {
        mkdirSync(data, { mode: 0o755 });
        chmodSync(data, 0o755);
      }
      const dbPath = join(data, 'cloud.db');
      const cloud = createCloud({ db: dbPath, keysFile: createKeysFile(), port: 0, host: '127.0.0.1' });
      await cloud.start();
      try {
        await cloud.core.store.recordAudit({
          at: Date.now(),
          actor: 'a',
          role: 'admin',
          action: 'x',
          compoundId: null,
          target: null,
          detail: null,
        });
        expect([data, mode(data)]).toEqual([data, 0o700]);
        for (const file of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) {
          expect(existsSync(file), file).toBe(true);
          expect([file, mode(file)]).toEqual([file, 0o600]);
        }
      } finally {
        await cloud.stop();
      }
    }
    // A folder the cloud had to create on the way is its own too.
    expect(mode(join(dir, 'new'))).toBe(0o700);
  });

  it("the gate's data folder is 0700 and gate.db with its WAL and SHM 0600, new or found open", () => {
    for (const folder of ['gate-new', 'gate-existing']) {
      const data = join(dir, folder);
      if (folder === 'gate-existing') {
        mkdirSync(data);
        chmodSync(data, 0o777);
      }
      const db = openGateDatabase(data);
      try {
        db.prepare("INSERT INTO meta (key, value) VALUES ('probe', '1')").run();
        expect([data, mode(data)]).toEqual([data, 0o700]);
        for (const file of ['gate.db', 'gate.db-wal', 'gate.db-shm'].map((f) => join(data, f))) {
          expect(existsSync(file), file).toBe(true);
          expect([file, mode(file)]).toEqual([file, 0o600]);
        }
      } finally {
        db.close();
      }
    }
  });
});

describe('the demo password', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'anxin-pw-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('comes from a file (its first line), from the flag or environment, or is the default', () => {
    const file = join(dir, 'pw');
    writeFileSync(file, 'from-a-file\nignored\n', { mode: 0o600 });
    expect(demoPassword({ passwordFile: file })).toBe('from-a-file');
    expect(demoPassword({ password: 'from-env' })).toBe('from-env');
    expect(demoPassword({})).toBe('anxin-demo');
  });

  it('refuses both at once, a short first line, a missing or oversized file', () => {
    const file = join(dir, 'pw');
    writeFileSync(file, 'abc\n');
    const problems = (config: Parameters<typeof demoPassword>[0]) => {
      try {
        demoPassword(config);
        return [];
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ password: 'secret', passwordFile: file })[0]).toMatch(/^password: /);
    expect(problems({ passwordFile: file })[0]).toMatch(/^passwordFile: .*at least 4/);
    expect(problems({ passwordFile: join(dir, 'missing') })[0]).toMatch(/^passwordFile: /);
    writeFileSync(file, 'x'.repeat(5000));
    expect(problems({ passwordFile: file })[0]).toMatch(/^passwordFile: larger than/);
  });
});
