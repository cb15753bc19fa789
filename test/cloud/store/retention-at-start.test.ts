/**
 * Retention runs when the cloud starts, not only an hour later (a cloud restarted more often than
 * hourly would never purge), and the audit log has its own, longer horizon (docs/security.md,
 * "Audit log"; cloud/store/retention-job.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteCloudStore } from '../../../cloud/store/sqlite-store.ts';
import { createKeysFile } from '../../../shared/keys.ts';
import { startTestCloud, type TestCloud } from '../../../testkit/cloud.ts';
import { entryEvent } from '../fixtures.ts';

const DAY = 24 * 3_600_000;

describe('retention at start-up', () => {
  let cloud: TestCloud | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await cloud?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('purges passages beyond the keep window and audit entries beyond the audit window as the cloud starts', async () => {
    dir = mkdtempSync(join(tmpdir(), 'anxin-retention-'));
    const dbPath = join(dir, 'cloud.db');
    const now = Date.now();
    const seed = new SqliteCloudStore({ path: dbPath });
    await seed.createCompound({ id: 'c-1', name: 'One', timeZone: 'Asia/Shanghai' }, now);
    await seed.createGate({ id: 'g-1', compoundId: 'c-1', name: 'North', antiPassback: false }, now);
    await seed.insertEvents([
      { ...entryEvent('g-1', 1, { ts: now - 40 * DAY }), compoundId: 'c-1', receivedAt: now - 40 * DAY },
      { ...entryEvent('g-1', 2, { ts: now - DAY }), compoundId: 'c-1', receivedAt: now - DAY },
    ]);
    const audit = (at: number, action: string) =>
      seed.recordAudit({ at, actor: 'admin', role: 'admin', action, compoundId: 'c-1', target: null, detail: null });
    await audit(now - 500 * DAY, 'mode.change');
    await audit(now - 100 * DAY, 'pass.issue');
    await seed.close();

    cloud = await startTestCloud({ keysFile: createKeysFile(), reuseDbPath: dbPath, auditRetentionDays: 400 });
    expect(await cloud.cloud.startupRetention).toBe(2);
    const { store } = cloud.cloud.core;
    expect((await store.queryEvents({ limit: 10 })).events.map((e) => e.seq)).toEqual([2]);
    expect((await store.listAudit({ limit: 10 })).entries.map((e) => e.action)).toEqual(['pass.issue']);
  });
});
