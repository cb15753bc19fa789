/**
 * The one way a part of the cloud plugs into it (docs/architecture.md §1, cloud extensions): an
 * extension is opened with the cloud's context once the store is, and hands back what it adds —
 * its routes, a hook inside every ingest transaction, what it adds to a gate's snapshot, a purge
 * for the retention job, and what it does at start and stop. Statistics, alarms, revocations, the
 * web pages, device passes, the resident side, crisis supplies and the exit quota are all
 * extensions; the wiring (cloud/cloud-core.ts) knows only this type.
 *
 * An extension imports from `cloud/http/` only this file and the shared HTTP helpers (errors,
 * validation, auth, app-env, app-deps) — never the core routes (`cloud/http/routes/`), the app
 * builder or the wiring files (checked by bin/check-layers.mjs).
 */
import type { Hono } from 'hono';
import type { IngestHook } from '../store/ingest-hook.ts';
import type { StoredEvent } from '../store/stored-event.ts';
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { CloudStore, Compound } from '../store/store.ts';
import type { Publish } from '../sync/change-publisher.ts';
import type { RouteDeps } from './app-deps.ts';
import type { AppEnv } from './app-env.ts';

/** Where the API lives; an extension mounts its routes with full paths (`${API_BASE}/trace`). */
export const API_BASE = '/api/v1';

/** What an extension is opened with: the route deps (store, registry, auth, limits, …) and the broker. */
export interface ExtensionContext extends RouteDeps {
  store: CloudStore;
  /** Publishes to the broker (rejects with `MqttUnavailableError` while there is none). */
  publish: Publish;
}

export interface CloudExtension {
  /** For logs and errors. */
  readonly name: string;
  /** Mounts its routes on the root app, after the core API. */
  mount?(app: Hono<AppEnv>): void;
  /** Runs inside every ingest transaction, after the core's own writes (cloud/store/ingest-hook.ts). */
  readonly ingestHook?: IngestHook;
  /** After an ingest commit, with the events that were new; must not throw (work is its own). */
  afterStored?(events: readonly StoredEvent[]): void;
  /**
   * What a compound's gates need from it in their snapshot, sent after the store's records and
   * those of the extensions before it. `compound` is read once per snapshot by the caller
   * (cloud/cloud-core.ts), before any extension's records: its `rev` is the rev they are at least
   * as new as, and its policy and mode are current — an extension looks none of it up again.
   */
  snapshotRecords?(compound: Compound): Promise<readonly Change[]> | readonly Change[];
  /** Deletes what is older than the passages' horizon (the retention job); rows deleted. */
  purge?(beforeMs: number): Promise<number> | number;
  /** Once the cloud serves; `mqtt` says whether a broker is configured (then it is connected or retrying). */
  start?(link: { mqtt: boolean }): Promise<void> | void;
  /** Before the store closes: finish what is in flight, stop timers. */
  stop?(): Promise<void> | void;
}

/** An extension as handed to `createCloud` / `createCloudCore`: opened once the store is. */
export type CloudExtensionFactory = (ctx: ExtensionContext) => CloudExtension;
