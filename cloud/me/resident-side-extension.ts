/**
 * The resident side as one extension of the cloud (docs/web.md, "The resident side"): its tables
 * on the store's connection, the manager's activation routes, `/api/v1/me/…` and the pages. Mount
 * with `createCloud({ extraRoutes: [residentSideRoutes({ pepper })] })` (cloud/full-cloud.ts does).
 */
import type { Hono } from 'hono';
import { API_BASE } from '../http/app.ts';
import type { RouteDeps } from '../http/app-deps.ts';
import type { AppEnv } from '../http/app-env.ts';
import type { CloudStore } from '../store/store.ts';
import { ActivationCodeHasher } from './activation-codes.ts';
import { activationManagerRoutes, activationResidentRoutes } from './activation-routes.ts';
import { residentSidePages } from './me-pages.ts';
import { meRoutes } from './me-routes.ts';
import { meReturnRoutes, residentPolicyRoutes, returnReviewRoutes, startReturnRelease } from './return-routes.ts';
import { visitorPassRoutes, visitorRoutes, visitorStatsRoutes } from './visitor-routes.ts';
import { openResidentSideBook } from './resident-side-store.ts';

export interface ResidentSideOptions {
  /** The deployment's pepper: activation codes and visitor links are stored as hashes keyed from it. */
  pepper: Buffer;
  /** How often registrations whose yellow period ended are released (default 60 s). */
  releaseIntervalMs?: number;
}

export type ResidentSideContext = RouteDeps & { store: CloudStore };

export function residentSideRoutes(
  options: ResidentSideOptions,
): (app: Hono<AppEnv>, deps: ResidentSideContext) => void {
  const hasher = new ActivationCodeHasher(options.pepper);
  return (app, deps) => {
    const side = openResidentSideBook(deps.store.engine);
    const ctx = { ...deps, side, hasher };
    app.route(`${API_BASE}/activations`, activationManagerRoutes(ctx));
    app.route(`${API_BASE}/me`, activationResidentRoutes(ctx));
    app.route(`${API_BASE}/me`, meRoutes(ctx) as unknown as Hono<AppEnv>);
    app.route(`${API_BASE}/me/visitors`, visitorRoutes(ctx) as unknown as Hono<AppEnv>);
    app.route(`${API_BASE}/me/returns`, meReturnRoutes(ctx) as unknown as Hono<AppEnv>);
    app.route(`${API_BASE}/visits`, visitorPassRoutes(ctx));
    app.route(`${API_BASE}/stats/visitors`, visitorStatsRoutes(ctx));
    app.route(`${API_BASE}/returns`, returnReviewRoutes(ctx));
    app.route(`${API_BASE}/compounds`, residentPolicyRoutes(ctx));
    app.route('/', residentSidePages());
    startReturnRelease({ ...ctx, logger: deps.logger }, options.releaseIntervalMs);
  };
}
