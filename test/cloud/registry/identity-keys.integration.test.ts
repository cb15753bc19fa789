/**
 * Pepper rotation (cloud/registry/pepper-rotation.ts) on every store backend: every pseudonym and
 * seal re-keyed in one transaction, and nothing changed when one seal does not open.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { IdentitySeal } from '../../../cloud/registry/identity-seal.ts';
import { openIdentityKeys } from '../../../cloud/registry/open-identity-keys.ts';
import { PepperRotationError, rotatePepper } from '../../../cloud/registry/pepper-rotation.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { pseudonymizeIdNumber } from '../../../shared/pseudonym.ts';
import { resident } from '../fixtures.ts';
import { storeBackends } from '../store/backends.ts';

const OLD = Buffer.alloc(32, 1);
const NEW = Buffer.alloc(32, 2);
const IDS = ['440524188001015368', '11010519491231002X'];

describe.each(storeBackends())('pepper rotation on the $name store', (backend) => {
  let store: CloudStore;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await backend.open();
    await store.createCompound({ id: 'c-1', name: 'C', timeZone: 'Asia/Shanghai' }, 1);
    const seal = new IdentitySeal(OLD);
    await store.upsertResidents([
      ...IDS.map((id, i) =>
        resident(`p-${i}`, 'c-1', { idSealed: seal.seal(id), idHash: pseudonymizeIdNumber(id, OLD) }),
      ),
      resident('p-none', 'c-1'),
    ]);
  });

  it('re-keys every resident with an ID number', async () => {
    expect(await rotatePepper(openIdentityKeys(store.engine), OLD, NEW)).toEqual({ residents: 2 });
    for (const [i, id] of IDS.entries()) {
      const [found] = await store.findResidentsByIdHash([pseudonymizeIdNumber(id, NEW)]);
      expect(found?.personId).toBe(`p-${i}`);
      expect(new IdentitySeal(NEW).open(found!.idSealed!)).toBe(id);
      expect(await store.findResidentsByIdHash([pseudonymizeIdNumber(id, OLD)])).toEqual([]);
    }
    expect((await store.getResident('p-none'))?.idHash).toBeNull();
  });

  it('changes nothing when a seal does not open with the old pepper', async () => {
    const wrong = Buffer.alloc(32, 9);
    await expect(rotatePepper(openIdentityKeys(store.engine), wrong, NEW)).rejects.toBeInstanceOf(PepperRotationError);
    for (const id of IDS) expect(await store.findResidentsByIdHash([pseudonymizeIdNumber(id, OLD)])).toHaveLength(1);
  });
});
