/**
 * The cloud as deployed: the core (`createCloud`) plus its two extensions — statistics rollups
 * and the trace/stats routes (cloud/analytics), and the web pages with the routes they need
 * (cloud/web). `anxin cloud`, `anxin demo` and the browser suite all start this one assembly.
 */
import { parseKeysFile } from '../shared/keys.ts';
import { silentLogger } from '../shared/log.ts';
import { sqliteAnalyticsExtension } from './analytics/analytics-extension.ts';
import { type Cloud, type CloudOptions, createCloud } from './cloud-service.ts';
import { webRoutes } from './web/web-routes.ts';

export type FullCloudOptions = Omit<CloudOptions, 'ingestHook' | 'extraRoutes' | 'retentionPurges'>;

/** The extension options for `createCloud` (also for `startTestCloud` in suites that need the pages). */
export function fullCloudExtensions(options: Pick<CloudOptions, 'keysFile' | 'logger'>) {
  const analytics = sqliteAnalyticsExtension(options.logger ?? silentLogger);
  return {
    ingestHook: analytics.ingestHook,
    extraRoutes: [analytics.routes, webRoutes({ pepper: parseKeysFile(options.keysFile).pepper })],
    retentionPurges: [analytics.purge],
  } satisfies Pick<CloudOptions, 'ingestHook' | 'extraRoutes' | 'retentionPurges'>;
}

export function createFullCloud(options: FullCloudOptions): Cloud {
  return createCloud({ ...options, ...fullCloudExtensions(options) });
}
