/**
 * Tracing and statistics as one extension of the cloud (cloud/http/extension.ts): the rollup
 * writer as the ingest hook, the `/api/v1/trace` and `/api/v1/stats` routes, and the purge of the
 * per-day person sets with the passages' horizon — all on the store's engine (open-analytics.ts).
 */
import { type Logger, silentLogger } from '../../shared/log.ts';
import type { CloudExtensionFactory } from '../http/extension.ts';
import { mountAnalyticsRoutes } from './analytics-routes.ts';
import { openAnalyticsStore, openRollupWriter } from './open-analytics.ts';

/** Opens (and on old data fills) the rollup tables when the cloud opens its extensions. */
export function analyticsExtension(logger: Logger = silentLogger): CloudExtensionFactory {
  return (ctx) => {
    const writer = openRollupWriter(ctx.store.engine, logger);
    const analytics = openAnalyticsStore(ctx.store.engine, logger);
    return {
      name: 'statistics and tracing',
      ingestHook: writer,
      // Who crossed on which day is kept no longer than the passages.
      purge: (beforeMs) => writer.purgePersonsBefore(beforeMs),
      mount: (app) => mountAnalyticsRoutes(app, ctx, analytics),
    };
  };
}
