/**
 * Tracing's and statistics' storage on the engine the cloud runs on (cloud/store/engine.ts): the
 * reads (`AnalyticsStore`) and the rollup writer, the ingest hook that keeps the statistics
 * counters inside the ingest transaction. SQLite only so far: the PostgreSQL store hands its
 * hooks no transaction yet, and its statistics tables are not written (docs/cloud.md, "Store").
 */
import type { Logger } from '../../shared/log.ts';
import { type StoreEngine, UnsupportedEngineError } from '../store/engine.ts';
import { type AnalyticsStore, SqliteAnalyticsStore } from './analytics-store.ts';
import { RollupWriter } from './rollup-writer.ts';

/** The reads of the trace and stats routes, their tables created (and on old data filled) if need be. */
export function openAnalyticsStore(engine: StoreEngine): AnalyticsStore {
  if (engine.kind !== 'sqlite') throw new UnsupportedEngineError('statistics', engine.kind);
  const analytics = new SqliteAnalyticsStore(engine.db);
  analytics.start();
  return analytics;
}

/** The rollup writer (an `IngestHook`), its tables created (and on old data filled) if need be. */
export function openRollupWriter(engine: StoreEngine, logger: Logger): RollupWriter {
  if (engine.kind !== 'sqlite') throw new UnsupportedEngineError('statistics rollups', engine.kind);
  const writer = new RollupWriter({ db: engine.db, logger });
  writer.start();
  return writer;
}
