/**
 * What only the SQLite store does: WAL journal mode and `durable()`'s shared fsync. The store
 * contract itself runs on every backend in store.integration.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';

describe('SqliteCloudStore', () => {
  it('keeps data across reopen in WAL mode', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'anxin-store-'));
    try {
      const path = join(dir, 'cloud.db');
      const a = new SqliteCloudStore({ path });
      await a.createCompound({ id: 'c-9', name: 'Nine', timeZone: 'Asia/Shanghai' }, 1);
      await a.close();
      const b = new SqliteCloudStore({ path });
      expect((await b.getCompound('c-9'))?.name).toBe('Nine');
      expect(b.db.pragma('journal_mode', { simple: true })).toBe('wal');
      await b.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('durable()', () => {
  it('fsyncs the WAL of a file database, sharing one fsync among callers that arrive meanwhile', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'anxin-durable-'));
    const fileStore = new SqliteCloudStore({ path: join(dir, 'cloud.db') });
    try {
      await fileStore.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, 1);
      const first = fileStore.durable();
      const second = fileStore.durable();
      const third = fileStore.durable();
      expect(third).toBe(second);
      await Promise.all([first, second, third]);
      await fileStore.durable();
    } finally {
      await fileStore.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
