import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import Database from 'better-sqlite3';
import { SessionService } from '../../../cloud/auth/session-service.ts';
import { SqliteSessionStore } from '../../../cloud/auth/sqlite-session-store.ts';
import { createKeysFile, parseKeysFile } from '../../../shared/keys.ts';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { run as runCloud } from '../../../cli/commands/cloud.ts';
import { run } from '../../../cli/commands/user.ts';
import { verifyPassword } from '../../../cloud/auth/password-hash.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';

describe('anxin user add', () => {
  let dir: string;
  let db: string;
  let out: string;
  let err: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anxin-user-'));
    db = join(dir, 'data', 'cloud.db');
    out = '';
    err = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out += String(chunk);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      err += String(chunk);
      return true;
    });
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  it('adds a user with a scrypt-hashed password', async () => {
    expect(await run(['add', '--db', db, '--username', 'li', '--role', 'manager', '--password', 'pass-word-1'])).toBe(
      0,
    );
    const store = new SqliteCloudStore({ path: db });
    const user = await store.getUser('li');
    await store.close();
    expect(user?.role).toBe('manager');
    expect(user?.passwordHash).toMatch(/^scrypt\$/);
    expect(await verifyPassword('pass-word-1', user!.passwordHash)).toBe(true);
  });

  it('generates and prints a password when none is given and stdin is not a terminal', async () => {
    expect(await run(['add', '--db', db, '--username', 'wang', '--role', 'admin'])).toBe(0);
    const password = /password: (\S+)/.exec(out)?.[1];
    expect(password).toBeDefined();
    const store = new SqliteCloudStore({ path: db });
    expect(await verifyPassword(password!, (await store.getUser('wang'))!.passwordHash)).toBe(true);
    await store.close();
  });

  it('list prints every login with its role and compound, never a password hash', async () => {
    expect(await run(['add', '--db', db, '--username', 'li', '--role', 'manager', '--password', 'pass-word-1'])).toBe(
      0,
    );
    expect(await run(['add', '--db', db, '--username', 'root', '--role', 'admin', '--password', 'pass-word-2'])).toBe(
      0,
    );
    out = '';
    expect(await run(['list', '--db', db])).toBe(0);
    expect(out.split('\n').map((line) => line.trim().split(/\s+/))).toEqual(
      expect.arrayContaining([
        ['username', 'role', 'compound'],
        ['li', 'manager', '(all)'],
        ['root', 'admin', '(all)'],
      ]),
    );
    expect(out).not.toMatch(/scrypt/);
    expect(await run(['list', '--db', join(dir, 'nowhere.db')])).toBe(2);
    expect(err).toMatch(/^anxin user: --db: .*nowhere\.db does not exist/m);
  });

  it('exits 2 with one line per problem', async () => {
    expect(await run(['add', '--db', db, '--username', 'Bad Name', '--role', 'boss', '--password', 'x'])).toBe(2);
    expect(err.trim().split('\n')).toHaveLength(3);
    expect(await run(['add', '--db', db, '--username', 'g', '--role', 'guard', '--password', 'long-enough'])).toBe(2);
    expect(await run(['add', '--nope'])).toBe(2);
    expect(await run(['remove'])).toBe(2);
  });

  it('refuses a password file that is missing or larger than a password file can be, unread, with exit 2', async () => {
    const big = join(dir, 'big.txt');
    await writeFile(big, 'x'.repeat(10_000));
    const add = (file: string) =>
      run(['add', '--db', db, '--username', 'li', '--role', 'manager', '--password-file', file]);
    expect(await add(big)).toBe(2);
    expect(err).toContain('passwordFile: larger than 4096 bytes');
    expect(await add(join(dir, 'missing.txt'))).toBe(2);
    expect(err).toContain('passwordFile: ENOENT');
  });

  it('anxin cloud refuses bad configuration with exit 2', async () => {
    expect(await runCloud(['--port', 'eighty', '--keys', join(dir, 'missing.json')])).toBe(2);
    expect(err).toMatch(/^port: /m);
    expect(await runCloud(['--db', 'postgres://db/anxin', '--keys', join(dir, 'missing.json')])).toBe(2);
    expect(await runCloud(['--unknown'])).toBe(2);
  });

  it('passwd and disable end every session of the user in the database a running cloud reads', async () => {
    const keys = parseKeysFile(createKeysFile());
    expect(await run(['add', '--db', db, '--username', 'li', '--role', 'manager', '--password', 'pass-word-1'])).toBe(
      0,
    );
    const open = () => {
      const sqlite = new Database(db);
      const sessions = new SessionService({
        store: new SqliteSessionStore(sqlite),
        signingKey: keys.signing!,
        now: Date.now,
      });
      return { sessions, close: () => sqlite.close() };
    };
    const first = open();
    const a = await first.sessions.issue({ username: 'li', role: 'manager' });
    const b = await first.sessions.issue({ username: 'li', role: 'manager' });
    const claims = (jti: string) => ({ jti, sub: 'li' });
    expect(await first.sessions.check(claims(a.jti))).toBe('ok');

    const passwordFile = join(dir, 'pw');
    await writeFile(passwordFile, 'from-a-file-1\n', { mode: 0o600 });
    expect(await run(['passwd', '--db', db, '--username', 'li', '--password-file', passwordFile])).toBe(0);
    expect(await first.sessions.check(claims(a.jti))).toBe('ended');
    expect(await first.sessions.check(claims(b.jti))).toBe('ended');
    const store = new SqliteCloudStore({ path: db });
    expect(await verifyPassword('from-a-file-1', (await store.getUser('li'))!.passwordHash)).toBe(true);
    await store.close();

    const c = await first.sessions.issue({ username: 'li', role: 'manager' });
    expect(await run(['disable', '--db', db, '--username', 'li'])).toBe(0);
    expect(await first.sessions.check(claims(c.jti))).toBe('ended');
    expect(await first.sessions.isDisabled('li')).toBe(true);
    expect(await run(['enable', '--db', db, '--username', 'li'])).toBe(0);
    expect(await first.sessions.isDisabled('li')).toBe(false);
    first.close();

    expect(await run(['disable', '--db', db, '--username', 'nobody'])).toBe(2);
    expect(await run(['passwd', '--db', db, '--username', 'li', '--password', 'short'])).toBe(2);
  });
});
