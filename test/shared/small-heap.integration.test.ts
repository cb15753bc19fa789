/**
 * The gate process's small young generation (shared/small-heap.ts): it holds across the start of
 * the WAL checkpoint worker (whose heap set-up resets V8's growth factor), and a snapshot's
 * garbage is collected afterwards. Each case runs in its own Node process, since V8 flags are
 * process-wide; sizes, not times, are asserted.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** The modules under test, handed to the child by URL. */
const MODULES = {
  ANXIN_SMALL_HEAP_MODULE: new URL('../../shared/small-heap.ts', import.meta.url).href,
  ANXIN_CHECKPOINTER_MODULE: new URL('../../edge-agent/wal-checkpointer.ts', import.meta.url).href,
};

/** Runs `body` (an ES module body, top-level await allowed) under tsx; returns its JSON output. */
function inChild(body: string, execArgv: string[] = []): Record<string, number | boolean> {
  const script = `
import v8 from 'node:v8';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
const small = await import(process.env.ANXIN_SMALL_HEAP_MODULE);
const { WalCheckpointer } = await import(process.env.ANXIN_CHECKPOINTER_MODULE);
const newSpaceMb = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576;
const oldSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space');
const largeObjectsMb = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'large_object_space').space_size / 1048576;
/** Allocation with many survivors: what makes V8 grow the semi-spaces. */
const churn = () => { const keep = []; for (let i = 0; i < 1e6; i++) { const o = { a: i, b: 'x' + i }; if (i % 8 === 0) keep.push(o); } return keep.length; };
const walDb = () => {
  const db = new Database(join(mkdtempSync(join(tmpdir(), 'anxin-heap-')), 'gate.db'));
  db.pragma('journal_mode = WAL');
  return db;
};
const out = {};
${body}
process.stdout.write(JSON.stringify(out));
process.exit(0);
`;
  const run = spawnSync(process.execPath, [...execArgv, '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO,
    env: { ...process.env, ...MODULES },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Record<string, number | boolean>;
}

describe('keepYoungGenerationSmall', () => {
  it('keeps the semi-spaces at their initial size through allocation and a checkpoint worker start', () => {
    const out = inChild(`
out.applied = small.keepYoungGenerationSmall();
out.start = newSpaceMb();
churn();
out.beforeWorker = newSpaceMb();
const db = walDb();
const checkpointer = new WalCheckpointer(db, { intervalMs: 60_000 });
churn(); churn();
out.afterWorker = newSpaceMb();
await checkpointer.stop();
db.close();
`);
    expect(out.applied).toBe(true);
    expect(out.beforeWorker).toBe(out.start);
    expect(out.afterWorker).toBe(out.start);
  });

  it('without it (any other process) V8 grows them as usual — the case above is not vacuous', () => {
    const out = inChild(`
const db = walDb();
const checkpointer = new WalCheckpointer(db, { intervalMs: 60_000 });
out.start = newSpaceMb();
churn(); churn();
out.afterWorker = newSpaceMb();
await checkpointer.stop();
db.close();
`);
    expect(out.afterWorker).toBeGreaterThan(out.start as number);
  });

  it('leaves a semi-space flag given by the operator alone', () => {
    const out = inChild('out.applied = small.keepYoungGenerationSmall();', ['--max-semi-space-size=4']);
    expect(out.applied).toBe(false);
  });
});

describe('collectAfterBulkWork', () => {
  it('frees the large objects a bulk job left behind, only in the gate process', () => {
    const out = inChild(`
// 40 arrays of 800 kB: each one a large object.
let big = Array.from({ length: 40 }, (_, i) => new Array(100_000).fill(i));
big = undefined;
small.collectAfterBulkWork(); // not applied yet: nothing scheduled
await new Promise((resolve) => setTimeout(resolve, 300));
out.withoutMb = largeObjectsMb();
small.keepYoungGenerationSmall();
small.collectAfterBulkWork();
await new Promise((resolve) => setTimeout(resolve, 300));
out.afterMb = largeObjectsMb();
`);
    expect(out.withoutMb).toBeGreaterThan(10);
    expect(out.afterMb).toBeLessThan(5);
  });

  it('gives back the old-space pages the bulk job left sparse, not only the dead objects in them', () => {
    const out = inChild(`
// A parsed snapshot part's worth of small objects, one in seven still referenced afterwards (as
// the staged replica's few survivors are): a full collection frees the rest but leaves most pages
// holding a few live objects.
const keep = [];
let junk = [];
for (let i = 0; i < 400_000; i++) { const o = { a: i, b: 'x' + i, c: [i] }; junk.push(o); if (i % 7 === 0) keep.push(o); }
junk = undefined;
small.keepYoungGenerationSmall();
small.collectAfterBulkWork();
// V8 sweeps and releases the evacuated pages on background threads: on a loaded machine that takes
// longer than any fixed pause, so wait (bounded) until the slack is gone rather than sleep.
const slackMb = () => (oldSpace().space_size - oldSpace().space_used_size) / 1048576;
for (const until = Date.now() + 30_000; slackMb() >= 10 && Date.now() < until; ) {
  await new Promise((resolve) => setTimeout(resolve, 100));
}
const { space_size, space_used_size } = oldSpace();
out.slackMb = (space_size - space_used_size) / 1048576;
out.usedMb = space_used_size / 1048576;
out.kept = keep.length;
`);
    expect(out.usedMb).toBeGreaterThan(3);
    // One collection alone leaves ≈ 25 MB of old space committed and empty here; two, 2–7 MB.
    expect(out.slackMb).toBeLessThan(10);
  });
});
