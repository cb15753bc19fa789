/**
 * Checkpoints the gate database's write-ahead log on a worker thread, so the event loop — and
 * with it the path from a read to the unlock — never runs one.
 *
 * SQLite checkpoints automatically inside the commit that takes the WAL past 1,000 pages: that
 * commit copies the WAL into the database file and syncs both, ≈ 40 ms on the gate's disk, and the
 * passage that happened to commit it waited for all of it (the scan → unlock tail in
 * BENCHMARKS.md). The gate's own connection therefore runs with `wal_autocheckpoint = 0`, and a
 * second connection on a worker thread runs `wal_checkpoint(PASSIVE)` every `intervalMs`. PASSIVE
 * never blocks the writer: it copies what no reader still needs and leaves the rest for the next
 * round; the next commit after a complete one rewinds the WAL, so it stays a few MB.
 *
 * One worker serves every database of the process (≈ 10 MB of RSS for the thread; `anxin demo`
 * runs several gates in one process), started with the first and ended with the last. Should it
 * fail (it cannot open a file, it dies), that database goes back to automatic checkpoints: the WAL
 * never grows without bound, the tail merely returns.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';
import { type Logger, silentLogger } from '../shared/log.ts';
import { reassertYoungGenerationSetting, youngGenerationKeptSmall } from '../shared/small-heap.ts';

/** How often the worker checkpoints; at most a few hundred passages' pages accumulate meanwhile. */
const CHECKPOINT_INTERVAL_MS = 1_000;
/** The longest the gate process waits at start-up for the worker to run (shared/small-heap.ts). */
const WORKER_START_WAIT_MS = 2_000;
/** SQLite's default, restored if the worker fails. */
const AUTOCHECKPOINT_PAGES = 1_000;

/** The worker (plain CommonJS, so it runs the same under tsx, vitest and in a build). */
const WORKER_FILE = new URL('./wal-checkpoint-worker.cjs', import.meta.url);

type FromWorker =
  | { kind: 'checkpoint'; id: number; startedAt: number; log: number; checkpointed: number }
  | { kind: 'error' | 'failed'; id: number; message: string }
  | { kind: 'removed'; id: number };

export interface CheckpointStats {
  /** Checkpoints run by the worker. */
  runs: number;
  /** WAL frames in the log at the last checkpoint, and how many of them it copied. */
  lastLogFrames: number;
  lastCheckpointed: number;
  /** When (epoch ms, the worker's clock) the last reported checkpoint began. */
  lastStartedAt: number;
  errors: number;
}

/** The process's one checkpoint thread and the checkpointers it serves. */
class CheckpointThread {
  readonly #worker: Worker;
  readonly #clients = new Map<number, WalCheckpointer>();
  readonly #removed = new Map<number, () => void>();
  #nextId = 1;
  #dead = false;

  constructor() {
    // In the gate process, the worker's start resets the main heap's young-generation setting
    // (shared/small-heap.ts): wait — once, at start-up, a few ms — until the worker runs, then set
    // it again, before the main thread can allocate enough for V8 to grow its semi-spaces.
    const started = youngGenerationKeptSmall() ? new SharedArrayBuffer(4) : undefined;
    this.#worker = new Worker(WORKER_FILE, {
      workerData: { betterSqlite3: createRequire(import.meta.url).resolve('better-sqlite3'), started },
      // A checkpoint needs little: keep the isolate small on a gate.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
    });
    this.#worker.unref();
    if (started) {
      Atomics.wait(new Int32Array(started), 0, 0, WORKER_START_WAIT_MS);
      reassertYoungGenerationSetting();
    }
    this.#worker.on('message', (message: FromWorker) => this.#onMessage(message));
    this.#worker.on('error', (error) => this.#die(error.message));
    this.#worker.on('exit', (code) => this.#die(`checkpoint worker exited with code ${code}`));
  }

  add(client: WalCheckpointer, file: string, intervalMs: number): number {
    const id = this.#nextId++;
    this.#clients.set(id, client);
    this.#worker.postMessage({ kind: 'add', id, file, intervalMs });
    return id;
  }

  /** Resolves once the worker ran the database's last checkpoint and closed its connection. */
  remove(id: number): Promise<void> {
    if (this.#dead || !this.#clients.has(id)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#removed.set(id, resolve);
      this.#worker.postMessage({ kind: 'remove', id });
    });
  }

  #onMessage(message: FromWorker): void {
    const client = this.#clients.get(message.id);
    if (message.kind === 'removed') {
      this.#clients.delete(message.id);
      this.#removed.get(message.id)?.();
      this.#removed.delete(message.id);
      if (this.#clients.size === 0) this.#retire();
    } else if (client) {
      client.onWorkerMessage(message);
      if (message.kind === 'failed') this.#clients.delete(message.id);
    }
  }

  /** The last client left: end the thread; the next checkpointer starts a new one. */
  #retire(): void {
    if (thread === this) thread = undefined;
    this.#dead = true;
    this.#worker.postMessage({ kind: 'exit' });
  }

  #die(why: string): void {
    if (thread === this) thread = undefined;
    if (this.#dead) return;
    this.#dead = true;
    for (const client of this.#clients.values()) client.onWorkerMessage({ kind: 'failed', id: 0, message: why });
    this.#clients.clear();
    for (const resolve of this.#removed.values()) resolve();
    this.#removed.clear();
  }
}

let thread: CheckpointThread | undefined;

/** Whether the process's checkpoint thread is running (it ends with its last database). */
export const checkpointThreadRunning = (): boolean => thread !== undefined;

export class WalCheckpointer {
  readonly stats: CheckpointStats = { runs: 0, lastLogFrames: 0, lastCheckpointed: 0, lastStartedAt: 0, errors: 0 };
  #thread: CheckpointThread | undefined;
  #id = 0;
  readonly #log: Logger;

  /** Takes over the checkpoints of `db` (a file database in WAL mode). */
  constructor(
    private readonly db: Database,
    options: { intervalMs?: number; logger?: Logger } = {},
  ) {
    this.#log = (options.logger ?? silentLogger).child({ component: 'wal-checkpointer' });
    db.pragma('wal_autocheckpoint = 0');
    thread ??= new CheckpointThread();
    this.#thread = thread;
    this.#id = thread.add(this, db.name, options.intervalMs ?? CHECKPOINT_INTERVAL_MS);
  }

  /** Resolves once the worker ran this database's last checkpoint and closed its connection. */
  async stop(): Promise<void> {
    const current = this.#thread;
    this.#thread = undefined;
    await current?.remove(this.#id);
  }

  /** @internal What the checkpoint thread reports about this database. */
  onWorkerMessage(message: Exclude<FromWorker, { kind: 'removed' }>): void {
    if (message.kind === 'checkpoint') {
      this.stats.runs += 1;
      this.stats.lastLogFrames = message.log;
      this.stats.lastCheckpointed = message.checkpointed;
      this.stats.lastStartedAt = message.startedAt;
    } else if (message.kind === 'error') {
      this.stats.errors += 1;
      this.#log.warn({ err: message.message }, 'WAL checkpoint failed; the next round retries');
    } else {
      this.stats.errors += 1;
      this.#thread = undefined;
      this.#log.error({ err: message.message }, 'checkpoint worker failed; back to checkpoints inside commits');
      if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    }
  }
}
