/**
 * Every trace and statistics endpoint on the cloud's real `createApp`, with the rollup writer as
 * the ingest hook, answering the known scenario (scenario.ts) exactly.
 */
import { openSessionStore } from '../../../cloud/auth/open-session-store.ts';
import { SessionService } from '../../../cloud/auth/session-service.ts';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountAnalyticsRoutes } from '../../../cloud/analytics/analytics-routes.ts';
import { SqliteAnalyticsStore } from '../../../cloud/analytics/analytics-store.ts';
import { RollupWriter } from '../../../cloud/analytics/rollup-writer.ts';
import { createApp, routeDepsOf } from '../../../cloud/http/app.ts';
import { GateDirectory } from '../../../cloud/ingest/gate-directory.ts';
import { LiveHub } from '../../../cloud/live/live-hub.ts';
import { createCloudMetrics } from '../../../cloud/metrics/cloud-metrics.ts';
import { IdentitySeal } from '../../../cloud/registry/identity-seal.ts';
import { RegistryService } from '../../../cloud/registry/registry-service.ts';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import type { HttpRole } from '../../../shared/enums.ts';
import { generateSigningKey } from '../../../shared/keys.ts';
import { silentLogger } from '../../../shared/log.ts';
import { MIN, NOW, SH_DAY_FROM, SH_DAY_TO, seedScenario, T } from './scenario.ts';

const H = 60 * MIN;
const key = generateSigningKey(1);
let store: SqliteCloudStore;
let app: ReturnType<typeof createApp>;
let sessions: SessionService;

beforeAll(async () => {
  store = new SqliteCloudStore({ path: ':memory:' });
  const writer = new RollupWriter({ db: store.db });
  writer.start();
  const analytics = new SqliteAnalyticsStore(store.db);
  analytics.start();
  await seedScenario(store, writer);
  const pepper = randomBytes(32);
  const metrics = createCloudMetrics();
  const registry = new RegistryService({
    store,
    signingKey: key,
    pepper,
    seal: new IdentitySeal(pepper),
    gates: new GateDirectory(store),
    publish: async () => {},
    metrics,
    logger: silentLogger,
    now: () => NOW,
  });
  sessions = new SessionService({ store: openSessionStore(store.engine), signingKey: key, now: () => NOW });
  const deps = routeDepsOf({
    sessions,
    store,
    registry,
    signingKey: key,
    ring: new Map([[1, key.publicKey]]),
    live: new LiveHub(),
    metrics,
    logger: silentLogger,
    now: () => NOW,
  });
  app = createApp(deps, [{ mount: (root) => mountAnalyticsRoutes(root, deps, analytics) }]);
});

afterAll(async () => {
  await store.close();
});

async function bearer(role: HttpRole, compound?: string): Promise<Record<string, string>> {
  const token = (await sessions.issue({ username: `${role}-user`, role, ...(compound ? { compound } : {}) })).token;
  return { authorization: `Bearer ${token}` };
}

async function get(path: string, role: HttpRole = 'manager', compound?: string) {
  return app.request(path, { headers: await bearer(role, compound) });
}

/** A JSON body, loosely typed: the assertions say what it must hold. */
// biome-ignore lint/suspicious/noExplicitAny: test code reads arbitrary JSON answers
async function json(res: Response): Promise<any> {
  return res.json();
}

const dayQuery = `from=${encodeURIComponent('2026-03-02T00:00:00+08:00')}&to=${encodeURIComponent('2026-03-03T00:00:00+08:00')}`;

describe('GET /api/v1/trace/contacts/:personId', () => {
  it('answers the ranked contacts with the household flagged (instants as ISO with offset)', async () => {
    const res = await get(`/api/v1/trace/contacts/idx?${dayQuery}&reason=case-2026-17`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.from).toBe(SH_DAY_FROM);
    expect(body.to).toBe(SH_DAY_TO);
    expect(body.windowMin).toBe(15);
    expect(
      body.contacts.map((c: { rank: number; personId: string; household: boolean; closestGapMs: number | null }) => [
        c.rank,
        c.personId,
        c.household,
        c.closestGapMs,
      ]),
    ).toEqual([
      [1, 'a', false, 1 * MIN],
      [2, 'b', false, 2 * MIN],
      [3, 'spouse', true, 3 * MIN],
      [4, 'f', false, 5 * MIN],
      [5, 'e', false, 10 * MIN],
      [6, 'child', true, null],
    ]);
  });

  it('the window edge moves with windowMin, and epoch ms are accepted', async () => {
    const res = await get(`/api/v1/trace/contacts/idx?from=${SH_DAY_FROM}&to=${SH_DAY_TO}&windowMin=1&reason=edge`);
    const body = await json(res);
    // spouse (3 min) is now out of reach: both household members have no shared passage and sort by id.
    expect(body.contacts.map((c: { personId: string; household: boolean }) => [c.personId, c.household])).toEqual([
      ['a', false],
      ['child', true],
      ['spouse', true],
    ]);
    expect(body.contacts[0].sharedPassages).toHaveLength(1);
  });

  it('depth=2 adds the bounded second degree', async () => {
    const body = await json(await get(`/api/v1/trace/contacts/idx?${dayQuery}&depth=2&reason=case`));
    expect(body.secondDegree).toMatchObject({
      expanded: 6,
      truncated: false,
      contacts: [{ rank: 1, personId: 'g', via: ['e'], sharedPassageCount: 1, closestGapMs: 10 * MIN }],
    });
  });

  it('exports CSV: BOM, quoting, attachment', async () => {
    const res = await get(`/api/v1/trace/contacts/idx?${dayQuery}&reason=case&format=csv`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="contacts-idx-2026-03-02.csv"; filename*=UTF-8''contacts-idx-2026-03-02.csv`,
    );
    const bytes = Buffer.from(await res.arrayBuffer());
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(bytes.subarray(3).toString('utf8')).toBe(
      [
        'degree,rank,person_id,masked_name,household,via,shared_passages,closest_gap_s,first_shared,last_shared,gates',
        '1,1,a,王*,false,,2,60,2026-03-02T08:15:00.000+08:00,2026-03-02T09:01:00.000+08:00,sunny-east sunny-west',
        '1,2,b,欧阳**,false,,1,120,2026-03-02T08:58:00.000+08:00,2026-03-02T08:58:00.000+08:00,sunny-west',
        '1,3,spouse,李*红,true,,1,180,2026-03-02T07:57:00.000+08:00,2026-03-02T07:57:00.000+08:00,sunny-east',
        '1,4,f,J*********,false,,1,300,2026-03-02T08:05:00.000+08:00,2026-03-02T08:05:00.000+08:00,sunny-east',
        '1,5,e,孙*奶,false,,1,600,2026-03-02T09:10:00.000+08:00,2026-03-02T09:10:00.000+08:00,sunny-west',
        '1,6,child,张*明,true,,0,,,,',
        '',
      ].join('\r\n'),
    );
  });

  it('writes an audit entry with who ran the trace and why', async () => {
    await get(`/api/v1/trace/contacts/idx?${dayQuery}&reason=${encodeURIComponent('病例 2026-17, 密接排查')}`);
    const { entries } = await store.listAudit({ action: 'trace.contacts', limit: 100 });
    const entry = entries.find((e) => (e.detail as { reason?: string }).reason === '病例 2026-17, 密接排查');
    expect(entry).toMatchObject({
      at: NOW,
      actor: 'manager-user',
      role: 'manager',
      action: 'trace.contacts',
      compoundId: 'sunny',
      target: 'idx',
      detail: { from: SH_DAY_FROM, to: SH_DAY_TO, windowMin: 15, depth: 1, includeDenied: false, contacts: 6 },
    });
  });

  it('400 without a reason, and nothing is audited', async () => {
    const before = (await store.listAudit({ limit: 1000 })).entries.length;
    const res = await get(`/api/v1/trace/contacts/idx?${dayQuery}`);
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body.error.code).toBe('invalid-request');
    expect(body.error.issues.map((i: { path: string }) => i.path)).toContain('reason');
    expect((await store.listAudit({ limit: 1000 })).entries.length).toBe(before);
  });

  it('400 for a local time without offset, and for an inverted window', async () => {
    expect((await get(`/api/v1/trace/contacts/idx?from=2026-03-02T00:00:00&to=${SH_DAY_TO}&reason=x`)).status).toBe(
      400,
    );
    expect((await get(`/api/v1/trace/contacts/idx?from=${SH_DAY_TO}&to=${SH_DAY_FROM}&reason=x`)).status).toBe(400);
  });

  it('403 for a guard, 401 without a token', async () => {
    const res = await get(`/api/v1/trace/contacts/idx?${dayQuery}&reason=x`, 'guard', 'sunny');
    expect(res.status).toBe(403);
    expect((await json(res)).error.code).toBe('forbidden');
    expect((await app.request(`/api/v1/trace/contacts/idx?${dayQuery}&reason=x`)).status).toBe(401);
  });

  it("a manager bound to another compound cannot see the compound's people (404)", async () => {
    expect((await get(`/api/v1/trace/contacts/idx?${dayQuery}&reason=x`, 'manager', 'liberty')).status).toBe(404);
    expect((await get(`/api/v1/trace/contacts/idx?${dayQuery}&reason=x`, 'manager', 'sunny')).status).toBe(200);
  });
});

describe('GET /api/v1/trace/person/:personId', () => {
  it("lists the person's passages with gate, direction, method, result and health", async () => {
    const from = encodeURIComponent('2026-03-01T16:00:00Z');
    const to = encodeURIComponent('2026-03-02T11:00:00-05:00');
    const res = await get(`/api/v1/trace/person/idx?from=${from}&to=${to}&reason=case`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(
      body.passages.map((p: Record<string, unknown>) => [p.ts, p.gateName, p.direction, p.result, p.health]),
    ).toEqual([
      [T, '东门', 'in', 'granted', 'green'],
      [T + H, '西门', 'out', 'granted', 'green'],
      [T + 2 * H, '东门', 'in', 'denied', 'red'],
    ]);
    const { entries } = await store.listAudit({ action: 'trace.person', limit: 10 });
    expect(entries[0]).toMatchObject({ actor: 'manager-user', target: 'idx', detail: { reason: 'case', passages: 3 } });
  });

  it('exports CSV', async () => {
    const res = await get(`/api/v1/trace/person/idx?${dayQuery}&reason=case&format=csv`);
    const text = (await res.text()).replace(/^\uFEFF/, '');
    expect(text.split('\r\n').slice(0, 2)).toEqual([
      'time,gate_id,gate_name,direction,method,result,reason,passed,health,crossing',
      '2026-03-02T08:00:00.000+08:00,sunny-east,东门,in,qr,granted,ok,true,green,true',
    ]);
  });

  it('404 for an unknown person; 400 without reason; 403 for a guard', async () => {
    expect((await get(`/api/v1/trace/person/nobody?${dayQuery}&reason=x`)).status).toBe(404);
    expect((await get(`/api/v1/trace/person/idx?${dayQuery}`)).status).toBe(400);
    expect((await get(`/api/v1/trace/person/idx?${dayQuery}&reason=x`, 'guard', 'sunny')).status).toBe(403);
  });
});

describe('GET /api/v1/trace/gate/:gateId', () => {
  it('lists everyone who crossed the gate in the window', async () => {
    const res = await get(`/api/v1/trace/gate/sunny-east?from=${T - 30 * MIN}&to=${T + 30 * MIN}&reason=exposure`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.crossings).toBe(6);
    expect(body.anonymousCrossings).toBe(1);
    expect(body.persons.map((p: { personId: string }) => p.personId)).toEqual(['b', 'spouse', 'idx', 'f', 'a']);
    const { entries } = await store.listAudit({ action: 'trace.gate', limit: 10 });
    expect(entries[0]).toMatchObject({
      target: 'sunny-east',
      compoundId: 'sunny',
      detail: { reason: 'exposure', persons: 5 },
    });
  });

  it('exports CSV and refuses without reason, for guards, and for unknown gates', async () => {
    const csv = await get(`/api/v1/trace/gate/sunny-east?from=${T - 30 * MIN}&to=${T + 30 * MIN}&reason=x&format=csv`);
    const lines = (await csv.text()).replace(/^\uFEFF/, '').split('\r\n');
    expect(lines[0]).toBe('person_id,masked_name,crossings,in,out,first,last');
    expect(lines[1]).toBe('b,欧阳**,1,1,0,2026-03-02T07:44:59.999+08:00,2026-03-02T07:44:59.999+08:00');
    expect((await get(`/api/v1/trace/gate/sunny-east?${dayQuery}`)).status).toBe(400);
    expect((await get(`/api/v1/trace/gate/sunny-east?${dayQuery}&reason=x`, 'guard', 'sunny')).status).toBe(403);
    expect((await get(`/api/v1/trace/gate/nowhere?${dayQuery}&reason=x`)).status).toBe(404);
  });
});

describe('GET /api/v1/stats/*', () => {
  it('summary of the Shanghai day', async () => {
    const res = await get(`/api/v1/stats/summary?compound=sunny&${dayQuery}`);
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({
      timeZone: 'Asia/Shanghai',
      passages: { total: 15, in: 11, out: 4 },
      crossings: { in: 8, out: 4 },
      granted: { total: 13, byMethod: { qr: 10, idcard: 1, card: 0, manual: 0, free: 2 } },
      denied: { total: 2, byReason: { 'health-red': 1, 'health-yellow': 1 } },
      uniquePersonsPerDay: [{ day: '2026-03-02', persons: 8 }],
      peakHour: { label: '2026-03-02T08:00+08:00', crossings: 5 },
      occupancy: { netChange: 4, estimate: 4 },
      elderlyIdCard: { elderlyIdcardCrossings: 1, idcardCrossings: 1, shareOfIdcard: 1 },
    });
  });

  it('hourly in Asia/Shanghai and in America/New_York across the fall-back', async () => {
    const sh = await json(await get(`/api/v1/stats/hourly?compound=sunny&${dayQuery}`));
    expect(sh.hours).toHaveLength(24);
    expect(sh.hours[8]).toEqual({
      start: T,
      label: '2026-03-02T08:00+08:00',
      crossingsIn: 4,
      crossingsOut: 1,
      granted: 6,
      denied: 1,
    });
    const from = encodeURIComponent('2026-11-01T00:00:00-04:00');
    const to = encodeURIComponent('2026-11-02T00:00:00-05:00');
    const ny = await json(await get(`/api/v1/stats/hourly?compound=liberty&from=${from}&to=${to}`));
    expect(ny.timeZone).toBe('America/New_York');
    expect(ny.hours).toHaveLength(25);
    expect(ny.hours.slice(1, 3).map((h: { label: string; crossingsIn: number }) => [h.label, h.crossingsIn])).toEqual([
      ['2026-11-01T01:00-04:00', 1],
      ['2026-11-01T01:00-05:00', 1],
    ]);
  });

  it('gates with uptime', async () => {
    const body = await json(await get(`/api/v1/stats/gates?compound=sunny&${dayQuery}`));
    expect(
      body.gates.map((g: { gateId: string; uptime: { ratio: number | null } }) => [g.gateId, g.uptime.ratio]),
    ).toEqual([
      ['sunny-east', 11 / 12],
      ['sunny-west', null],
    ]);
  });

  it('403 for a guard and for a manager of another compound; 400 without compound; 404 for an unknown one', async () => {
    expect((await get(`/api/v1/stats/summary?compound=sunny&${dayQuery}`, 'guard', 'sunny')).status).toBe(403);
    expect((await get(`/api/v1/stats/summary?compound=sunny&${dayQuery}`, 'manager', 'liberty')).status).toBe(403);
    expect((await get(`/api/v1/stats/summary?${dayQuery}`)).status).toBe(400);
    expect((await get(`/api/v1/stats/gates?compound=nowhere&${dayQuery}`)).status).toBe(404);
  });
});
