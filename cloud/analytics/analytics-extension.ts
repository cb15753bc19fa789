/**
 * Tracing and statistics as one extension of the cloud (cloud/cloud-service.ts): the rollup writer
 * as the ingest hook, and the `/api/v1/trace` and `/api/v1/stats` routes, on the store's engine
 * (open-analytics.ts).
 */
import { type Logger, silentLogger } from '../../shared/log.ts';
import type { CloudRoutes } from '../cloud-service.ts';
import type { StoreEngine } from '../store/engine.ts';
import type { CloudStore, IngestHook } from '../store/store.ts';
import { analyticsRoutes } from './analytics-routes.ts';
import { openAnalyticsStore, openRollupWriter } from './open-analytics.ts';
import type { RollupWriter } from './rollup-writer.ts';

export interface AnalyticsExtension {
  /** For `CloudCoreOptions.ingestHook`: creates (and on old data fills) the rollup tables, then writes them at ingest. */
  ingestHook: (store: CloudStore) => IngestHook;
  /** For `CloudCoreOptions.extraRoutes`. */
  routes: CloudRoutes;
  /** For `CloudOptions.retentionPurges`: who crossed on which day is kept no longer than the passages. */
  purge: (store: CloudStore) => (beforeMs: number) => number;
}

export function sqliteAnalyticsExtension(logger: Logger = silentLogger): AnalyticsExtension {
  const writers = new WeakMap<StoreEngine, RollupWriter>();
  const writerFor = (store: CloudStore) => {
    let writer = writers.get(store.engine);
    if (!writer) {
      writer = openRollupWriter(store.engine, logger);
      writers.set(store.engine, writer);
    }
    return writer;
  };
  return {
    ingestHook: writerFor,
    purge: (store) => (beforeMs) => writerFor(store).purgePersonsBefore(beforeMs),
    routes: (app, ctx) => analyticsRoutes(openAnalyticsStore(ctx.store.engine))(app, ctx),
  };
}
