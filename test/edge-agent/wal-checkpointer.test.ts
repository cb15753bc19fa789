import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkpointThreadRunning, WalCheckpointer } from '../../edge-agent/wal-checkpointer.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function walDatabase() {
  const dir = mkdtempSync(join(tmpdir(), 'anxin-ckpt-'));
  dirs.push(dir);
  const file = join(dir, 'gate.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE journal (seq INTEGER PRIMARY KEY, event TEXT NOT NULL)');
  return { db, file };
}

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** One commit of `rows` rows of ~1 KB: four to a 4 KB page. */
function commit(db: Database.Database, rows: number): void {
  const add = db.prepare('INSERT INTO journal (event) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) add.run('x'.repeat(1_000));
  })();
}

describe('WalCheckpointer', () => {
  it('takes checkpoints out of the commits and keeps the WAL bounded from its worker thread', async () => {
    const { db, file } = walDatabase();
    const checkpointer = new WalCheckpointer(db, { intervalMs: 20 });
    try {
      expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
      // 40 rounds of ~50 pages: 2,000 pages (8 MB) in all, twice what SQLite lets the WAL reach before
      // it checkpoints inside a commit. Here no commit checkpoints; the worker does, between them.
      for (let round = 0; round < 40; round++) {
        commit(db, 200);
        // A complete checkpoint that began after this commit (a report already queued, or one that
        // ran during a slow commit on a loaded machine, would leave the commit's frames uncopied and
        // let the next commit grow the WAL instead of rewinding it).
        const committedAt = Date.now();
        await until(
          () =>
            checkpointer.stats.lastStartedAt > committedAt &&
            checkpointer.stats.lastCheckpointed === checkpointer.stats.lastLogFrames,
          'a complete checkpoint after the commit',
        );
      }
      expect(checkpointer.stats.errors).toBe(0);
      // Copied completely, so the next commit rewinds the WAL instead of growing it.
      await until(
        () =>
          checkpointer.stats.lastLogFrames > 0 &&
          checkpointer.stats.lastCheckpointed === checkpointer.stats.lastLogFrames,
        'a complete checkpoint',
      );
      const walBytes = statSync(`${file}-wal`).size;
      expect(walBytes).toBeLessThan(1024 * 1024);
      // What was committed is in the database file, whoever reads it.
      const other = new Database(file, { readonly: true });
      expect((other.prepare('SELECT COUNT(*) AS n FROM journal').get() as { n: number }).n).toBe(8_000);
      other.close();
    } finally {
      await checkpointer.stop();
      db.close();
    }
  });

  it('without it the WAL of the same commits grows to all 8 MB of them (the control)', () => {
    const { db, file } = walDatabase();
    db.pragma('wal_autocheckpoint = 0');
    for (let round = 0; round < 40; round++) commit(db, 200);
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(8 * 1000 * 1000);
    db.close();
  });

  it('runs a last checkpoint when stopped and lets its thread end', async () => {
    const { db } = walDatabase();
    const checkpointer = new WalCheckpointer(db, { intervalMs: 60_000 });
    commit(db, 50);
    await checkpointer.stop();
    expect(checkpointer.stats.runs).toBe(1);
    expect(checkpointer.stats.lastCheckpointed).toBe(checkpointer.stats.lastLogFrames);
    await checkpointer.stop();
    db.close();
  });

  it('serves every gate database of the process from one thread, which ends with the last', async () => {
    const first = walDatabase();
    const second = walDatabase();
    const a = new WalCheckpointer(first.db, { intervalMs: 20 });
    const b = new WalCheckpointer(second.db, { intervalMs: 20 });
    expect(checkpointThreadRunning()).toBe(true);
    commit(first.db, 40);
    commit(second.db, 80);
    await until(() => a.stats.lastLogFrames > 0 && b.stats.lastLogFrames > 0, 'both checkpointed');
    expect(b.stats.lastLogFrames).toBeGreaterThan(a.stats.lastLogFrames);
    await a.stop();
    expect(checkpointThreadRunning()).toBe(true);
    const runs = b.stats.runs;
    await until(() => b.stats.runs > runs + 2, 'the second goes on alone');
    await b.stop();
    expect(checkpointThreadRunning()).toBe(false);
    first.db.close();
    second.db.close();
  });

  it('gives the checkpoints back to the commits when its worker cannot run', async () => {
    const pragma = vi.fn();
    const missing = { name: join(tmpdir(), 'anxin-no-such-dir', 'gate.db'), open: true, pragma };
    const checkpointer = new WalCheckpointer(missing as unknown as Database.Database, { intervalMs: 20 });
    expect(pragma).toHaveBeenCalledWith('wal_autocheckpoint = 0');
    await until(() => checkpointer.stats.errors > 0, 'the worker failing');
    expect(pragma).toHaveBeenLastCalledWith('wal_autocheckpoint = 1000');
    await checkpointer.stop();
  });
});
