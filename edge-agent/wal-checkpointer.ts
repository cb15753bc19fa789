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
 * Should the worker fail (it cannot open the file, it dies), the connection goes back to automatic
 * checkpoints: the WAL never grows without bound, the tail merely returns.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';
import { type Logger, silentLogger } from '../shared/log.ts';

/** How often the worker checkpoints; at most a few hundred passages' pages accumulate meanwhile. */
export const CHECKPOINT_INTERVAL_MS = 1_000;
/** SQLite's default, restored if the worker fails. */
const AUTOCHECKPOINT_PAGES = 1_000;

/** The worker: plain CommonJS, so it runs the same under tsx and in a build. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.betterSqlite3);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('cache_size = -256');
db.pragma('busy_timeout = 0');
const checkpoint = () => {
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ kind: 'checkpoint', busy: row.busy, log: row.log, checkpointed: row.checkpointed });
  } catch (error) {
    parentPort.postMessage({ kind: 'error', message: error.message });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
parentPort.postMessage({ kind: 'ready' });
`;

export interface CheckpointStats {
  /** Checkpoints run by the worker. */
  runs: number;
  /** WAL frames in the log at the last checkpoint, and how many of them it copied. */
  lastLogFrames: number;
  lastCheckpointed: number;
  errors: number;
}

export class WalCheckpointer {
  readonly stats: CheckpointStats = { runs: 0, lastLogFrames: 0, lastCheckpointed: 0, errors: 0 };
  #worker: Worker | undefined;
  #stopped = false;
  readonly #log: Logger;

  /** Takes over the checkpoints of `db` (a file database in WAL mode). */
  constructor(
    private readonly db: Database,
    options: { intervalMs?: number; logger?: Logger } = {},
  ) {
    this.#log = (options.logger ?? silentLogger).child({ component: 'wal-checkpointer' });
    db.pragma('wal_autocheckpoint = 0');
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        file: db.name,
        intervalMs: options.intervalMs ?? CHECKPOINT_INTERVAL_MS,
        betterSqlite3: createRequire(import.meta.url).resolve('better-sqlite3'),
      },
      // A checkpoint needs little: keep the isolate small on a gate.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
    });
    worker.unref();
    worker.on('message', (message: WorkerMessage) => this.#onMessage(message));
    worker.on('error', (error) => this.#fallBack(error.message));
    worker.on('exit', (code) => {
      if (!this.#stopped) this.#fallBack(`checkpoint worker exited with code ${code}`);
    });
    this.#worker = worker;
  }

  /** Resolves once the worker ran its last checkpoint and closed its connection. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const worker = this.#worker;
    this.#worker = undefined;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('stop');
    await exited;
  }

  #onMessage(message: WorkerMessage): void {
    if (message.kind === 'checkpoint') {
      this.stats.runs += 1;
      this.stats.lastLogFrames = message.log;
      this.stats.lastCheckpointed = message.checkpointed;
    } else if (message.kind === 'error') {
      this.stats.errors += 1;
      this.#log.warn({ err: message.message }, 'WAL checkpoint failed; the next round retries');
    }
  }

  #fallBack(why: string): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#worker = undefined;
    this.stats.errors += 1;
    this.#log.error({ err: why }, 'checkpoint worker failed; back to checkpoints inside commits');
    if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
  }
}

type WorkerMessage =
  | { kind: 'ready' }
  | { kind: 'checkpoint'; busy: number; log: number; checkpointed: number }
  | { kind: 'error'; message: string };
