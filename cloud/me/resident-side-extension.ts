/**
 * The resident side as one extension of the cloud (docs/web.md, "The resident side"; the type is
 * cloud/http/extension.ts): its tables on the store's engine, the manager's activation routes,
 * `/api/v1/me/…`, the pages, the release of returns whose yellow period ended and the reclaim of
 * visitor reservations a crash left pending. Open with
 * `createCloud({ extensions: [residentSideExtension({ pepper })] })` (cloud/full-cloud.ts does).
 */
import type { Hono } from 'hono';
import type { AppEnv } from '../http/app-env.ts';
import { API_BASE, type CloudExtensionFactory } from '../http/extension.ts';
import { ActivationCodeHasher } from './activation-codes.ts';
import { activationManagerRoutes, activationResidentRoutes } from './activation-routes.ts';
import { residentSidePages } from './me-pages.ts';
import { meRoutes } from './me-routes.ts';
import { meReturnRoutes, residentPolicyRoutes, returnReviewRoutes, startReturnRelease } from './return-routes.ts';
import { startInviteReclaim } from './visitor-reservations.ts';
import { visitorPassRoutes, visitorRoutes, visitorStatsRoutes } from './visitor-routes.ts';
import { openResidentSideStore } from './open-resident-side-store.ts';

export interface ResidentSideOptions {
  /** The deployment's pepper: activation codes and visitor links are stored as hashes keyed from it. */
  pepper: Buffer;
  /** How often registrations whose yellow period ended are released (default 60 s). */
  releaseIntervalMs?: number;
  /** How often visitor reservations left pending past their time are undone (default 60 s). */
  reclaimIntervalMs?: number;
}

export function residentSideExtension(options: ResidentSideOptions): CloudExtensionFactory {
  const hasher = new ActivationCodeHasher(options.pepper);
  return (deps) => {
    const side = openResidentSideStore(deps.store.engine);
    const ctx = { ...deps, side, hasher };
    const release = startReturnRelease({ ...ctx, logger: deps.logger }, options.releaseIntervalMs);
    const reclaim = startInviteReclaim({ ...ctx, logger: deps.logger }, options.reclaimIntervalMs);
    const mount = (app: Hono<AppEnv>) => {
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
    };
    const stop = () => {
      release.stop();
      reclaim.stop();
    };
    return { name: 'resident side', mount, stop };
  };
}
