/**
 * The routes the pages need (docs/web.md, "API added for the pages"), over `app.request()`: the
 * compound's time zone for the console, the server-side residents page with its search (masked
 * name, household, phone tail, person id — never a full name), a person's passes, the live
 * heartbeat event, the import template.
 * Compound isolation is checked on every route for a bound guard and manager.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CloudCore, createCloudCore } from '../../cloud/cloud-service.ts';
import { parseResidentCsv } from '../../cloud/registry/resident-csv.ts';
import { SqliteCloudStore } from '../../cloud/store/sqlite-store.ts';
import { webExtension } from '../../cloud/web/web-routes.ts';
import type { HttpRole } from '../../shared/enums.ts';
import { createKeysFile, type ParsedKeys, parseKeysFile } from '../../shared/keys.ts';
import { signToken } from '../../shared/token.ts';
import { openSseStream } from '../helpers/sse-stream.ts';

const NOW = Date.UTC(2026, 0, 5, 2, 0, 0);
const ADMIN = { username: 'admin', role: 'admin' as const };

let keys: ParsedKeys;
let core: CloudCore;

async function tokenOf(role: HttpRole, compound?: string): Promise<string> {
  return (
    await core.sessions.issue({ username: `${role}-${compound ?? 'all'}`, role, ...(compound ? { compound } : {}) })
  ).token;
}

/** A live-stream ticket of a new session (what POST /auth/live-ticket hands a page). */
async function ticketOf(role: HttpRole, compound: string): Promise<string> {
  const username = `${role}-${compound}`;
  const { jti } = await core.sessions.issue({ username, role, compound });
  return signToken({ sub: username, role, compound, exp: NOW + 60_000, use: 'live', sid: jti }, keys.signing!);
}

async function get<T>(path: string, token: string | null): Promise<{ status: number; body: T }> {
  const headers = new Headers();
  if (token) headers.set('authorization', `Bearer ${token}`);
  const res = await core.app.request(path, { headers });
  return { status: res.status, body: (await res.json().catch(() => null)) as T };
}

interface Row {
  personId: string;
  maskedName: string;
  householdId: string | null;
  phoneTail: string | null;
  matchedBy?: string;
  active: boolean;
}
interface Page {
  residents: Row[];
  total: number;
  offset: number;
}

async function resident(
  personId: string,
  compoundId: string,
  name: string,
  householdId: string | null,
  phone?: string,
) {
  await core.registry.createResident(
    {
      personId,
      compoundId,
      householdId,
      kind: 'resident',
      name,
      ...(phone ? { phone } : {}),
      cards: [],
      elderly: false,
      validFrom: null,
      validTo: null,
    },
    ADMIN,
  );
}

beforeEach(async () => {
  keys = parseKeysFile(createKeysFile());
  core = createCloudCore({
    store: new SqliteCloudStore({ path: ':memory:' }),
    keys,
    publish: async () => undefined,
    now: () => NOW,
    extensions: [webExtension({ pepper: keys.pepper })],
  });
  await core.registry.createCompound({ id: 'north', name: '北苑', timeZone: 'Asia/Shanghai' }, ADMIN);
  await core.registry.createCompound({ id: 'south', name: '南苑', timeZone: 'Asia/Urumqi' }, ADMIN);
  // Households and names collide across the two compounds on purpose.
  await resident('p-zhang', 'north', '张三明', 'h-1', '13800001234');
  await resident('p-zhang-wife', 'north', '王芳', 'h-1');
  await resident('p-zhang-son', 'north', '张小明', 'h-1');
  await resident('p-li', 'north', '李四', 'h-2', '13900005678');
  await resident('p-south-zhang', 'south', '张三明', 'h-1', '13800001234');
  for (let i = 0; i < 120; i++) await resident(`p-n${String(i).padStart(3, '0')}`, 'north', `赵${i}`, `h-x${i}`);
});

afterEach(async () => {
  await core.store.close();
});

describe('GET /web/compound', () => {
  it('gives a guard the name, time zone and mode of their own compound only', async () => {
    const own = await get<{ id: string; timeZone: string; mode: string }>(
      '/api/v1/web/compound',
      await tokenOf('guard', 'south'),
    );
    expect(own).toEqual({
      status: 200,
      body: {
        id: 'south',
        name: '南苑',
        timeZone: 'Asia/Urumqi',
        mode: 'normal',
        modeReason: null,
        modeChangedAt: null,
      },
    });
    expect((await get('/api/v1/web/compound?compound=north', await tokenOf('guard', 'south'))).status).toBe(403);
    expect((await get('/api/v1/web/compound', await tokenOf('manager'))).status).toBe(400);
    expect((await get('/api/v1/web/compound?compound=nowhere', await tokenOf('manager'))).status).toBe(404);
    expect((await get('/api/v1/web/compound', null)).status).toBe(401);
  });
});

describe('GET /web/residents', () => {
  const manager = () => tokenOf('manager', 'north');

  it('pages the compound server-side with the total', async () => {
    const first = await get<Page>('/api/v1/web/residents?limit=50', await manager());
    expect(first.status).toBe(200);
    expect(first.body.total).toBe(124);
    expect(first.body.residents).toHaveLength(50);
    const last = await get<Page>('/api/v1/web/residents?limit=50&offset=100', await manager());
    expect(last.body.residents).toHaveLength(24);
    const ids = new Set([...first.body.residents, ...last.body.residents].map((r) => r.personId));
    expect(ids.size).toBe(74);
    expect((await get('/api/v1/web/residents?limit=201', await manager())).status).toBe(400);
    expect((await get('/api/v1/web/residents?offset=-1', await manager())).status).toBe(400);
  });

  it('never carries a full name, an ID number or a whole phone number', async () => {
    const { body } = await get<Page>('/api/v1/web/residents?limit=200', await manager());
    const text = JSON.stringify(body);
    for (const secret of ['张三明', '王芳', '13800001234', '"name"', '"phone"', 'idHash', 'idSealed']) {
      expect(text).not.toContain(secret);
    }
    expect(body.residents.find((r) => r.personId === 'p-zhang')).toMatchObject({
      maskedName: '张*明',
      phoneTail: '1234',
    });
  });

  it('finds by masked name, household, phone tail and person id, household members after and flagged', async () => {
    const search = async (q: string) =>
      (await get<Page>(`/api/v1/web/residents?${new URLSearchParams({ q })}`, await manager())).body.residents.map(
        (r) => [r.personId, r.matchedBy],
      );
    expect(await search('张*明')).toEqual([
      ['p-zhang', 'masked-name'],
      ['p-zhang-son', 'masked-name'],
      ['p-zhang-wife', 'household-member'],
    ]);
    expect(await search('h-1')).toEqual([
      ['p-zhang', 'household'],
      ['p-zhang-son', 'household'],
      ['p-zhang-wife', 'household'],
    ]);
    expect(await search('5678')).toEqual([['p-li', 'phone-tail']]);
    expect(await search('p-li')).toEqual([['p-li', 'person-id']]);
    // A full name finds nobody: names are not searchable without a reveal.
    expect(await search('张三明')).toEqual([]);
    // LIKE wildcards are literal.
    expect(await search('%')).toEqual([]);
  });

  it('filters by status after a deactivation', async () => {
    const patch = await core.app.request('/api/v1/residents/p-li', {
      method: 'PATCH',
      headers: { authorization: `Bearer ${await manager()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ active: false }),
    });
    expect(patch.status).toBe(200);
    const inactive = await get<Page>('/api/v1/web/residents?status=inactive', await manager());
    expect(inactive.body.residents.map((r) => r.personId)).toEqual(['p-li']);
    const active = await get<Page>('/api/v1/web/residents?status=active&q=p-li', await manager());
    expect(active.body.total).toBe(0);
  });

  it('keeps every compound to itself, for every query', async () => {
    for (const q of ['', '张*明', 'h-1', '1234', 'p-south-zhang', 'p-zhang']) {
      const { body } = await get<Page>(
        `/api/v1/web/residents?${new URLSearchParams({ q, limit: '200' })}`,
        await manager(),
      );
      expect(JSON.stringify(body), q).not.toContain('south');
    }
    expect((await get('/api/v1/web/residents?compound=south', await manager())).status).toBe(403);
    expect((await get('/api/v1/web/residents', await tokenOf('guard', 'north'))).status).toBe(403);
    const south = await get<Page>('/api/v1/web/residents?q=1234', await tokenOf('manager', 'south'));
    expect(south.body.residents.map((r) => r.personId)).toEqual(['p-south-zhang']);
  });
});

describe('GET /web/passes', () => {
  it('lists the passes issued to one person, newest first, revoked ones marked, without the signed text', async () => {
    const manager = { username: 'mgr', role: 'manager' as const, compound: 'north' };
    const a = await core.registry.issuePass(
      { personId: 'p-zhang', kind: 'resident', validTo: NOW + 86_400_000 },
      manager,
    );
    const b = await core.registry.issuePass(
      { personId: 'p-zhang', kind: 'visitor', validTo: NOW + 86_400_000 },
      manager,
    );
    await core.registry.revokePass(a.passId, manager);
    const { status, body } = await get<{ passes: { passId: string; revokedAt: number | null }[] }>(
      '/api/v1/web/passes?person=p-zhang',
      await tokenOf('manager', 'north'),
    );
    expect(status).toBe(200);
    expect(body.passes.map((p) => p.passId).sort()).toEqual([a.passId, b.passId].sort());
    expect(body.passes.find((p) => p.passId === a.passId)!.revokedAt).toBe(NOW);
    expect(JSON.stringify(body)).not.toContain('AX1:');
    expect((await get('/api/v1/web/passes?person=p-zhang', await tokenOf('manager', 'south'))).status).toBe(404);
    expect((await get('/api/v1/web/passes?person=nobody', await tokenOf('manager', 'north'))).status).toBe(404);
  });
});

describe('live heartbeat and the import template', () => {
  it('sends a heartbeat event with the server time when the stream opens', async () => {
    const server = await import('@hono/node-server');
    const http = server.serve({ fetch: core.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => http.once('listening', resolve));
    const { port } = http.address() as { port: number };
    const live = await openSseStream(`http://127.0.0.1:${port}/api/v1/live?token=${await ticketOf('guard', 'north')}`);
    try {
      await live.waitForComment('connected');
      await expect.poll(() => live.messages.find((m) => m.event === 'heartbeat')).toBeDefined();
      const beat = JSON.parse(live.messages.find((m) => m.event === 'heartbeat')!.data);
      expect(beat).toEqual({ ts: NOW, intervalMs: 15_000 });
    } finally {
      await live.close();
      core.live.shutdown();
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it('serves a template that the importer accepts as it is', async () => {
    const res = await core.app.request('/assets/residents-template.csv');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toContain('attachment');
    const parsed = parseResidentCsv(await res.text(), new Date(NOW));
    expect(parsed.ok).toBe(true);
  });
});
