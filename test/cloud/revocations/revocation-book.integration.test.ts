/**
 * The revocation book (cloud/revocations/revocation-book.ts) on every store backend: entries kept
 * once, oldest first, and still there after a restart.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { openRevocationBook } from '../../../cloud/revocations/open-revocation-book.ts';
import type { CloudStore } from '../../../cloud/store/store.ts';
import { storeBackends } from '../store/backends.ts';

describe.each(storeBackends())('revocation book on the $name store', (backend) => {
  let store: CloudStore;
  afterAll(() => backend.dispose());
  beforeEach(async () => {
    store = await backend.open();
  });

  it('keeps each entry once, oldest first, across a restart', async () => {
    const book = openRevocationBook(store.engine);
    expect(await book.list()).toEqual([]);
    await book.add({ entry: 'sub:g-2@200', subject: 'g-2', reason: 'stolen', by: 'admin', at: 200 });
    await book.add({ entry: 'tok-1', subject: null, reason: 'leaked', by: 'root', at: 100 });
    // The same entry again keeps its first record.
    await book.add({ entry: 'tok-1', subject: null, reason: 'again', by: 'other', at: 300 });
    const expected = [
      { entry: 'tok-1', subject: null, reason: 'leaked', by: 'root', at: 100 },
      { entry: 'sub:g-2@200', subject: 'g-2', reason: 'stolen', by: 'admin', at: 200 },
    ];
    expect(await book.list()).toEqual(expected);
    await store.close();
    const reopened = await backend.reopen();
    expect(await openRevocationBook(reopened.engine).list()).toEqual(expected);
  });
});
