/**
 * The lockdown exit quota as an extension of the cloud (cloud/http/extension.ts): its uses are
 * written inside the ingest transaction, relayed to the gates after the commit, carried in
 * snapshots, and listed for managers (exit-quota-routes.ts). Whatever a crash left unrelayed goes
 * out once the broker link is there.
 */
import type { CloudExtension } from '../http/extension.ts';
import type { RouteDeps } from '../http/app-deps.ts';
import type { ExitQuotaService } from './exit-quota-service.ts';
import { mountExitQuotaRoutes } from './exit-quota-routes.ts';

export function exitQuotaExtension(exitQuota: ExitQuotaService, deps: RouteDeps): CloudExtension {
  return {
    name: 'exit quota',
    ingestHook: exitQuota.hook,
    afterStored: (events) => exitQuota.afterStored(events),
    snapshotRecords: (compound) => exitQuota.snapshotRecords(compound),
    mount: (app) => mountExitQuotaRoutes(app, deps, exitQuota),
    start: async ({ mqtt }) => {
      if (mqtt) await exitQuota.relayPending();
    },
    stop: () => exitQuota.idle(),
  };
}
