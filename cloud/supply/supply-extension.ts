/**
 * Crisis supplies as an extension of the cloud (cloud/http/extension.ts): the rounds, claims and
 * applications a distribution point decides from go into its snapshot, and the rounds' routes are
 * mounted (supply-routes.ts). The points' claim messages reach the supply through the gate message
 * router (cloud/mqtt/gate-message-router.ts).
 */
import type { RouteDeps } from '../http/app-deps.ts';
import type { CloudExtension } from '../http/extension.ts';
import type { SupplyService } from './supply-service.ts';
import { mountSupplyRoutes } from './supply-routes.ts';

export function supplyExtension(supply: SupplyService, deps: RouteDeps): CloudExtension {
  return {
    name: 'crisis supplies',
    snapshotRecords: (compound) => supply.snapshotRecords(compound),
    mount: (app) => mountSupplyRoutes(app, deps, supply),
  };
}
