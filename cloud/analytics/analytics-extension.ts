/**
 * Tracing and statistics as one extension of the cloud (cloud/cloud-service.ts): the rollup writer
 * as the ingest hook, and the `/api/v1/trace` and `/api/v1/stats` routes on the same SQLite store.
 */
import { type Logger, silentLogger } from '../../shared/log.ts';
import type { CloudRoutes } from '../cloud-service.ts';
import type { IngestHook } from '../store/store.ts';
import type { SqliteCloudStore } from '../store/sqlite-store.ts';
import { analyticsRoutes } from './analytics-routes.ts';
import { SqliteAnalyticsStore } from './analytics-store.ts';
import { RollupWriter } from './rollup-writer.ts';

export interface AnalyticsExtension {
  /** For `CloudCoreOptions.ingestHook`: creates (and on old data fills) the rollup tables, then writes them at ingest. */
  ingestHook: (store: SqliteCloudStore) => IngestHook;
  /** For `CloudCoreOptions.extraRoutes`. */
  routes: CloudRoutes;
  /** For `CloudOptions.retentionPurges`: who crossed on which day is kept no longer than the passages. */
  purge: (store: SqliteCloudStore) => (beforeMs: number) => number;
}

export function sqliteAnalyticsExtension(logger: Logger = silentLogger): AnalyticsExtension {
  const writers = new WeakMap<SqliteCloudStore, RollupWriter>();
  const writerFor = (store: SqliteCloudStore) => {
    let writer = writers.get(store);
    if (!writer) {
      writer = new RollupWriter({ db: store.db, logger });
      writer.start();
      writers.set(store, writer);
    }
    return writer;
  };
  return {
    ingestHook: writerFor,
    purge: (store) => (beforeMs) => writerFor(store).purgePersonsBefore(beforeMs),
    routes: (app, ctx) => {
      const analytics = new SqliteAnalyticsStore(ctx.store.db);
      analytics.start();
      analyticsRoutes(analytics)(app, ctx);
    },
  };
}
