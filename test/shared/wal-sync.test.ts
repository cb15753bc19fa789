import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GATE_DB_FILE, openGateDatabase } from '../../edge-agent/gate-database.ts';
import { WalSync } from '../../shared/wal-sync.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-wal-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const syncOnce = (wal: WalSync) => new Promise<Error | null>((resolve) => wal.sync(resolve));

describe('WalSync', () => {
  it('fsyncs the gate database’s WAL (and its directory once) on the thread pool', async () => {
    const db = openGateDatabase(dir, { synchronous: 'normal' });
    db.prepare("INSERT INTO meta (key, value) VALUES ('k', 'v')").run();
    const wal = new WalSync(`${db.name}-wal`);
    expect(wal.walPath).toBe(join(dir, `${GATE_DB_FILE}-wal`));
    expect(await syncOnce(wal)).toBeNull();
    expect(await syncOnce(wal)).toBeNull();
    wal.close();
    expect(await syncOnce(wal)).toBeInstanceOf(Error);
    db.close();
  });

  it('reports a WAL that cannot be opened as an error, never throws', async () => {
    const wal = new WalSync(join(dir, 'missing', 'gate.db-wal'));
    expect((await syncOnce(wal)) as NodeJS.ErrnoException).toMatchObject({ code: 'ENOENT' });
  });
});
