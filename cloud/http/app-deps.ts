import type { KeyRing, SigningKey } from '../../shared/keys.ts';
import type { SessionService } from '../auth/session-service.ts';
import type { Logger } from '../../shared/log.ts';
import type { LiveHub } from '../live/live-hub.ts';
import type { CloudMetrics } from '../metrics/cloud-metrics.ts';
import type { RegistryService } from '../registry/registry-service.ts';
import type { CloudStore } from '../store/store.ts';
import type { Auth } from './auth-middleware.ts';
import type { RateLimiter } from './rate-limit.ts';

/** Everything the HTTP app needs; no ports, no MQTT connection (tests use `app.request()`). */
export interface AppDeps {
  store: CloudStore;
  registry: RegistryService;
  signingKey: SigningKey;
  ring: KeyRing;
  live: LiveHub;
  metrics: CloudMetrics;
  logger: Logger;
  now: () => number;
  /** Server-side sessions: every bearer token names one (cloud/auth/session-service.ts). */
  sessions: SessionService;
  /** Comment line interval on `/live` (default 15 s). */
  liveHeartbeatMs?: number;
  /** Bearer token that lets a non-loopback scraper read `/metrics` (default: loopback only). */
  metricsToken?: string;
  /** Extra facts for `/healthz` (MQTT connection, ingest queue). */
  health?: () => Record<string, unknown>;
}

/** What a route module receives. */
export interface RouteDeps extends AppDeps {
  auth: Auth;
  /** Per-user limits on search, reveal, traces and exports (cloud/http/rate-limit.ts). */
  limits: RateLimiter;
}
