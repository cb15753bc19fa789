/**
 * Tracing's and statistics' storage on the engine the cloud runs on (cloud/store/engine.ts): the
 * reads (`AnalyticsStore`) and the rollup writer, the ingest hook that keeps the statistics
 * counters inside the ingest transaction (cloud/store/ingest-hook.ts). SQLite: analytics-store.ts
 * and rollup-writer.ts on the store's connection; PostgreSQL: pg-analytics-store.ts and
 * pg-rollup-writer.ts, exact across instances on one database (docs/cloud.md, "Store").
 */
import type { Logger } from '../../shared/log.ts';
import { silentLogger } from '../../shared/log.ts';
import type { StoreEngine } from '../store/engine.ts';
import type { IngestHook } from '../store/ingest-hook.ts';
import { type AnalyticsStore, SqliteAnalyticsStore } from './analytics-store.ts';
import { PgAnalyticsStore } from './pg-analytics-store.ts';
import { PgRollupWriter } from './pg-rollup-writer.ts';
import { RollupWriter } from './rollup-writer.ts';

/** The rollup writer as the cloud uses it, on either engine. */
export type RollupHook = IngestHook & {
  /** Retention (privacy): forgets who crossed on local days wholly before `beforeMs`; returns rows deleted. */
  purgePersonsBefore(beforeMs: number): number | Promise<number>;
  /** Recomputes every rollup from the stored events; returns the number of events read. */
  rebuild(): number | Promise<number>;
};

/**
 * The reads of the trace and stats routes. SQLite: the tables created (and on old data filled) now;
 * PostgreSQL: on first use (migrated once across instances, filled once).
 */
export function openAnalyticsStore(engine: StoreEngine, logger: Logger = silentLogger): AnalyticsStore {
  switch (engine.kind) {
    case 'sqlite': {
      const analytics = new SqliteAnalyticsStore(engine.db);
      analytics.start();
      return analytics;
    }
    case 'postgres':
      return new PgAnalyticsStore(engine.pool, logger);
  }
}

/** The rollup writer (an ingest hook of the engine), its tables made ready as for the reads. */
export function openRollupWriter(engine: StoreEngine, logger: Logger = silentLogger): RollupHook {
  switch (engine.kind) {
    case 'sqlite': {
      const writer = new RollupWriter({ db: engine.db, logger });
      writer.start();
      return writer;
    }
    case 'postgres':
      return new PgRollupWriter(engine.pool, logger);
  }
}
