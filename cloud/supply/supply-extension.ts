/**
 * Crisis supplies as an extension of the cloud (cloud/http/extension.ts): the rounds, claims and
 * applications a distribution point decides from go into its snapshot, and the rounds' routes are
 * mounted (supply-routes.ts). The points' claim messages reach the ledger through the gate message
 * router (cloud/mqtt/gate-message-router.ts).
 */
import type { RouteDeps } from '../http/app-deps.ts';
import type { CloudExtension } from '../http/extension.ts';
import type { SupplyLedger } from './supply-ledger.ts';
import { mountSupplyRoutes } from './supply-routes.ts';

export function supplyExtension(ledger: SupplyLedger, deps: RouteDeps): CloudExtension {
  return {
    name: 'crisis supplies',
    snapshot: (snapshot, compoundId) => ledger.withSupply(snapshot, compoundId),
    mount: (app) => mountSupplyRoutes(app, deps, ledger),
  };
}
