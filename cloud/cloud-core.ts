/**
 * The cloud without its ports: store, ingest, registry, sync, live feed and the HTTP app, with
 * the extensions (cloud/http/extension.ts) opened on them. Tests drive its `app` with
 * `app.request()`; `createCloud` (cloud-service.ts) adds the HTTP server, the MQTT link and the
 * retention job.
 */
import { AnxinError } from '../shared/errors.ts';
import type { ParsedKeys, SigningKey } from '../shared/keys.ts';
import { type Logger, silentLogger } from '../shared/log.ts';
import { topics } from '../shared/topics.ts';
import { openSessionStore } from './auth/open-session-store.ts';
import { SessionService } from './auth/session-service.ts';
import { createApp, routeDepsOf } from './http/app.ts';
import type { AppEnv } from './http/app-env.ts';
import type { CloudExtension, CloudExtensionFactory, ExtensionContext } from './http/extension.ts';
import { EventAdmission } from './ingest/event-admission.ts';
import { EventIngest } from './ingest/event-ingest.ts';
import { GateDirectory } from './ingest/gate-directory.ts';
import { liveEntryPublisher } from './live/live-entries.ts';
import { LiveHub } from './live/live-hub.ts';
import { createLiveWire, type LiveWire, liveWireKey } from './live/live-wire.ts';
import { pgLiveEntriesHook } from './live/pg-live-entries.ts';
import { exitQuotaExtension } from './lockdown/exit-quota-extension.ts';
import { ExitQuotaService } from './lockdown/exit-quota-service.ts';
import { type CloudMetrics, createCloudMetrics } from './metrics/cloud-metrics.ts';
import { GateMessageRouter } from './mqtt/gate-message-router.ts';
import { IdentitySeal } from './registry/identity-seal.ts';
import { RegistryService } from './registry/registry-service.ts';
import type { BrokerAccounts } from './revocations/broker-accounts.ts';
import { DEFAULT_RETENTION_DAYS } from './store/retention-job.ts';
import { composeIngestHooks } from './store/ingest-hook.ts';
import type { Change } from '../shared/schemas/mqtt.ts';
import type { CloudStore } from './store/store.ts';
import { supplyExtension } from './supply/supply-extension.ts';
import { SupplyService } from './supply/supply-service.ts';
import type { Publish } from './sync/change-publisher.ts';
import { SyncResponder } from './sync/sync-responder.ts';
import { openGateDuties } from './tokens/gate-duties.ts';
import { GateTokenRenewal } from './tokens/gate-token-renewal.ts';
import type { Hono } from 'hono';

export interface CloudCoreOptions<S extends CloudStore = CloudStore> {
  store: S;
  keys: ParsedKeys;
  publish: Publish;
  logger?: Logger;
  now?: () => number;
  ingest?: { flushIntervalMs?: number; maxBatch?: number; maxQueued?: number };
  /**
   * What ingest admits from a gate (cloud/ingest/event-admission.ts): events older than `keepMs`
   * (default: the 28-day retention) or more than `futureToleranceMs` (default 5 min) ahead are
   * refused, as are events naming a person outside the gate's compound; `alarmEveryMs` (default 1 h)
   * spaces a gate's `events-refused` alarms.
   */
  admission?: { keepMs?: number; futureToleranceMs?: number; alarmEveryMs?: number };
  /** Opened in order once the core is built, after the built-in exit quota and crisis supplies. */
  extensions?: readonly CloudExtensionFactory[];
  liveHeartbeatMs?: number;
  /** A broker that keeps one account per gate (Mosquitto): a renewed token becomes the account's password. */
  brokerAccounts?: BrokerAccounts;
  health?: () => Record<string, unknown>;
  /** A session unused this long ends (default 30 min; cloud/auth/session-service.ts). */
  sessionIdleMs?: number;
  /** Lets a non-loopback scraper read `/metrics` with this bearer token. */
  metricsToken?: string;
}

export interface CloudCore<S extends CloudStore = CloudStore> {
  app: Hono<AppEnv>;
  store: S;
  registry: RegistryService;
  ingest: EventIngest;
  router: GateMessageRouter;
  sync: SyncResponder;
  live: LiveHub;
  metrics: CloudMetrics;
  gates: GateDirectory;
  sessions: SessionService;
  /** Lockdown exit quota across the compound: uses relayed to every gate, over-uses found. */
  exitQuota: ExitQuotaService;
  /** Crisis supplies: rounds, stock, the distribution points' claims (docs/supplies.md). */
  supply: SupplyService;
  /** Every extension opened, the built-in ones first. */
  extensions: readonly CloudExtension[];
  /** This instance's origin and seal on the `/live` notifications (PostgreSQL; cloud/live/live-wire.ts). */
  liveWire: LiveWire;
}

export class CloudConfigError extends AnxinError {
  constructor(message: string) {
    super('invalid-config', message);
  }
}

/** The services every route and extension shares, before ingest and the app are built. */
function createServices<S extends CloudStore>(options: CloudCoreOptions<S>, signingKey: SigningKey) {
  const { store, keys, publish } = options;
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  const metrics = createCloudMetrics();
  const live = new LiveHub();
  const gates = new GateDirectory(store);
  const sessions = new SessionService({
    store: openSessionStore(store.engine),
    signingKey,
    now,
    ...(options.sessionIdleMs !== undefined ? { idleMs: options.sessionIdleMs } : {}),
  });
  const registry = new RegistryService({
    store,
    signingKey,
    pepper: keys.pepper,
    seal: new IdentitySeal(keys.pepper),
    gates,
    publish,
    metrics,
    logger,
    now,
  });
  const routeDeps = routeDepsOf({
    store,
    registry,
    signingKey,
    ring: keys.ring,
    live,
    metrics,
    logger,
    now,
    sessions,
    ...(options.metricsToken !== undefined ? { metricsToken: options.metricsToken } : {}),
    ...(options.liveHeartbeatMs !== undefined ? { liveHeartbeatMs: options.liveHeartbeatMs } : {}),
    // Bound late: ingest is built once the extensions are open.
    health: () => ({ ingestQueued: ingest?.queued ?? 0, ...options.health?.() }),
  });
  let ingest: EventIngest | undefined;
  const ctx: ExtensionContext = { ...routeDeps, store, publish };
  return {
    ctx,
    store,
    registry,
    live,
    metrics,
    gates,
    sessions,
    logger,
    now,
    setIngest: (i: EventIngest) => (ingest = i),
  };
}

/** The built-in extensions (exit quota, crisis supplies), then the given ones, each opened on `ctx`. */
function openExtensions(ctx: ExtensionContext, factories: readonly CloudExtensionFactory[]) {
  const publishChanges = ctx.registry.publishChanges.bind(ctx.registry);
  const parts = { store: ctx.store, live: ctx.live, logger: ctx.logger, now: ctx.now, publishChanges };
  const exitQuota = new ExitQuotaService(parts);
  const supply = new SupplyService({ ...parts, publish: ctx.publish });
  const extensions = [
    exitQuotaExtension(exitQuota, ctx),
    supplyExtension(supply, ctx),
    ...factories.map((open) => open(ctx)),
  ];
  return { exitQuota, supply, extensions };
}

/** Ingest's admission: the retention horizon, the clock's tolerance, persons of the gate's compound. */
function createAdmission(options: CloudCoreOptions, ctx: ExtensionContext): EventAdmission {
  const { store, metrics, live } = ctx;
  const limits = options.admission ?? {};
  return new EventAdmission({
    compoundsOfPersons: (personIds) => store.compoundsOfPersons(personIds),
    personIdsOfCompound: (compoundId, limit) => store.personIdsOfCompound(compoundId, limit),
    keepMs: limits.keepMs ?? DEFAULT_RETENTION_DAYS * 24 * 60 * 60 * 1000,
    ...(limits.futureToleranceMs !== undefined ? { futureToleranceMs: limits.futureToleranceMs } : {}),
    ...(limits.alarmEveryMs !== undefined ? { alarmEveryMs: limits.alarmEveryMs } : {}),
    raiseAlarm: async (alarm) => {
      await store.recordAlarm(alarm);
      metrics.alarms.inc({ kind: alarm.kind });
      const { receivedAt: _receivedAt, ...shown } = alarm;
      live.publish({ type: 'alarm', data: shown });
    },
    metrics,
    logger: ctx.logger,
    now: ctx.now,
  });
}

/**
 * What runs inside the ingest transaction and after it. On PostgreSQL the transaction itself
 * notifies the other instances of its entries (cloud/live/pg-live-entries.ts): stored ⇔ notified;
 * after the commit, this instance's own listeners get them. Inside the transaction the live
 * entries go first (they take no locks), then the extensions' hooks in order: what they write is
 * stored with its passages.
 */
function ingestHooks(ctx: ExtensionContext, extensions: readonly CloudExtension[], signing: SigningKey) {
  const { store, live, logger } = ctx;
  const liveWire = createLiveWire(liveWireKey(signing));
  const notifiesEntries = store.engine.kind === 'postgres';
  const liveEntries = liveEntryPublisher(store, live, logger, notifiesEntries ? 'here' : 'everywhere');
  const hook = composeIngestHooks([
    notifiesEntries ? pgLiveEntriesHook({ wire: liveWire, logger }) : undefined,
    ...extensions.map((e) => e.ingestHook),
  ]);
  return { liveWire, liveEntries, hook };
}

export function createCloudCore<S extends CloudStore>(options: CloudCoreOptions<S>): CloudCore<S> {
  const { keys, publish } = options;
  if (!keys.signing) throw new CloudConfigError('keysFile: the cloud needs the private half of the current key');
  const services = createServices(options, keys.signing);
  const { ctx, store, registry, live, metrics, gates, logger, now } = services;
  const { exitQuota, supply, extensions } = openExtensions(ctx, options.extensions ?? []);
  const { liveWire, liveEntries, hook } = ingestHooks(ctx, extensions, keys.signing);

  const ingest = new EventIngest({
    store,
    admission: createAdmission(options, ctx),
    compoundOf: (gateId) => gates.compoundOf(gateId),
    // `ts`: the cloud's clock, from which gates estimate their skew (edge-agent/gate-clock.ts).
    publishAck: (gateId, upTo, readAt) => publish(topics.gateAck(gateId), { upTo, ts: readAt ?? now() }),
    onStored: (events) => {
      for (const extension of extensions) extension.afterStored?.(events);
      liveEntries(events);
    },
    ...(hook ? { hook } : {}),
    metrics,
    logger,
    now,
    ...options.ingest,
  });
  services.setIngest(ingest);
  const sync = new SyncResponder({
    store: {
      readChanges: (compoundId, fromRev, limit) => store.readChanges(compoundId, fromRev, limit),
      readSnapshot: (compoundId, sink) => store.readSnapshot(compoundId, sink),
    },
    // A gate that takes a snapshot also gets what the extensions keep for it (quota uses, supply
    // rounds, device certificates), after the store's records. The compound is read once, first:
    // its rev is what the responder checks the streamed snapshot against (sent only if its rev is
    // still this one), and each extension is handed it instead of looking it up again.
    extraSnapshotRecords: async (compoundId) => {
      const compound = await store.getCompound(compoundId);
      if (!compound) return { rev: 0, records: [] };
      const records: Change[] = [];
      for (const extension of extensions) {
        if (!extension.snapshotRecords) continue;
        for (const record of await extension.snapshotRecords(compound)) records.push(record);
      }
      return { rev: compound.rev, records };
    },
    publish,
    metrics,
    logger,
  });
  const tokenRenewal = new GateTokenRenewal({
    store,
    signingKey: keys.signing,
    publish,
    live,
    logger,
    now,
    // Every instance sees every status: a renewal or an alarm is claimed in the database first.
    duties: openGateDuties(store.engine),
    ...(options.brokerAccounts ? { accounts: options.brokerAccounts } : {}),
  });
  const router = new GateMessageRouter({
    ingest,
    store,
    compoundOf: async (gateId) => gates.compoundOf(gateId),
    sync,
    live,
    metrics,
    logger,
    now,
    onStatus: (gateId, compoundId, status) => tokenRenewal.onStatus(gateId, compoundId, status),
    onCommandResult: (gateId, cmdId, ok, kind) => tokenRenewal.onCommandResult(gateId, cmdId, ok, kind),
    supply,
  });
  const app = createApp(ctx, extensions);
  const { sessions } = services;
  const parts = { app, store, registry, ingest, router, sync, live, metrics, gates, sessions, exitQuota, supply };
  return { ...parts, extensions, liveWire };
}
