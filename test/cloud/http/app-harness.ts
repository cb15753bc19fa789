/** A cloud app without ports for `app.request()` tests: in-memory store, fresh keys, recorded publishes. */
import { type CloudCore, createCloudCore } from '../../../cloud/cloud-service.ts';
import { hashPassword } from '../../../cloud/auth/password-hash.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import type { HttpRole } from '../../../shared/enums.ts';
import { createKeysFile, type KeyRing, parseKeysFile } from '../../../shared/keys.ts';
import { signToken } from '../../../shared/token.ts';

export interface Harness {
  core: CloudCore;
  ring: KeyRing;
  published: { topic: string; payload: unknown }[];
  /** Set `error` to make every publish fail with it (a broker that is down). */
  publishing: { error?: Error };
  token(role: HttpRole, compound?: string, username?: string): string;
  request(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; raw?: string; contentType?: string },
  ): Promise<Response>;
  close(): Promise<void>;
}

export async function createHarness(): Promise<Harness> {
  const keys = parseKeysFile(createKeysFile());
  const store = new SqliteCloudStore({ path: ':memory:' });
  const published: { topic: string; payload: unknown }[] = [];
  const publishing: { error?: Error } = {};
  const core = createCloudCore({
    store,
    keys,
    publish: async (topic, payload) => {
      if (publishing.error) throw publishing.error;
      published.push({ topic, payload });
    },
    ingest: { flushIntervalMs: 1 },
  });
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
  const token = (role: HttpRole, compound?: string, username = `${role}-user`) =>
    signToken({ sub: username, role, ...(compound ? { compound } : {}), exp: Date.now() + 3_600_000 }, keys.signing!);
  return {
    core,
    ring: keys.ring,
    published,
    publishing,
    token,
    request: (method, path, options = {}) => {
      const headers: Record<string, string> = {};
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      let body: string | undefined;
      if (options.raw !== undefined) {
        body = options.raw;
        headers['content-type'] = options.contentType ?? 'text/csv';
      } else if (options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers['content-type'] = 'application/json';
      }
      return Promise.resolve(core.app.request(path, { method, headers, ...(body !== undefined ? { body } : {}) }));
    },
    close: async () => {
      core.live.shutdown();
      await core.ingest.stop();
      await store.close();
    },
  };
}
