/**
 * The lockdown exit quota as an extension of the cloud (cloud/http/extension.ts): its uses are
 * written inside the ingest transaction, relayed to the gates after the commit, carried in
 * snapshots, and listed for managers (exit-quota-routes.ts). Whatever a crash left unrelayed goes
 * out once the broker link is there.
 */
import type { CloudExtension } from '../http/extension.ts';
import type { RouteDeps } from '../http/app-deps.ts';
import type { ExitQuotaLedger } from './exit-quota-ledger.ts';
import { mountExitQuotaRoutes } from './exit-quota-routes.ts';

export function exitQuotaExtension(ledger: ExitQuotaLedger, deps: RouteDeps): CloudExtension {
  return {
    name: 'exit quota',
    ingestHook: ledger.hook,
    afterStored: (events) => ledger.afterStored(events),
    snapshot: (snapshot, compoundId) => ledger.withRecentUses(snapshot, compoundId),
    mount: (app) => mountExitQuotaRoutes(app, deps, ledger),
    start: async ({ mqtt }) => {
      if (mqtt) await ledger.relayPending();
    },
    stop: () => ledger.idle(),
  };
}
