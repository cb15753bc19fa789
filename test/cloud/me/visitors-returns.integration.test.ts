/**
 * Visitors and return registration on the resident side (cloud/me/visitor-routes.ts,
 * cloud/me/return-routes.ts): an invitation is a registry person of kind visitor plus a visitor
 * pass with a use limit, within the household's quota and only in the modes the policy allows; the
 * gate's own decision admits it in normal mode, counts its uses and refuses it in lockdown; its
 * passages are marked for guards and counted. A return turns the travellers yellow through the
 * change log (what every gate applies), and back after N days or a manager's review.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { residentSideExtension } from '../../../cloud/me/resident-side-extension.ts';
import type { Actor } from '../../../cloud/registry/actor.ts';
import { decideEntry, type GateContext } from '../../../edge-agent/decision.ts';
import type { Mode } from '../../../shared/enums.ts';
import type { Change } from '../../../shared/schemas/mqtt.ts';
import { FakeReplicaView } from '../../edge-agent/fake-replica-view.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { createHarness, type Harness } from '../http/app-harness.ts';
import { storeBackends } from '../store/backends.ts';
import { entryEvent } from '../fixtures.ts';

const ADMIN: Actor = { username: 'seed', role: 'admin' };
// 10:00 in Shanghai on 2026-12-01.
const T0 = Date.UTC(2026, 11, 1, 2, 0, 0);
const DAY = 24 * 3_600_000;

describe.each(storeBackends())('visitors and return registration on the $name store', (backend) => {
  afterAll(() => backend.dispose());
  let h: Harness<CloudStore>;
  let clock: number;
  let manager: string;
  let zhang: string;

  const json = async <T>(res: Response, status: number): Promise<T> => {
    const text = await res.text();
    expect([res.status, text]).toEqual([status, expect.anything()]);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  const changes = (compoundId = 'c-1'): Change[] =>
    h.published
      .filter((p) => p.topic === `anxin/v1/compounds/${compoundId}/changes`)
      .flatMap((p) => (p.payload as { changes: Change[] }).changes);

  beforeEach(async () => {
    clock = T0;
    h = await createHarness({
      store: await backend.open(),
      now: () => clock,
      extensions: [residentSideExtension({ pepper: randomBytes(32) })],
    });
    for (const [personId, householdId, name] of [
      ['p-zhang', 'h-101', '张三明'],
      ['p-li', 'h-101', '李四'],
      ['p-wang', 'h-202', '王芳'],
    ] as const) {
      await h.core.registry.createResident(
        {
          personId,
          compoundId: 'c-1',
          householdId,
          kind: 'resident',
          name,
          cards: [],
          elderly: false,
          validFrom: null,
          validTo: null,
        },
        ADMIN,
      );
    }
    await h.core.registry.updateHealth(
      [
        { personId: 'p-zhang', colour: 'green', ts: T0 - DAY },
        { personId: 'p-li', colour: 'green', ts: T0 - DAY },
      ],
      ADMIN,
    );
    manager = await h.token('manager', 'c-1', 'mgr-1');
    zhang = (await h.core.sessions.issue({ username: 'r:p-zhang', role: 'resident', compound: 'c-1' })).token;
  });
  afterEach(async () => {
    await h.close();
  });

  const invite = (body: Record<string, unknown>, token = zhang) =>
    h.request('POST', '/api/v1/me/visitors', {
      token,
      body: { name: '赵小红', phoneTail: '4321', date: '2026-12-01', uses: 2, ...body },
    });

  it('invites a visitor: a visitor person and a use-limited visitor pass the gate admits; the link shows it', async () => {
    const created = await json<{
      inviteId: string;
      link: string;
      maskedName: string;
      validFrom: number;
      validTo: number;
    }>(await invite({ date: '2026-12-02' }), 201);
    expect(created.maskedName).toBe('赵*红');
    // The local day in Shanghai: 00:00 to 24:00 at +08:00.
    expect(created.validFrom).toBe(Date.UTC(2026, 11, 1, 16, 0, 0));
    expect(created.validTo).toBe(Date.UTC(2026, 11, 2, 16, 0, 0));
    const token = created.link.split('#')[1]!;
    expect(created.link).toMatch(/^http:\/\/localhost\/visit#[A-Za-z0-9_-]{32}$/);

    // What reached the gates: the visitor (masked, kind visitor) through the change log.
    const upsert = changes().find((c) => c.op === 'person.upsert' && c.person.kind === 'visitor');
    expect(upsert).toBeDefined();
    const visitorId = upsert!.op === 'person.upsert' ? upsert!.person.personId : '';

    const shown = await json<{ text: string; qrSvg: string; uses: number; maskedName: string }>(
      await h.request('POST', '/api/v1/visits/pass', { body: { token } }),
      200,
    );
    expect(shown).toMatchObject({ uses: 2, maskedName: '赵*红' });
    expect(shown.qrSvg).toMatch(/^<svg/);

    // The gate's own decision over a replica holding what the cloud sent.
    // A gate's replica fed with every change the cloud published for the compound.
    const view = new FakeReplicaView().apply(changes());
    const gate: GateContext = {
      gateId: 'g-1',
      compoundId: 'c-1',
      ring: h.ring,
      pepper: Buffer.alloc(32),
      antiPassback: false,
      yellowPolicy: 'deny',
      stalenessLimitMs: 3_600_000,
      fireAlarm: false,
    };
    const at = Date.UTC(2026, 11, 2, 2, 0, 0);
    view.contactAt = at;
    const scan = (direction: 'in' | 'out', mode: Mode = 'normal') => {
      view.currentMode = mode;
      return decideEntry({ method: 'qr', direction, text: shown.text }, gate, view, at);
    };
    const first = scan('in');
    expect([first.result, first.reason]).toEqual(['granted', 'ok']);
    view.recordPassage(first.effects, 'in', at);
    expect(scan('in', 'lockdown').reason).toBe('gate-locked');
    const out = scan('out');
    expect(out.result).toBe('granted');
    view.recordPassage(out.effects, 'out', at);
    expect(scan('in').reason).toBe('pass-used-up');

    // Its passages are marked for the guards, and counted (the cloud's clock on the visit's day:
    // ingest refuses passages dated ahead of it).
    clock = at + 60_000;
    zhang = (await h.core.sessions.issue({ username: 'r:p-zhang', role: 'resident', compound: 'c-1' })).token;
    manager = await h.token('manager', 'c-1', 'mgr-2');
    const live: { type: string; data: { personId?: string | null; visitor?: boolean } }[] = [];
    const unsubscribe = h.core.live.subscribe((m) => live.push(m as (typeof live)[number]));
    await h.core.ingest.accept(
      'g-1',
      JSON.stringify({ events: [entryEvent('g-1', 1, { personId: visitorId, ts: at, passId: first.passId! })] }),
    );
    await h.core.ingest.flush();
    const events = await json<{ events: { personId: string; visitor?: boolean }[] }>(
      await h.request('GET', '/api/v1/events', { token: await h.token('guard', 'c-1') }),
      200,
    );
    expect(events.events.find((e) => e.personId === visitorId)?.visitor).toBe(true);
    // The guard console's live feed says so too (its row shows 访客 Visitor).
    await vi.waitFor(() =>
      expect(live.find((m) => m.type === 'entry')?.data).toMatchObject({ personId: visitorId, visitor: true }),
    );
    unsubscribe();
    const stats = await json<{ passages: number; granted: number; visitors: number; invitations: number }>(
      await h.request('GET', `/api/v1/stats/visitors?compound=c-1&from=${T0 - DAY}&to=${T0 + 3 * DAY}`, {
        token: manager,
      }),
      200,
    );
    expect(stats).toMatchObject({ passages: 1, granted: 1, visitors: 1, invitations: 1 });

    // Revoking it revokes the pass at every gate.
    expect((await h.request('DELETE', `/api/v1/me/visitors/${created.inviteId}`, { token: zhang })).status).toBe(204);
    expect(changes().some((c) => c.op === 'pass.revoke' && c.passId === first.passId)).toBe(true);
    expect((await h.request('POST', '/api/v1/visits/pass', { body: { token } })).status).toBe(410);
  });

  it('keeps to the household quota and the policy’s modes; a neighbour cannot touch the invitation', async () => {
    expect(
      (
        await h.request('PUT', '/api/v1/compounds/c-1/resident-policy', {
          token: manager,
          body: {
            visitorQuota: 2,
            visitorQuotaDays: 7,
            visitorModes: ['normal'],
            returnYellowDays: 14,
            returnRelease: 'after-days',
          },
        })
      ).status,
    ).toBe(200);
    const first = await json<{ inviteId: string; link: string }>(await invite({}), 201);
    const li = (await h.core.sessions.issue({ username: 'r:p-li', role: 'resident', compound: 'c-1' })).token;
    await json(await invite({}, li), 201);
    const over = await invite({});
    expect([over.status, ((await over.json()) as { error: { code: string } }).error.code]).toEqual([
      409,
      'visitor-quota',
    ]);
    const wang = (await h.core.sessions.issue({ username: 'r:p-wang', role: 'resident', compound: 'c-1' })).token;
    expect((await h.request('DELETE', `/api/v1/me/visitors/${first.inviteId}`, { token: wang })).status).toBe(404);
    const wangList = await json<{ invites: unknown[] }>(
      await h.request('GET', '/api/v1/me/visitors', { token: wang }),
      200,
    );
    expect(wangList.invites).toEqual([]);

    // Lockdown: no new invitation, and the visitor's link no longer shows the pass.
    await h.core.registry.setMode('c-1', 'lockdown', 'case in building 3', ADMIN);
    const locked = await invite({}, wang);
    expect([locked.status, ((await locked.json()) as { error: { code: string } }).error.code]).toEqual([
      409,
      'visitors-suspended',
    ]);
    const link = await h.request('POST', '/api/v1/visits/pass', { body: { token: first.link.split('#')[1] } });
    expect(link.status).toBe(409);
    expect(await link.text()).not.toContain('AX1:');
    expect((await h.core.store.listAudit({ action: 'visitor.invite', limit: 10 })).entries).toHaveLength(2);
  });

  it('registers a return: travellers yellow at every gate, back after N days; a manager clears or keeps', async () => {
    const reg = await json<{
      returnId: string;
      members: { maskedName: string; madeYellow: boolean }[];
      yellowUntil: number;
    }>(
      await h.request('POST', '/api/v1/me/returns', {
        token: zhang,
        body: {
          origin: '武汉',
          returnDate: '2026-11-30',
          transport: 'train',
          transportDetail: 'G1234',
          members: ['p-zhang', 'p-li'],
        },
      }),
      201,
    );
    expect(reg.yellowUntil).toBe(T0 + 14 * DAY);
    expect(reg.members.map((m) => [m.maskedName, m.madeYellow])).toEqual([
      ['李*', true],
      ['张*明', true],
    ]);
    const yellow = changes().filter((c) => c.op === 'health' && c.colour === 'yellow');
    expect(yellow.map((c) => (c.op === 'health' ? c.personId : '')).sort()).toEqual(['p-li', 'p-zhang']);
    // Someone of another household is refused.
    const foreign = await h.request('POST', '/api/v1/me/returns', {
      token: zhang,
      body: { origin: '武汉', returnDate: '2026-11-30', transport: 'car', members: ['p-wang'] },
    });
    expect(foreign.status).toBe(400);

    // The manager's list, masked; a feed sets 李四 red meanwhile: the release leaves red alone.
    const list = await json<{ returns: { returnId: string; origin: string; members: { maskedName: string }[] }[] }>(
      await h.request('GET', '/api/v1/returns?compound=c-1', { token: manager }),
      200,
    );
    expect(list.returns).toHaveLength(1);
    expect(JSON.stringify(list)).not.toMatch(/张三明|李四/);
    clock += DAY;
    await h.core.registry.updateHealth([{ personId: 'p-li', colour: 'red', ts: clock }], ADMIN);
    clock = T0 + 14 * DAY + 1;
    const release = await import('../../../cloud/me/return-routes.ts');
    const { openResidentSideStore } = await import('../../../cloud/me/open-resident-side-store.ts');
    const job = release.startReturnRelease({
      side: openResidentSideStore(h.core.store.engine),
      store: h.core.store,
      registry: h.core.registry,
      now: () => clock,
      logger: { warn: () => {} } as never,
    });
    expect(await job.run()).toBe(1);
    job.stop();
    expect((await h.core.store.getResident('p-zhang'))!.health).toBe('green');
    expect((await h.core.store.getResident('p-li'))!.health).toBe('red');
    const after = changes()
      .filter((c) => c.op === 'health' && c.personId === 'p-zhang')
      .map((c) => c.op === 'health' && c.colour);
    expect(after).toEqual(['green', 'yellow', 'green']);

    // Review: keep and clear (two weeks on: a new sign-in).
    zhang = (await h.core.sessions.issue({ username: 'r:p-zhang', role: 'resident', compound: 'c-1' })).token;
    manager = await h.token('manager', 'c-1', 'mgr-1');
    const second = await json<{ returnId: string }>(
      await h.request('POST', '/api/v1/me/returns', {
        token: zhang,
        body: { origin: '北京', returnDate: '2026-12-14', transport: 'plane', members: ['p-zhang'] },
      }),
      201,
    );
    expect((await h.core.store.getResident('p-zhang'))!.health).toBe('yellow');
    const cleared = await json<{ status: string; reviewedBy: string }>(
      await h.request('POST', `/api/v1/returns/${second.returnId}/review`, {
        token: manager,
        body: { decision: 'clear', note: '核酸阴性 negative test' },
      }),
      200,
    );
    expect(cleared).toMatchObject({ status: 'cleared', reviewedBy: 'mgr-1' });
    expect((await h.core.store.getResident('p-zhang'))!.health).toBe('green');
    expect(
      (
        await h.request('POST', `/api/v1/returns/${second.returnId}/review`, {
          token: manager,
          body: { decision: 'keep' },
        })
      ).status,
    ).toBe(409);
    const audit = await h.core.store.listAudit({ action: 'return.review', limit: 5 });
    expect(audit.entries[0]?.detail).toMatchObject({ decision: 'clear', note: '核酸阴性 negative test' });

    // A manager of another compound sees neither the list nor the registration.
    const other = await h.token('manager', 'c-2', 'mgr-2');
    expect((await h.request('GET', '/api/v1/returns?compound=c-1', { token: other })).status).toBe(403);
    expect(
      (
        await h.request('POST', `/api/v1/returns/${second.returnId}/review`, {
          token: other,
          body: { decision: 'keep' },
        })
      ).status,
    ).toBe(404);
  });

  it('after-review: the colour stays yellow past any number of days until the manager clears it', async () => {
    await h.request('PUT', '/api/v1/compounds/c-1/resident-policy', {
      token: manager,
      body: {
        visitorQuota: 5,
        visitorQuotaDays: 7,
        visitorModes: ['normal'],
        returnYellowDays: 0,
        returnRelease: 'after-review',
      },
    });
    const reg = await json<{ returnId: string; yellowUntil: number | null }>(
      await h.request('POST', '/api/v1/me/returns', {
        token: zhang,
        body: { origin: '上海虹桥', returnDate: '2026-12-01', transport: 'bus', members: ['p-zhang'] },
      }),
      201,
    );
    expect(reg.yellowUntil).toBeNull();
    expect((await h.core.store.getResident('p-zhang'))!.health).toBe('yellow');
    const list = await json<{ returns: unknown[] }>(
      await h.request('GET', '/api/v1/returns?compound=c-1', { token: manager }),
      200,
    );
    expect(list.returns).toHaveLength(1);
    expect((await h.core.store.getResident('p-zhang'))!.health).toBe('yellow');
    await json(
      await h.request('POST', `/api/v1/returns/${reg.returnId}/review`, { token: manager, body: { decision: 'keep' } }),
      200,
    );
    expect((await h.core.store.getResident('p-zhang'))!.health).toBe('yellow');
  });
});
