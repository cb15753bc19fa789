/**
 * The device pass store (cloud/device-passes/device-pass-store.ts) on every store backend: the
 * printed/phone choice per resident, one current device pass per resident (a replacement returns
 * the pass it replaced, whose certificate bytes come back intact), forgetting it, a restart, and —
 * on one database shared by two stores, as two cloud instances share it — concurrent enrolments of
 * one resident each returning the pass they really replaced.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { DevicePassStore, DevicePassRecord } from '../../../cloud/device-passes/device-pass-store.ts';
import { openDevicePassStore } from '../../../cloud/device-passes/open-device-pass-store.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { storeBackends } from '../store/backends.ts';

const T0 = Date.UTC(2026, 11, 5);

function record(passId: string, personId = 'p-zhang', at = T0): DevicePassRecord {
  return {
    passId,
    personId,
    compoundId: 'c-1',
    // Every byte value, so an encoding that mangles binary shows.
    certificate: Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 7 + passId.length) % 256)),
    deviceKeyId: '0123456789abcdef',
    label: passId === 'dp-2' ? null : 'my phone',
    frameSeconds: 30,
    notBefore: at,
    expiresAt: at + 86_400_000,
    issuedAt: at,
  };
}

describe.each(storeBackends())('device pass store on the $name store', (backend) => {
  let store: CloudStore;
  let devicePasses: DevicePassStore;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await backend.open();
    devicePasses = openDevicePassStore(store.engine);
  });

  it('keeps the medium chosen per resident, printed when none was', async () => {
    expect(await devicePasses.medium('p-zhang')).toBe('printed');
    await devicePasses.setMedium({ personId: 'p-zhang', medium: 'phone', setBy: 'manager', setAt: T0 });
    await devicePasses.setMedium({ personId: 'p-li', medium: 'printed', setBy: 'manager', setAt: T0 });
    expect(await devicePasses.medium('p-zhang')).toBe('phone');
    await devicePasses.setMedium({ personId: 'p-zhang', medium: 'printed', setBy: 'manager', setAt: T0 + 1 });
    expect([await devicePasses.medium('p-zhang'), await devicePasses.medium('p-li')]).toEqual(['printed', 'printed']);
  });

  it('one current device pass per resident: replace returns the one replaced, clear forgets it', async () => {
    expect(await devicePasses.current('p-zhang')).toBeUndefined();
    expect(await devicePasses.replace(record('dp-1'))).toBeUndefined();
    expect(await devicePasses.current('p-zhang')).toEqual(record('dp-1'));
    expect(await devicePasses.replace(record('dp-2', 'p-zhang', T0 + 5))).toEqual(record('dp-1'));
    await devicePasses.replace(record('dp-3', 'p-li'));
    expect(await devicePasses.current('p-zhang')).toEqual(record('dp-2', 'p-zhang', T0 + 5));
    expect(await devicePasses.clear('p-zhang')).toEqual(record('dp-2', 'p-zhang', T0 + 5));
    expect(await devicePasses.clear('p-zhang')).toBeUndefined();
    expect(await devicePasses.current('p-li')).toEqual(record('dp-3', 'p-li'));
  });

  it('keeps both across a restart', async () => {
    await devicePasses.setMedium({ personId: 'p-zhang', medium: 'phone', setBy: 'manager', setAt: T0 });
    await devicePasses.replace(record('dp-1'));
    await store.close();
    const reopened = openDevicePassStore((await backend.reopen()).engine);
    expect(await reopened.medium('p-zhang')).toBe('phone');
    expect(await reopened.current('p-zhang')).toEqual(record('dp-1'));
  });

  it('concurrent enrolments of one resident (two stores on one database): each replaced pass returned once', async () => {
    const other = openDevicePassStore(backend.name === 'postgres' ? (await backend.reopen()).engine : store.engine);
    const passes = Array.from({ length: 12 }, (_, i) => record(`dp-${i + 10}`));
    const replaced = await Promise.all(passes.map((p, i) => (i % 2 === 0 ? devicePasses : other).replace(p)));
    const current = await devicePasses.current('p-zhang');
    // Every pass but the current one was replaced by exactly one later enrolment: none left unrevoked.
    const returned = replaced.filter((r) => r !== undefined).map((r) => r.passId);
    expect(replaced.filter((r) => r === undefined)).toHaveLength(1);
    expect(new Set(returned).size).toBe(returned.length);
    expect([...returned, current?.passId].sort()).toEqual(passes.map((p) => p.passId).sort());
  });
});
