/**
 * The cloud as deployed: the core (`createCloud`) plus its extensions (cloud/http/extension.ts) —
 * statistics rollups and the trace/stats routes (cloud/analytics), the web pages with the routes
 * they need (cloud/web), the revocation of gates' device tokens (cloud/revocations), the resident
 * side (cloud/me) and device passes (cloud/device-passes). The exit quota and crisis supplies are
 * built into the core. `anxin cloud`, `anxin demo` and the browser suite all start this one assembly.
 */
import { parseKeysFile } from '../shared/keys.ts';
import { silentLogger } from '../shared/log.ts';
import { analyticsExtension } from './analytics/analytics-extension.ts';
import { type Cloud, type CloudOptions, createCloud } from './cloud-service.ts';
import { devicePassExtension } from './device-passes/device-pass-routes.ts';
import type { CloudExtensionFactory } from './http/extension.ts';
import { residentSideExtension } from './me/resident-side-extension.ts';
import { type RevocationSinks, revocationExtension } from './revocations/revocation-routes.ts';
import { webExtension } from './web/web-routes.ts';

export interface FullCloudOptions extends Omit<CloudOptions, 'extensions'> {
  /** Where revoked device tokens go: the broker's revocations file and/or an embedded broker. */
  revocations?: RevocationSinks;
}

/** The deployed extensions, in mounting order (also for `startTestCloud` in suites that need the pages). */
export function fullCloudExtensions(options: Pick<FullCloudOptions, 'keysFile' | 'logger' | 'revocations'>): {
  extensions: CloudExtensionFactory[];
} {
  const { pepper } = parseKeysFile(options.keysFile);
  return {
    extensions: [
      analyticsExtension(options.logger ?? silentLogger),
      webExtension({ pepper }),
      revocationExtension(options.revocations),
      residentSideExtension({ pepper }),
      devicePassExtension(),
    ],
  };
}

export function createFullCloud(options: FullCloudOptions): Cloud {
  const { revocations: _sinks, ...cloudOptions } = options;
  return createCloud({
    ...cloudOptions,
    ...(options.revocations?.accounts ? { brokerAccounts: options.revocations.accounts } : {}),
    ...fullCloudExtensions(options),
  });
}
