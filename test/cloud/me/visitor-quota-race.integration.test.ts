/**
 * A household's visitor quota under concurrent invitations (cloud/me/visitor-routes.ts,
 * `ResidentSideStore.reserveInvite`): the quota is counted and the slot taken at once, under the
 * household's lock — an advisory lock on PostgreSQL, shared by every cloud instance; SQLite's one
 * writer — so invitations racing for the last slots never go over the quota. On PostgreSQL the
 * requests alternate between two cloud instances on one database. The refused create nothing: no
 * visitor person, no pass, no invitation. Without the lock (count, then insert) every request of
 * the burst counts the same and all of them are accepted.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { residentSideExtension } from '../../../cloud/me/resident-side-extension.ts';
import { PostgresCloudStore } from '../../../cloud/store/postgres/postgres-store.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { seedInvitingHousehold } from './inviting-household.ts';
import { createHarness, type Harness } from '../http/app-harness.ts';
import { storeBackends } from '../store/backends.ts';

const T0 = Date.UTC(2026, 11, 1, 2, 0, 0);
const QUOTA = 3;
const BURST = 10;

describe.each(storeBackends())('the visitor quota under a burst of invitations on the $name store', (backend) => {
  afterAll(() => backend.dispose());
  let instances: Harness<CloudStore>[];

  beforeEach(async () => {
    const pepper = randomBytes(32);
    const first = await createHarness({
      store: await backend.open(),
      now: () => T0,
      extensions: [residentSideExtension({ pepper })],
    });
    instances = [first];
    // PostgreSQL: a second instance on the same database (SQLite has one writer: one instance).
    if (backend.name === 'postgres') {
      const engine = first.core.store.engine;
      const url = engine.kind === 'postgres' ? engine.pool.options.connectionString : undefined;
      const second = await createHarness({
        store: await PostgresCloudStore.open({ url: String(url), max: 4 }),
        now: () => T0,
        extensions: [residentSideExtension({ pepper })],
        seed: false,
      });
      instances.push(second);
    }
    await seedInvitingHousehold(first, QUOTA);
  });
  afterEach(async () => {
    for (const h of instances.reverse()) await h.close();
  });

  it('accepts exactly the quota and refuses the rest, creating nothing for the refused', async () => {
    const tokens = await Promise.all(
      instances.map(
        async (h) => (await h.core.sessions.issue({ username: 'r:p-zhang', role: 'resident', compound: 'c-1' })).token,
      ),
    );
    const responses = await Promise.all(
      Array.from({ length: BURST }, (_, i) => {
        const h = instances[i % instances.length]!;
        return h.request('POST', '/api/v1/me/visitors', {
          token: tokens[i % instances.length]!,
          body: { name: `访客${i}`, phoneTail: '4321', date: '2026-12-01', uses: 1 },
        });
      }),
    );
    const bodies = await Promise.all(responses.map(async (r) => ({ status: r.status, body: await r.json() })));
    const created = bodies.filter((b) => b.status === 201);
    const refused = bodies.filter((b) => b.status === 409);
    expect(created).toHaveLength(QUOTA);
    expect(refused).toHaveLength(BURST - QUOTA);
    for (const r of refused) expect(r.body).toMatchObject({ error: { code: 'visitor-quota' } });
    expect(created.map((c) => (c.body as { quotaLeft: number }).quotaLeft).sort()).toEqual([0, 1, 2]);

    const store = instances[0]!.core.store;
    const list = await instances[0]!.request('GET', '/api/v1/me/visitors', { token: tokens[0]! });
    const invites = ((await list.json()) as { invites: { passId?: string; inviteId: string }[] }).invites;
    expect(invites).toHaveLength(QUOTA);
    const visitors = (await store.listResidents({ compoundId: 'c-1', limit: 100 })).residents.filter(
      (r) => r.kind === 'visitor',
    );
    expect(visitors).toHaveLength(QUOTA);
  });
});
