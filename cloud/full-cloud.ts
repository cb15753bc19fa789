/**
 * The cloud as deployed: the core (`createCloud`) plus its extensions — statistics rollups and the
 * trace/stats routes (cloud/analytics), the web pages with the routes they need (cloud/web), and
 * the revocation of gates' device tokens (cloud/revocations), the resident side (cloud/me) and device passes (cloud/device-passes). `anxin cloud`, `anxin demo` and the
 * browser suite all start this one assembly.
 */
import { parseKeysFile } from '../shared/keys.ts';
import { silentLogger } from '../shared/log.ts';
import { sqliteAnalyticsExtension } from './analytics/analytics-extension.ts';
import { type Cloud, type CloudOptions, createCloud } from './cloud-service.ts';
import { devicePassRoutes } from './device-passes/device-pass-routes.ts';
import { residentSideRoutes } from './me/resident-side-extension.ts';
import { type RevocationSinks, revocationRoutes } from './revocations/revocation-routes.ts';
import { webRoutes } from './web/web-routes.ts';

export interface FullCloudOptions extends Omit<CloudOptions, 'ingestHook' | 'extraRoutes' | 'retentionPurges'> {
  /** Where revoked device tokens go: the broker's revocations file and/or an embedded broker. */
  revocations?: RevocationSinks;
}

/** The extension options for `createCloud` (also for `startTestCloud` in suites that need the pages). */
export function fullCloudExtensions(options: Pick<FullCloudOptions, 'keysFile' | 'logger' | 'revocations'>) {
  const analytics = sqliteAnalyticsExtension(options.logger ?? silentLogger);
  return {
    ingestHook: analytics.ingestHook,
    extraRoutes: [
      analytics.routes,
      webRoutes({ pepper: parseKeysFile(options.keysFile).pepper }),
      revocationRoutes(options.revocations),
      residentSideRoutes({ pepper: parseKeysFile(options.keysFile).pepper }),
      devicePassRoutes(),
    ],
    retentionPurges: [analytics.purge],
  } satisfies Pick<CloudOptions, 'ingestHook' | 'extraRoutes' | 'retentionPurges'>;
}

export function createFullCloud(options: FullCloudOptions): Cloud {
  const { revocations: _sinks, ...cloudOptions } = options;
  return createCloud({
    ...cloudOptions,
    ...(options.revocations?.accounts ? { brokerAccounts: options.revocations.accounts } : {}),
    ...fullCloudExtensions(options),
  });
}
