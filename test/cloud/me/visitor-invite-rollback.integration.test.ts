/**
 * Visitor invitations that do not finish (cloud/me/visitor-routes.ts, cloud/me/visitor-reservations.ts),
 * on every store backend. The household's slot is reserved before the visitor person and pass are
 * made; the reservation is pending until then, and:
 * - while pending it is in no view: not listed, not revocable — withdrawing it before its pass
 *   existed left an invitation shown as withdrawn whose pass was valid;
 * - a failure after the pass was made rolls everything back: the pass revoked at every gate, the
 *   visitor person gone, the slot free — it used to leave a valid pass nobody counted or could revoke;
 * - a request that crashed half-way stops counting once its time is over, and the reclaim undoes
 *   what it made — its slot used to stay taken for the whole quota period.
 * Failures and crashes are made by wrapping the real store's and registry's methods; every step
 * waits on a promise, never on time (the clock is the cloud's `now`).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openResidentSideStore } from '../../../cloud/me/open-resident-side-store.ts';
import { residentSideExtension } from '../../../cloud/me/resident-side-extension.ts';
import { ABANDONED_KEPT_MS, INVITE_PENDING_MS, reclaimInvites } from '../../../cloud/me/visitor-reservations.ts';
import type { AuditEntry, CloudStore } from '../../../cloud/store/store.ts';
import { silentLogger } from '../../../shared/log.ts';
import { seedInvitingHousehold } from './inviting-household.ts';
import { createHarness, type Harness } from '../http/app-harness.ts';
import { storeBackends } from '../store/backends.ts';

const T0 = Date.UTC(2026, 11, 1, 2, 0, 0);
const QUOTA = 2;

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe.each(storeBackends())('visitor invitations that fail or crash half-way on the $name store', (backend) => {
  afterAll(() => backend.dispose());
  let h: Harness<CloudStore>;
  let clock: number;
  let token: string;

  beforeEach(async () => {
    clock = T0;
    h = await createHarness({
      store: await backend.open(),
      now: () => clock,
      extensions: [residentSideExtension({ pepper: randomBytes(32) })],
    });
    await seedInvitingHousehold(h, QUOTA);
    token = (await h.core.sessions.issue({ username: 'r:p-zhang', role: 'resident', compound: 'c-1' })).token;
  });
  afterEach(async () => {
    await h.close();
  });

  const invite = (i: number) =>
    h.request('POST', '/api/v1/me/visitors', {
      token,
      body: { name: `访客${i}`, phoneTail: '4321', date: '2026-12-01', uses: 1 },
    });
  const listed = async () =>
    ((await (await h.request('GET', '/api/v1/me/visitors', { token })).json()) as { invites: Listed[] }).invites;
  /** The stored invitation rows, whatever their state (read past the store's own views). */
  const rows = async (): Promise<string[]> => {
    const sql = 'SELECT invite_id FROM visitor_invites ORDER BY created_at, invite_id';
    const engine = h.core.store.engine;
    const raw =
      engine.kind === 'sqlite'
        ? (engine.db.prepare(sql).all() as Raw[])
        : ((await engine.pool.query(sql)).rows as Raw[]);
    return raw.map((r) => String(r.invite_id));
  };
  const visitors = async () =>
    (await h.core.store.listResidents({ compoundId: 'c-1', limit: 100 })).residents
      .filter((r) => r.kind === 'visitor')
      .map((r) => r.personId);
  /** The pass ids the store created, as they are created. */
  const passesMade = () => {
    const made: { passId: string; personId: string }[] = [];
    const createPass = h.core.store.createPass.bind(h.core.store);
    h.core.store.createPass = async (pass) => {
      made.push({ passId: pass.passId, personId: pass.personId });
      return createPass(pass);
    };
    return made;
  };
  /** Revoked at every gate: in the compound's change log (what gates sync), and in the store. */
  const revokedEverywhere = async (passId: string) => {
    // From rev 1: the seeded resident's own change is rev 1 (a read from 0 asks for a snapshot).
    const read = await h.core.store.readChanges('c-1', 1, 10_000);
    const logged =
      read.kind === 'delta' && read.changes.some((c) => c.change.op === 'pass.revoke' && c.change.passId === passId);
    const pass = await h.core.store.getPass(passId);
    return logged && (pass === undefined || pass.revokedAt !== null);
  };

  it('a reservation still being made is not listed nor revocable, and becomes an intact invitation', async () => {
    const entered = deferred();
    const release = deferred();
    const issuePass = h.core.registry.issuePass.bind(h.core.registry);
    h.core.registry.issuePass = async (...args) => {
      entered.resolve();
      await release.promise;
      return issuePass(...args);
    };
    const making = invite(1);
    await entered.promise;
    const [pendingId] = await rows();
    expect(pendingId).toBeDefined();
    expect(await listed()).toEqual([]);
    const withdraw = await h.request('DELETE', `/api/v1/me/visitors/${pendingId}`, { token });
    expect(withdraw.status).toBe(404);

    release.resolve();
    const made = await making;
    expect(made.status).toBe(201);
    const body = (await made.json()) as Listed;
    expect(body.inviteId).toBe(pendingId);
    const [only] = await listed();
    expect(only).toMatchObject({ inviteId: pendingId, revokedAt: null, state: 'today' });
    const stored = await openResidentSideStore(h.core.store.engine).inviteById(pendingId!);
    expect((await h.core.store.getPass(stored!.passId))?.revokedAt).toBeNull();
  });

  it.each([
    ['pass.issue', 'the registry audits the pass it just stored'],
    ['visitor.invite', 'the invitation, completed, is audited'],
  ])('a failure after the pass was made (%s: %s) rolls everything back', async (failing) => {
    const made = passesMade();
    const recordAudit = h.core.store.recordAudit.bind(h.core.store);
    h.core.store.recordAudit = async (entry: AuditEntry) => {
      if (entry.action === failing) throw new Error('audit log unavailable');
      return recordAudit(entry);
    };
    const failed = await invite(1);
    expect(failed.status).toBe(500);
    expect(made).toHaveLength(1);
    expect(await revokedEverywhere(made[0]!.passId)).toBe(true);
    expect(await visitors()).toEqual([]);
    expect(await rows()).toEqual([]);
    expect(await listed()).toEqual([]);

    h.core.store.recordAudit = recordAudit;
    const next = await invite(2);
    expect(next.status).toBe(201);
    // The failed one took no slot.
    expect(((await next.json()) as { quotaLeft: number }).quotaLeft).toBe(QUOTA - 1);
    expect(await visitors()).toEqual([made[1]!.personId]);
  });

  it('a request slow past its time makes its pass after the reclaim, then crashes: the next reclaim revokes it', async () => {
    const made = passesMade();
    const reached = deferred();
    const go = deferred();
    const crashed = deferred();
    const createResident = h.core.registry.createResident.bind(h.core.registry);
    h.core.registry.createResident = async (...args) => {
      reached.resolve();
      await go.promise;
      return createResident(...args);
    };
    const issuePass = h.core.registry.issuePass.bind(h.core.registry);
    h.core.registry.issuePass = async (...args) => {
      const pass = await issuePass(...args);
      crashed.resolve();
      await new Promise(() => {}); // the process dies here: no completion, no rollback
      return pass;
    };
    void invite(1);
    await reached.promise;

    // Its time is over: the reclaim takes the reservation while nothing has been made yet.
    clock = T0 + INVITE_PENDING_MS;
    const side = openResidentSideStore(h.core.store.engine);
    const deps = { side, store: h.core.store, registry: h.core.registry, now: () => clock, logger: silentLogger };
    await reclaimInvites(deps);
    // The slow request goes on, makes the visitor and a pass the gates accept, and dies.
    go.resolve();
    await crashed.promise;
    h.core.registry.createResident = createResident;
    h.core.registry.issuePass = issuePass;
    expect(made).toHaveLength(1);
    expect(await revokedEverywhere(made[0]!.passId)).toBe(false);

    clock += 60_000;
    expect(await reclaimInvites(deps)).toBe(1);
    expect(await revokedEverywhere(made[0]!.passId)).toBe(true);
    expect(await visitors()).toEqual([]);
    clock = T0 + ABANDONED_KEPT_MS;
    await reclaimInvites(deps);
    expect(await rows()).toEqual([]);
  });

  it('a request that crashed half-way stops counting when its time is over; the reclaim undoes it', async () => {
    expect((await invite(1)).status).toBe(201);
    const made = passesMade();
    // The "crash": the pass is made, and the request never goes on (until the end of the test).
    const crashed = deferred();
    const resume = deferred();
    const issuePass = h.core.registry.issuePass.bind(h.core.registry);
    h.core.registry.issuePass = async (...args) => {
      const pass = await issuePass(...args);
      crashed.resolve();
      await resume.promise;
      return pass;
    };
    const stuck = invite(2);
    await crashed.promise;
    h.core.registry.issuePass = issuePass;
    expect(made).toHaveLength(1);
    const full = await invite(3);
    expect(full.status).toBe(409);
    expect(await full.json()).toMatchObject({ error: { code: 'visitor-quota' } });

    clock = T0 + INVITE_PENDING_MS;
    const after = await invite(4);
    expect(after.status).toBe(201);
    expect(((await after.json()) as { quotaLeft: number }).quotaLeft).toBe(0);

    const side = openResidentSideStore(h.core.store.engine);
    const deps = { side, store: h.core.store, registry: h.core.registry, now: () => clock, logger: silentLogger };
    expect(await reclaimInvites(deps)).toBe(1);
    expect(await reclaimInvites(deps)).toBe(0);
    expect(await revokedEverywhere(made[0]!.passId)).toBe(true);
    expect(await visitors()).not.toContain(made[0]!.personId);
    // Kept, abandoned, until no request can still be making it; then dropped.
    expect(await rows()).toHaveLength(3);
    clock = T0 + ABANDONED_KEPT_MS;
    expect(await reclaimInvites(deps)).toBe(1);
    expect(await rows()).toHaveLength(2);

    // The crashed request, resumed, finds its reservation gone: it fails and changes nothing more.
    resume.resolve();
    const late = await stuck;
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({ error: { code: 'conflict' } });
    expect((await listed()).map((i) => i.state)).toEqual(['today', 'today']);
    expect(await rows()).toHaveLength(2);
    expect(await visitors()).toHaveLength(2);
  });
});

type Raw = Record<string, unknown>;
interface Listed {
  inviteId: string;
  revokedAt: number | null;
  state: string;
}
