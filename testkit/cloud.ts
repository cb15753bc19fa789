/**
 * A real cloud for integration suites: temp SQLite file, a free HTTP port on 127.0.0.1, seeded
 * `admin` and `manager` logins (password `TEST_PASSWORD`), connected to the given broker.
 *
 *   const keysFile = createKeysFile();
 *   const broker = await startTestBroker({ ring: parseKeysFile(keysFile).ring });
 *   const cloud = await startTestCloud({ mqttUrl: broker.url, keysFile });
 *   const token = await cloud.login('admin');
 *   …
 *   await cloud.stop(); await broker.stop();
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { hashPassword } from '../cloud/auth/password-hash.ts';
import { type Cloud, type CloudOptions, createCloud } from '../cloud/cloud-service.ts';
import { isPostgresUrl } from '../cloud/store/postgres/postgres-store.ts';
import { openCloudStore } from '../cloud/store/store-for-db.ts';
import type { HttpRole } from '../shared/enums.ts';
import type { KeysFile } from '../shared/keys.ts';

export const TEST_PASSWORD = 'test-password';

export interface TestCloud {
  /** `http://127.0.0.1:<port>` */
  baseUrl: string;
  /** Signs in over HTTP; returns the bearer token. */
  login(username: string): Promise<string>;
  /** Adds a login with `TEST_PASSWORD` (guards need a compound). */
  addUser(username: string, role: HttpRole, compoundId?: string): Promise<void>;
  cloud: Cloud;
  /** The SQLite file, or the PostgreSQL URL the cloud runs on. */
  dbPath: string;
  /** Stops the cloud; `keepDb` leaves the database for a restart with `reuseDbPath`. */
  stop(options?: { keepDb?: boolean }): Promise<void>;
}

export async function startTestCloud(
  options: {
    keysFile: KeysFile;
    mqttUrl?: string;
    /** Restart on the database a previous test cloud left with `stop({ keepDb: true })`. */
    reuseDbPath?: string;
    /** An empty PostgreSQL database (testkit/postgres.ts) to seed and run on instead of a temp SQLite file. */
    postgresUrl?: string;
  } & Partial<Omit<CloudOptions, 'keysFile' | 'db' | 'port'>>,
): Promise<TestCloud> {
  const { reuseDbPath, postgresUrl, ...cloudOptions } = options;
  const reused = reuseDbPath !== undefined && !isPostgresUrl(reuseDbPath);
  const dir = reused ? dirname(reuseDbPath) : await mkdtemp(join(tmpdir(), 'anxin-cloud-'));
  const dbPath = reuseDbPath ?? postgresUrl ?? join(dir, 'cloud.db');
  const passwordHash = await hashPassword(TEST_PASSWORD);
  if (!reuseDbPath) {
    const seed = await openCloudStore({ db: dbPath });
    for (const [username, role] of [
      ['admin', 'admin'],
      ['manager', 'manager'],
    ] as const) {
      await seed.createUser({ username, passwordHash, role, compoundId: null, createdAt: Date.now() });
    }
    await seed.close();
  }

  const cloud = createCloud({ host: '127.0.0.1', mqttConnectWaitMs: 5000, ...cloudOptions, db: dbPath, port: 0 });
  const { httpPort } = await cloud.start();
  const baseUrl = `http://127.0.0.1:${httpPort}`;
  return {
    baseUrl,
    cloud,
    dbPath,
    async login(username) {
      const res = await fetch(`${baseUrl}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password: TEST_PASSWORD }),
      });
      if (res.status !== 200) throw new Error(`login ${username}: HTTP ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    async addUser(username, role, compoundId) {
      await cloud.core.store.createUser({
        username,
        passwordHash,
        role,
        compoundId: compoundId ?? null,
        createdAt: Date.now(),
      });
    },
    async stop(stopOptions = {}) {
      await cloud.stop();
      if (!stopOptions.keepDb) await rm(dir, { recursive: true, force: true });
    },
  };
}
