/**
 * The revocation store (cloud/revocations/revocation-store.ts) on every store backend: entries kept
 * once, oldest first, and still there after a restart.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { openRevocationStore } from '../../../cloud/revocations/open-revocation-store.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { storeBackends } from '../store/backends.ts';

describe.each(storeBackends())('revocation store on the $name store', (backend) => {
  let store: CloudStore;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await backend.open();
  });

  it('keeps each entry once, oldest first, across a restart', async () => {
    const revocations = openRevocationStore(store.engine);
    expect(await revocations.list()).toEqual([]);
    await revocations.add({ entry: 'sub:g-2@200', subject: 'g-2', reason: 'stolen', by: 'admin', at: 200 });
    await revocations.add({ entry: 'tok-1', subject: null, reason: 'leaked', by: 'root', at: 100 });
    // The same entry again keeps its first record.
    await revocations.add({ entry: 'tok-1', subject: null, reason: 'again', by: 'other', at: 300 });
    const expected = [
      { entry: 'tok-1', subject: null, reason: 'leaked', by: 'root', at: 100 },
      { entry: 'sub:g-2@200', subject: 'g-2', reason: 'stolen', by: 'admin', at: 200 },
    ];
    expect(await revocations.list()).toEqual(expected);
    await store.close();
    const reopened = await backend.reopen();
    expect(await openRevocationStore(reopened.engine).list()).toEqual(expected);
  });
});
