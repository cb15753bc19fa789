/**
 * Audit entries carry their compound (docs/security.md, "Audit log"): an unbound admin's action
 * that spans compounds — a CSV import, a health feed, a person search — is recorded once per
 * compound it touched, so each compound's manager sees the entries about their people and never
 * another compound's (`GET /audit` filters by the manager's compound).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CloudCore, createCloudCore } from '../../cloud/cloud-service.ts';
import { SqliteCloudStore } from '../../cloud/store/sqlite-store.ts';
import { webExtension } from '../../cloud/web/web-routes.ts';
import type { HttpRole } from '../../shared/enums.ts';
import { createKeysFile, parseKeysFile } from '../../shared/keys.ts';

const NOW = Date.UTC(2026, 0, 5, 2, 0, 0);
const COMPOUNDS = ['north', 'south'] as const;

interface AuditBody {
  entries: { action: string; compoundId: string | null; detail: Record<string, unknown> | null }[];
}

describe('audit entries carry their compound', () => {
  let core: CloudCore;
  const tokenOf = async (role: HttpRole, compound?: string) =>
    (await core.sessions.issue({ username: `${role}-${compound ?? 'all'}`, role, ...(compound ? { compound } : {}) }))
      .token;
  const call = (path: string, token: string, init: { method?: string; body?: string; type?: string } = {}) =>
    Promise.resolve(
      core.app.request(path, {
        method: init.method ?? 'GET',
        headers: {
          authorization: `Bearer ${token}`,
          ...(init.body ? { 'content-type': init.type ?? 'application/json' } : {}),
        },
        ...(init.body ? { body: init.body } : {}),
      }),
    );
  const audit = async (token: string, action: string) =>
    ((await (await call(`/api/v1/audit?action=${action}&limit=100`, token)).json()) as AuditBody).entries;

  beforeEach(async () => {
    const keys = parseKeysFile(createKeysFile());
    core = createCloudCore({
      store: new SqliteCloudStore({ path: ':memory:' }),
      keys,
      publish: async () => undefined,
      now: () => NOW,
      extensions: [webExtension({ pepper: keys.pepper })],
    });
    const admin = { username: 'admin', role: 'admin' as const };
    for (const id of COMPOUNDS) {
      await core.registry.createCompound({ id, name: `${id} compound`, timeZone: 'Asia/Shanghai' }, admin);
    }
  });
  afterEach(async () => {
    await core.store.close();
  });

  it('an admin import, health feed and search across compounds: one entry per compound, each manager sees only theirs', async () => {
    const admin = await tokenOf('admin');
    const csv =
      'personId,name,householdId,compoundId\nn-1,张三明,h-1,north\nn-2,张小红,h-1,north\ns-1,张大山,h-1,south\n';
    expect(
      (await call('/api/v1/residents/import', admin, { method: 'POST', body: csv, type: 'text/csv' })).status,
    ).toBe(200);
    const feed = [
      { personId: 'n-1', colour: 'red', ts: NOW - 1000 },
      { personId: 's-1', colour: 'yellow', ts: NOW - 1000 },
    ];
    expect((await call('/api/v1/health', admin, { method: 'PUT', body: JSON.stringify(feed) })).status).toBe(200);
    const search = await call(`/api/v1/trace/search?${new URLSearchParams({ q: '张', reason: 'case 7' })}`, admin);
    expect(search.status).toBe(200);

    const byCompound = (entries: AuditBody['entries']) =>
      Object.fromEntries(entries.map((e) => [e.compoundId ?? 'none', e.detail]));
    expect(byCompound(await audit(admin, 'resident.import'))).toEqual({
      north: { rows: 2, updated: 0, fileRows: 3 },
      south: { rows: 1, updated: 0, fileRows: 3 },
    });
    expect(byCompound(await audit(admin, 'health.update'))).toMatchObject({
      north: { entries: 1, updated: 1 },
      south: { entries: 1, updated: 1 },
    });
    expect(byCompound(await audit(admin, 'trace.search'))).toMatchObject({
      north: { results: 2 },
      south: { results: 1 },
    });

    // No entry of these actions lacks its compound, and each compound's manager sees its own only.
    const all = (await (await call('/api/v1/audit?limit=200', admin)).json()) as AuditBody;
    const spanning = all.entries.filter((e) => ['resident.import', 'health.update', 'trace.search'].includes(e.action));
    expect(spanning).toHaveLength(6);
    expect(spanning.every((e) => e.compoundId !== null)).toBe(true);
    for (const compound of COMPOUNDS) {
      const mine = (await (
        await call('/api/v1/audit?limit=200', await tokenOf('manager', compound))
      ).json()) as AuditBody;
      expect(mine.entries.length).toBeGreaterThanOrEqual(3);
      expect(mine.entries.every((e) => e.compoundId === compound)).toBe(true);
    }
  });

  it('a search that finds nobody is recorded under the compound asked for, or the searching manager’s', async () => {
    await call(
      `/api/v1/trace/search?${new URLSearchParams({ q: '无人', reason: 'r', compound: 'south' })}`,
      await tokenOf('admin'),
    );
    await call(
      `/api/v1/trace/search?${new URLSearchParams({ q: '无人', reason: 'r' })}`,
      await tokenOf('manager', 'north'),
    );
    const entries = await audit(await tokenOf('admin'), 'trace.search');
    expect(entries.map((e) => e.compoundId).sort()).toEqual(['north', 'south']);
  });
});
