/**
 * A cloud app without ports for `app.request()` tests: an in-memory SQLite store unless the test
 * brings a store (a backend of test/cloud/store/backends.ts, to run the same routes on PostgreSQL),
 * fresh keys, recorded publishes.
 */
import { type CloudCore, type CloudCoreOptions, createCloudCore } from '../../../cloud/cloud-service.ts';
import { hashPassword } from '../../../cloud/auth/password-hash.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import type { SessionRole } from '../../../shared/enums.ts';
import { createKeysFile, type KeyRing, parseKeysFile, type SigningKey } from '../../../shared/keys.ts';

export interface Harness<S extends CloudStore = SqliteCloudStore> {
  core: CloudCore<S>;
  ring: KeyRing;
  signingKey: SigningKey;
  published: { topic: string; payload: unknown }[];
  /** Set `error` to make every publish fail with it (a broker that is down). */
  publishing: { error?: Error };
  token(role: SessionRole, compound?: string, username?: string): Promise<string>;
  request(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; raw?: string; contentType?: string },
  ): Promise<Response>;
  close(): Promise<void>;
}

export async function createHarness<S extends CloudStore = SqliteCloudStore>(
  options: {
    now?: () => number;
    extensions?: CloudCoreOptions['extensions'];
    store?: S;
    /** False: a second cloud instance on a database another harness already seeded. */
    seed?: boolean;
  } = {},
): Promise<Harness<S>> {
  const keys = parseKeysFile(createKeysFile());
  const store = options.store ?? (new SqliteCloudStore({ path: ':memory:' }) as CloudStore as S);
  const published: { topic: string; payload: unknown }[] = [];
  const publishing: { error?: Error } = {};
  const core = createCloudCore({
    store,
    keys,
    publish: async (topic, payload) => {
      if (publishing.error) throw publishing.error;
      // Snapshot parts go out serialised already (cloud/sync/snapshot-parts.ts): recorded parsed.
      published.push({ topic, payload: Buffer.isBuffer(payload) ? JSON.parse(payload.toString()) : payload });
    },
    ingest: { flushIntervalMs: 1 },
    ...(options.now ? { now: options.now } : {}),
    ...(options.extensions ? { extensions: options.extensions } : {}),
  });
  if (options.seed !== false) await seed(store);
  // A signed token alone is refused: each one names a session (cloud/auth/session-service.ts).
  const token = async (role: SessionRole, compound?: string, username = `${role}-user`) =>
    (await core.sessions.issue({ username, role, ...(compound ? { compound } : {}) })).token;
  return {
    core,
    ring: keys.ring,
    signingKey: keys.signing!,
    published,
    publishing,
    token,
    request: (method, path, opts = {}) => {
      const headers: Record<string, string> = {};
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: string | undefined;
      if (opts.raw !== undefined) {
        body = opts.raw;
        headers['content-type'] = opts.contentType ?? 'text/csv';
      } else if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] = 'application/json';
      }
      return Promise.resolve(core.app.request(path, { method, headers, ...(body !== undefined ? { body } : {}) }));
    },
    close: async () => {
      core.live.shutdown();
      for (const extension of core.extensions) await extension.stop?.();
      await core.ingest.stop();
      await store.close();
    },
  };
}

/** The compounds, gates and admin every harness starts with. */
async function seed(store: CloudStore): Promise<void> {
  await store.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
  await store.createCompound({ id: 'c-2', name: 'Two', timeZone: 'Asia/Shanghai' }, 1);
  await store.createGate({ id: 'g-1', compoundId: 'c-1', name: 'North', antiPassback: false }, 1);
  await store.createGate({ id: 'g-2', compoundId: 'c-2', name: 'South', antiPassback: false }, 1);
  await store.createUser({
    username: 'admin',
    passwordHash: await hashPassword('admin-password'),
    role: 'admin',
    compoundId: null,
    createdAt: 1,
  });
}
