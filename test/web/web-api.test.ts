/**
 * The web sub-app over `app.request()`: the pages and their assets (all served by the cloud, no
 * outside URL), alarm acknowledgement, the live-stream ticket and the audit-logged person search.
 */
import { RATE_LIMITS } from '../../cloud/http/rate-limit.ts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CloudCore, createCloudCore } from '../../cloud/cloud-service.ts';
import type { LiveMessage } from '../../cloud/live/live-hub.ts';
import { LIVE_TICKET_TTL_MS } from '../../cloud/http/routes/live-ticket.ts';
import { SqliteCloudStore } from '../../cloud/store/sqlite-store.ts';
import { WEB_ASSETS, webExtension } from '../../cloud/web/web-routes.ts';
import type { HttpRole } from '../../shared/enums.ts';
import { generateIdNumber, maskIdNumber } from '../../shared/id-number.ts';
import { createKeysFile, type ParsedKeys, parseKeysFile } from '../../shared/keys.ts';
import { verifyToken } from '../../shared/token.ts';

const NOW = Date.UTC(2026, 0, 5, 2, 0, 0);

let keys: ParsedKeys;
let core: CloudCore<SqliteCloudStore>;

async function tokenOf(role: HttpRole, compound?: string): Promise<string> {
  return (
    await core.sessions.issue({ username: `${role}-${compound ?? 'all'}`, role, ...(compound ? { compound } : {}) })
  ).token;
}

function call(path: string, token: string | null, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
  return Promise.resolve(core.app.request(path, { ...init, headers }));
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
  const admin = { username: 'admin', role: 'admin' as const };
  for (const id of ['north', 'south']) {
    await core.registry.createCompound({ id, name: `${id} compound`, timeZone: 'Asia/Shanghai' }, admin);
    await core.store.createGate({ id: `${id}-1`, compoundId: id, name: `${id} gate 1`, antiPassback: false }, NOW);
  }
});

afterEach(async () => {
  await core.store.close();
});

describe('pages and assets', () => {
  it('serves the three pages as bilingual HTML that loads only its own assets', async () => {
    for (const [path, title] of [
      ['/', '登录'],
      ['/console', '门卫控制台'],
      ['/dashboard', '管理看板'],
    ] as const) {
      const res = await call(path, null);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const page = await res.text();
      expect(page).toContain('<html lang="zh-CN">');
      expect(page).toContain(title);
      for (const [, src] of page.matchAll(/(?:src|href)="([^"]+)"/g)) {
        // The dashboard links the resident side's manager page (cloud/me/me-pages.ts).
        expect(src, `${path} refers to ${src}`).toMatch(/^(\/assets\/|\/console$|\/dashboard\/resident-side$|#)/);
      }
    }
  });

  it('serves every listed asset with its type and nothing else', async () => {
    for (const name of WEB_ASSETS) {
      const res = await call(`/assets/${name}`, null);
      expect(res.status, name).toBe(200);
      const type = res.headers.get('content-type') ?? '';
      const expected = { js: /javascript/, css: /text\/css/, svg: /svg/, csv: /^text\/csv/ }[name.split('.').pop()!];
      expect(type, name).toMatch(expected!);
      const text = await res.text();
      // Works without outside network: no URL other than the SVG namespace.
      const outside = [...text.matchAll(/https?:\/\/[^\s"')]+/g)].map((m) => m[0]);
      expect(
        outside.filter((u) => u !== 'http://www.w3.org/2000/svg'),
        name,
      ).toEqual([]);
    }
    expect((await call('/assets/..%2Fweb-routes.ts', null)).status).toBe(404);
    expect((await call('/assets/hourly-chart.d.ts', null)).status).toBe(404);
  });

  it('serves every module a page imports, and preloads each of them', async () => {
    const importsOf = (code: string) =>
      [...code.matchAll(/^(?:import|export)\s(?:[^'"]*?\sfrom\s)?'\.\/([^']+)'/gm)].map((m) => m[1]!);
    for (const path of ['/', '/console', '/dashboard']) {
      const page = await (await call(path, null)).text();
      const scripts = [...page.matchAll(/<script type="module" src="\/assets\/([^"]+)"/g)].map((m) => m[1]!);
      const preloaded = [...page.matchAll(/<link rel="modulepreload" href="\/assets\/([^"]+)"/g)].map((m) => m[1]!);
      expect(scripts.length, path).toBeGreaterThan(0);
      const imported = new Set<string>();
      const seen = new Set<string>();
      const queue = [...scripts];
      while (queue.length > 0) {
        const name = queue.shift()!;
        if (seen.has(name)) continue;
        seen.add(name);
        expect((WEB_ASSETS as readonly string[]).includes(name), `${name} (imported by ${path}) is in WEB_ASSETS`).toBe(
          true,
        );
        const res = await call(`/assets/${name}`, null);
        expect(res.status, name).toBe(200);
        expect(res.headers.get('content-type'), name).toMatch(/^text\/javascript/);
        for (const dependency of importsOf(await res.text())) {
          imported.add(dependency);
          queue.push(dependency);
        }
      }
      expect([...new Set(preloaded)].sort(), `${path} preloads what its scripts import`).toEqual([...imported].sort());
    }
  });

  it('revalidates assets by ETag: unchanged is a bodiless 304, a different tag gets the file', async () => {
    for (const name of ['dashboard.js', 'console-feed.js', 'style.css']) {
      const first = await call(`/assets/${name}`, null);
      const etag = first.headers.get('etag');
      const body = await first.text();
      expect(etag, name).toMatch(/^"[\w-]{22}"$/);
      expect(first.headers.get('cache-control')).toBe('no-cache');
      const again = await call(`/assets/${name}`, null, { headers: { 'if-none-match': etag! } });
      expect(again.status, name).toBe(304);
      expect(await again.text()).toBe('');
      expect(again.headers.get('etag')).toBe(etag);
      const listed = await call(`/assets/${name}`, null, { headers: { 'if-none-match': `"other", W/${etag}` } });
      expect(listed.status, name).toBe(304);
      const changed = await call(`/assets/${name}`, null, { headers: { 'if-none-match': '"something-else"' } });
      expect(changed.status, name).toBe(200);
      expect(await changed.text()).toBe(body);
    }
    const tags = await Promise.all(
      ['session.js', 'format.js'].map(async (n) => (await call(`/assets/${n}`, null)).headers.get('etag')),
    );
    expect(tags[0]).not.toBe(tags[1]);
  });

  it('names CJK system fonts in the stylesheet', async () => {
    const css = await (await call('/assets/style.css', null)).text();
    for (const font of ['"PingFang SC"', '"Microsoft YaHei"', '"Noto Sans CJK SC"']) expect(css).toContain(font);
  });
});

describe('alarms', () => {
  async function recordAlarm(gateId: string, compoundId: string, ts: number) {
    await core.store.recordAlarm({ gateId, compoundId, kind: 'forced', ts, detail: 'door forced', receivedAt: ts });
  }

  it('lists open alarms of the caller compound, persists an acknowledgement and pushes it live', async () => {
    await recordAlarm('north-1', 'north', NOW - 2000);
    await recordAlarm('north-1', 'north', NOW - 1000);
    await recordAlarm('south-1', 'south', NOW - 500);
    const guard = await tokenOf('guard', 'north');
    const live: LiveMessage[] = [];
    core.live.subscribe((m) => live.push(m));

    const open = (await (await call('/api/v1/alarms', guard)).json()) as { alarms: { id: number; gateId: string }[] };
    expect(open.alarms.map((a) => a.gateId)).toEqual(['north-1', 'north-1']);
    const [newest, older] = open.alarms;

    const ack = await call(`/api/v1/alarms/${newest!.id}/ack`, guard, { method: 'POST', body: '{"note":"checked"}' });
    expect(ack.status).toBe(200);
    expect(await ack.json()).toMatchObject({ id: newest!.id, ack: { by: 'guard-north', at: NOW, note: 'checked' } });
    expect(live).toEqual([
      {
        type: 'alarm-ack',
        data: { alarmId: newest!.id, gateId: 'north-1', compoundId: 'north', by: 'guard-north', at: NOW },
      },
    ]);

    const after = (await (await call('/api/v1/alarms', guard)).json()) as { alarms: { id: number }[] };
    expect(after.alarms.map((a) => a.id)).toEqual([older!.id]);
    const all = (await (await call('/api/v1/alarms?state=all', guard)).json()) as { alarms: { ack: unknown }[] };
    expect(all.alarms).toHaveLength(2);

    // A second acknowledgement keeps the first author; no second audit record or live message.
    const manager = await tokenOf('manager', 'north');
    const again = await call(`/api/v1/alarms/${newest!.id}/ack`, manager, { method: 'POST', body: '{}' });
    expect(((await again.json()) as { ack: { by: string } }).ack.by).toBe('guard-north');
    expect(live).toHaveLength(1);
    const audit = await core.store.listAudit({ action: 'alarm.ack', limit: 10 });
    expect(audit.entries).toHaveLength(1);
    expect(audit.entries[0]).toMatchObject({ actor: 'guard-north', compoundId: 'north', target: String(newest!.id) });
  });

  it('answers 404 for an alarm of another compound and 400 for a bad id', async () => {
    await recordAlarm('south-1', 'south', NOW);
    const southId = (
      (await (await call('/api/v1/alarms', await tokenOf('guard', 'south'))).json()) as { alarms: { id: number }[] }
    ).alarms[0]!.id;
    const north = await tokenOf('guard', 'north');
    expect((await call(`/api/v1/alarms/${southId}/ack`, north, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await call('/api/v1/alarms/999/ack', north, { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await call('/api/v1/alarms/abc/ack', north, { method: 'POST', body: '{}' })).status).toBe(400);
    expect((await call('/api/v1/alarms?compound=south', north)).status).toBe(403);
    expect((await call('/api/v1/alarms', null)).status).toBe(401);
  });

  it('drops an acknowledgement together with its alarm when retention purges it', async () => {
    await recordAlarm('north-1', 'north', NOW - 10_000);
    const guard = await tokenOf('guard', 'north');
    const { alarms } = (await (await call('/api/v1/alarms', guard)).json()) as { alarms: { id: number }[] };
    await call(`/api/v1/alarms/${alarms[0]!.id}/ack`, guard, { method: 'POST', body: '{}' });
    await core.store.purgeBefore(NOW, 100);
    const left = core.store.db.prepare('SELECT COUNT(*) AS n FROM alarm_acks').get() as { n: number };
    expect(left.n).toBe(0);
  });
});

describe('live ticket', () => {
  it('trades a bearer token for a one-minute token with the same identity', async () => {
    const res = await call('/api/v1/auth/live-ticket', await tokenOf('guard', 'north'), { method: 'POST' });
    expect(res.status).toBe(200);
    const { ticket, expiresAt } = (await res.json()) as { ticket: string; expiresAt: number };
    expect(expiresAt).toBe(NOW + LIVE_TICKET_TTL_MS);
    const check = verifyToken(ticket, keys.ring, NOW);
    expect(check.ok && check.claims).toMatchObject({ sub: 'guard-north', role: 'guard', compound: 'north' });
    expect(verifyToken(ticket, keys.ring, NOW + LIVE_TICKET_TTL_MS + 1)).toMatchObject({
      ok: false,
      reason: 'expired',
    });
    expect((await call('/api/v1/auth/live-ticket', null, { method: 'POST' })).status).toBe(401);
  });
});

describe('person search', () => {
  const manager = { username: 'mgr', role: 'manager' as const, compound: 'north' };
  let idNumber: string;

  beforeEach(async () => {
    let seed = 7;
    idNumber = generateIdNumber(() => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    });
    await core.registry.createResident(
      {
        personId: 'p-zhang',
        compoundId: 'north',
        householdId: 'h-1',
        kind: 'resident',
        name: '张三明',
        idNumber,
        cards: [],
        elderly: false,
        validFrom: null,
        validTo: null,
      },
      manager,
    );
    await core.registry.createResident(
      {
        personId: 'p-li',
        compoundId: 'south',
        householdId: null,
        kind: 'resident',
        name: '张丽',
        cards: [],
        elderly: false,
        validFrom: null,
        validTo: null,
      },
      { ...manager, role: 'manager', compound: 'south' },
    );
  });

  const search = (q: string, token: string, reason = 'case 2026-001') =>
    call(`/api/v1/trace/search?${new URLSearchParams({ q, reason })}`, token);
  const searchByBody = (q: string, token: string, reason = 'case 2026-001') =>
    call('/api/v1/trace/search', token, { method: 'POST', body: JSON.stringify({ q, reason }) });

  it('finds a person by name within the manager compound and audit-logs the look-up', async () => {
    const res = await search('张', await tokenOf('manager', 'north'));
    expect(res.status).toBe(200);
    const { persons } = (await res.json()) as { persons: { personId: string; name?: string }[] };
    expect(persons).toEqual([expect.objectContaining({ personId: 'p-zhang', maskedName: '张*明' })]);
    // The answer never carries the full name: that takes a reveal with a reason.
    expect(JSON.stringify(persons)).not.toContain('张三明');
    const audit = await core.store.listAudit({ action: 'trace.search', limit: 10 });
    expect(audit.entries[0]).toMatchObject({
      actor: 'manager-north',
      detail: { reason: 'case 2026-001', by: 'name', query: '张', results: 1 },
    });
  });

  it('finds a person by ID number (POST body only) through the pseudonym and keeps only the masked number in the audit log', async () => {
    const inUrl = await search(idNumber, await tokenOf('manager'));
    expect(inUrl.status).toBe(400);
    const res = await searchByBody(idNumber, await tokenOf('manager'));
    const { persons } = (await res.json()) as { persons: { personId: string }[] };
    expect(persons.map((p) => p.personId)).toEqual(['p-zhang']);
    const audit = await core.store.listAudit({ action: 'trace.search', limit: 10 });
    expect(JSON.stringify(audit.entries)).not.toContain(idNumber);
    expect(audit.entries[0]!.detail).toMatchObject({ by: 'id-number', query: maskIdNumber(idNumber) });
  });

  it('is for managers only, needs a reason and rejects a malformed ID number', async () => {
    expect((await search('张', await tokenOf('guard', 'north'))).status).toBe(403);
    expect((await call('/api/v1/trace/search?q=%E5%BC%A0', await tokenOf('manager', 'north'))).status).toBe(400);
    const wrongCheck = `${idNumber.slice(0, 17)}${idNumber.endsWith('0') ? '1' : '0'}`;
    const bad = await searchByBody(wrongCheck, await tokenOf('manager', 'north'));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid-request');
  });

  it('is rate-limited per user: a burst, then 429 with Retry-After, another user unaffected', async () => {
    const greedy = await tokenOf('manager', 'north');
    const statuses: number[] = [];
    for (let i = 0; i < RATE_LIMITS.search.burst + 1; i++) statuses.push((await search('张', greedy)).status);
    expect(statuses.slice(0, -1).every((s) => s === 200)).toBe(true);
    const limited = await search('张', greedy);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    const other = (await core.sessions.issue({ username: 'other-manager', role: 'manager', compound: 'north' })).token;
    expect((await search('张', other)).status).toBe(200);
  });
});
