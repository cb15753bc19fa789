/**
 * The resident directory (cloud/web/resident-directory.ts) on every store backend: pages with
 * their total, a search ranked by how it matched with the matched people's households after
 * them, the status filter, a person's passes, and the tracer's name search — the same answers on
 * both engines (the expectations below are written once).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { openResidentDirectory } from '../../../cloud/web/open-resident-directory.ts';
import type { ResidentDirectory } from '../../../cloud/web/resident-directory.ts';
import { resident } from '../fixtures.ts';
import { storeBackends } from '../store/backends.ts';

const T0 = Date.UTC(2026, 11, 1);

describe.each(storeBackends())('resident directory on the $name store', (backend) => {
  let store: CloudStore;
  let directory: ResidentDirectory;
  afterAll(() => backend.dispose());
  beforeAll(async () => {
    store = await backend.open();
    directory = openResidentDirectory(store.engine);
    await store.createCompound({ id: 'north', name: 'North', timeZone: 'Asia/Shanghai' }, T0);
    await store.createCompound({ id: 'south', name: 'South', timeZone: 'Asia/Shanghai' }, T0);
    await store.upsertResidents([
      resident('p-zhang', 'north', { householdId: 'h-1', name: '张三明', maskedName: '张*明', phone: '13800001234' }),
      resident('p-li', 'north', { householdId: 'h-1', name: '李四', maskedName: '李*', active: false }),
      resident('p-wang', 'north', { householdId: 'h-2', name: 'Wang Wu', maskedName: 'W*g Wu', elderly: true }),
      resident('p-solo', 'north', { householdId: null, name: '赵六', maskedName: '赵*' }),
      resident('p-south-zhang', 'south', { householdId: 'h-9', name: '张三明', maskedName: '张*明' }),
    ]);
    for (const [passId, issuedAt, revokedAt] of [
      ['pass-1', T0, null],
      ['pass-2', T0 + 1000, T0 + 2000],
    ] as const) {
      await store.createPass({
        passId,
        personId: 'p-zhang',
        compoundId: 'north',
        kind: 'resident',
        notBefore: T0,
        expiresAt: T0 + 86_400_000,
        useLimit: null,
        text: `AX1:${passId}`,
        issuedBy: 'mgr',
        issuedAt,
        revokedAt,
      });
    }
  });

  it('pages a compound by person id with its total, filtered by status', async () => {
    const all = await directory.page({ compoundId: 'north', status: 'all', offset: 0, limit: 2 });
    expect(all.total).toBe(4);
    expect(all.residents.map((r) => r.personId)).toEqual(['p-li', 'p-solo']);
    const rest = await directory.page({ compoundId: 'north', status: 'all', offset: 2, limit: 2 });
    expect(rest.residents.map((r) => r.personId)).toEqual(['p-wang', 'p-zhang']);
    const inactive = await directory.page({ compoundId: 'north', status: 'inactive', offset: 0, limit: 10 });
    expect(inactive.residents.map((r) => [r.personId, r.active])).toEqual([['p-li', false]]);
    const zhang = rest.residents[1]!;
    expect(zhang).toMatchObject({ maskedName: '张*明', phoneTail: '1234', elderly: false, active: true });
    expect(zhang).not.toHaveProperty('name');
    expect(rest.residents[0]).toMatchObject({ elderly: true });
  });

  it('ranks a search by how it matched, then the matched households, never another compound', async () => {
    const byName = await directory.page({ compoundId: 'north', q: '张*', status: 'all', offset: 0, limit: 10 });
    expect(byName.residents.map((r) => [r.personId, r.matchedBy])).toEqual([
      ['p-zhang', 'masked-name'],
      ['p-li', 'household-member'],
    ]);
    const byPhone = await directory.page({ compoundId: 'north', q: '1234', status: 'active', offset: 0, limit: 10 });
    expect(byPhone.residents.map((r) => [r.personId, r.matchedBy])).toEqual([['p-zhang', 'phone-tail']]);
    const byHousehold = await directory.page({ compoundId: 'north', q: 'h-1', status: 'all', offset: 0, limit: 10 });
    expect(byHousehold.residents.map((r) => [r.personId, r.matchedBy])).toEqual([
      ['p-li', 'household'],
      ['p-zhang', 'household'],
    ]);
    const literal = await directory.page({ compoundId: 'north', q: '%', status: 'all', offset: 0, limit: 10 });
    expect(literal.total).toBe(0);
    const byId = await directory.page({ compoundId: 'south', q: 'p-zhang', status: 'all', offset: 0, limit: 10 });
    expect(byId.total).toBe(0);
  });

  it('lists a person’s passes newest first, and finds residents by full name in one compound', async () => {
    const passes = await directory.passes('p-zhang', 'north');
    expect(passes.map((p) => [p.passId, p.revokedAt])).toEqual([
      ['pass-2', T0 + 2000],
      ['pass-1', null],
    ]);
    expect(passes[0]).not.toHaveProperty('text');
    expect(await directory.passes('p-zhang', 'south')).toEqual([]);
    expect((await directory.byName('north', '三明', 10)).map((r) => r.personId)).toEqual(['p-zhang']);
    expect((await directory.byName('north', 'wang', 10)).map((r) => [r.personId, r.name])).toEqual([
      ['p-wang', 'Wang Wu'],
    ]);
    expect((await directory.byName('north', 'p-li', 10)).map((r) => r.personId)).toEqual(['p-li']);
    expect((await directory.byName('south', '三明', 10)).map((r) => r.compoundId)).toEqual(['south']);
  });
});
