/**
 * Retention: deletes events (and alarms, status history, commands, refused seqs) older than the
 * horizon and audit entries older than the audit horizon, in bounded chunks, yielding between
 * chunks so ingest is never blocked for long, and compacts the per-compound change logs. Runs
 * hourly and once when the cloud starts; `runOnce()` is for tests and operators.
 */
import type { Logger } from '../../shared/log.ts';
import type { CloudStore } from './store.ts';

export const DEFAULT_RETENTION_DAYS = 28;
/** Audit entries are kept longer than passages: who revealed or changed what stays answerable for a year and more. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 400;
const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_PURGE_INTERVAL_MS = 60 * 60 * 1000;
export const DEFAULT_PURGE_CHUNK = 5000;
export const DEFAULT_CHANGE_LOG_KEEP_REVS = 50_000;

export interface RetentionOptions {
  store: Pick<CloudStore, 'purgeBefore' | 'purgeAuditBefore' | 'compactChangeLog'>;
  logger: Logger;
  /** How long passages are kept (default 28 days). */
  horizonMs?: number;
  /** How long audit entries are kept (default 400 days). */
  auditHorizonMs?: number;
  /** Rows deleted per table per transaction (default 5000). */
  chunk?: number;
  /** How often the job runs (default hourly). */
  intervalMs?: number;
  /** Change-log revisions kept per compound (default 50 000); older gates get a snapshot. */
  keepRevs?: number;
  now?: () => number;
  /** Extensions' own purges (e.g. the per-day person sets of the statistics), given the same horizon. */
  extraPurges?: readonly ((beforeMs: number) => number | Promise<number>)[];
}

export class RetentionJob {
  private readonly horizonMs: number;
  private readonly auditHorizonMs: number;
  private readonly chunk: number;
  private readonly intervalMs: number;
  private readonly keepRevs: number;
  private readonly now: () => number;
  private readonly logger: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(private readonly options: RetentionOptions) {
    this.horizonMs = options.horizonMs ?? DEFAULT_RETENTION_DAYS * DAY_MS;
    this.auditHorizonMs = options.auditHorizonMs ?? DEFAULT_AUDIT_RETENTION_DAYS * DAY_MS;
    this.chunk = options.chunk ?? DEFAULT_PURGE_CHUNK;
    this.intervalMs = options.intervalMs ?? DEFAULT_PURGE_INTERVAL_MS;
    this.keepRevs = options.keepRevs ?? DEFAULT_CHANGE_LOG_KEEP_REVS;
    this.now = options.now ?? Date.now;
    this.logger = options.logger.child({ component: 'cloud.retention' });
  }

  start(): void {
    this.timer = setInterval(() => {
      this.runOnce().catch((err: unknown) => this.logger.error({ err }, 'retention run failed'));
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One pass: purges until a chunk comes back short; returns the rows deleted. */
  runOnce(): Promise<number> {
    this.running ??= this.purge().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async purge(): Promise<number> {
    const before = this.now() - this.horizonMs;
    let total = 0;
    for (;;) {
      const deleted = await this.options.store.purgeBefore(before, this.chunk);
      total += deleted;
      if (deleted < this.chunk) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const purge of this.options.extraPurges ?? []) total += await purge(before);
    const auditBefore = this.now() - this.auditHorizonMs;
    let audit = 0;
    for (;;) {
      const deleted = await this.options.store.purgeAuditBefore(auditBefore, this.chunk);
      audit += deleted;
      if (deleted < this.chunk) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    total += audit;
    const compacted = await this.options.store.compactChangeLog(this.keepRevs);
    if (total > 0 || compacted > 0) {
      this.logger.info({ purged: total, audit, compacted, before, auditBefore }, 'retention pass');
    }
    return total;
  }
}
