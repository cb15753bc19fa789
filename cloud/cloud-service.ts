/**
 * The cloud process: store, ingest, registry, sync, live feed, HTTP API and the MQTT connection,
 * wired together. `createCloudCore` builds everything but the ports (tests drive its `app` with
 * `app.request()`); `createCloud` adds the HTTP server, the MQTT client and the retention job.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { AnxinError } from '../shared/errors.ts';
import type { BrokerAccounts } from './revocations/broker-accounts.ts';
import { GateTokenRenewal } from './tokens/gate-token-renewal.ts';
import { type KeysFile, type ParsedKeys, parseKeysFile } from '../shared/keys.ts';
import { type Logger, silentLogger } from '../shared/log.ts';
import { privateDir, privateFiles, sqliteFiles } from '../shared/private-files.ts';
import { topics } from '../shared/topics.ts';
import { signToken } from '../shared/token.ts';
import { openSessionStore } from './auth/open-session-store.ts';
import { SessionBook } from './auth/session-book.ts';
import { createApp } from './http/app.ts';
import type { RouteDeps } from './http/app-deps.ts';
import type { AppEnv } from './http/app-env.ts';
import { EventAdmission } from './ingest/event-admission.ts';
import { EventIngest } from './ingest/event-ingest.ts';
import { GateDirectory } from './ingest/gate-directory.ts';
import { composeIngestHooks, type IngestHook } from './store/ingest-hook.ts';
import { LiveHub } from './live/live-hub.ts';
import { type CloudMetrics, createCloudMetrics } from './metrics/cloud-metrics.ts';
import { CloudMqttClient, MqttUnavailableError, SHARE_GROUP_PATTERN } from './mqtt/cloud-mqtt-client.ts';
import { ExitQuotaLedger } from './lockdown/exit-quota-ledger.ts';
import { mountExitQuotaRoutes } from './lockdown/exit-quota-routes.ts';
import { GateMessageRouter } from './mqtt/gate-message-router.ts';
import { SupplyLedger } from './supply/supply-ledger.ts';
import { mountSupplyRoutes } from './supply/supply-routes.ts';
import { IdentitySeal } from './registry/identity-seal.ts';
import { RegistryService } from './registry/registry-service.ts';
import { DEFAULT_RETENTION_DAYS, RetentionJob } from './store/retention-job.ts';
import { SqliteCloudStore } from './store/sqlite-store.ts';
import type { CloudStore, StoredEvent } from './store/store.ts';
import type { Publish } from './sync/change-publisher.ts';
import { SyncResponder } from './sync/sync-responder.ts';

/** The cloud's own MQTT identity (docs/contract.md, broker authentication). */
export const CLOUD_MQTT_CLIENT_ID = 'cloud';
const CLOUD_TOKEN_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** What extensions (statistics, tracing, web pages) receive: the route deps with the SQLite store. */
export interface CloudExtensionContext extends RouteDeps {
  store: SqliteCloudStore;
}
export type CloudRoutes = (app: Hono<AppEnv>, ctx: CloudExtensionContext) => void;

export interface CloudCoreOptions {
  store: SqliteCloudStore;
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
  /** Run inside every ingest transaction (statistics rollups); built from the store when a function. */
  ingestHook?: IngestHook | ((store: SqliteCloudStore) => IngestHook);
  extraRoutes?: readonly CloudRoutes[];
  liveHeartbeatMs?: number;
  /** A broker that keeps one account per gate (Mosquitto): a renewed token becomes the account's password. */
  brokerAccounts?: BrokerAccounts;
  health?: () => Record<string, unknown>;
  /** A session unused this long ends (default 30 min; cloud/auth/session-book.ts). */
  sessionIdleMs?: number;
  /** Lets a non-loopback scraper read `/metrics` with this bearer token. */
  metricsToken?: string;
}

export interface CloudCore {
  app: Hono<AppEnv>;
  store: SqliteCloudStore;
  registry: RegistryService;
  ingest: EventIngest;
  router: GateMessageRouter;
  sync: SyncResponder;
  live: LiveHub;
  metrics: CloudMetrics;
  gates: GateDirectory;
  sessions: SessionBook;
  /** Lockdown exit quota across the compound: uses relayed to every gate, over-uses found. */
  exitQuota: ExitQuotaLedger;
  /** Crisis supplies: rounds, stock, the distribution points' claims (docs/supplies.md). */
  supply: SupplyLedger;
}

export class CloudConfigError extends AnxinError {
  constructor(message: string) {
    super('invalid-config', message);
  }
}

export function createCloudCore(options: CloudCoreOptions): CloudCore {
  const { store, keys, publish } = options;
  if (!keys.signing) throw new CloudConfigError('keysFile: the cloud needs the private half of the current key');
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  const metrics = createCloudMetrics();
  const live = new LiveHub();
  const gates = new GateDirectory(store);
  const sessions = new SessionBook({
    store: openSessionStore(store.engine),
    signingKey: keys.signing,
    now,
    ...(options.sessionIdleMs !== undefined ? { idleMs: options.sessionIdleMs } : {}),
  });
  const extraHook = typeof options.ingestHook === 'function' ? options.ingestHook(store) : options.ingestHook;
  const exitQuota = new ExitQuotaLedger({
    store,
    // Bound late: the registry is built below.
    publishChanges: (batches) => registry.publishChanges(batches),
    live,
    logger,
    now,
  });
  const supply = new SupplyLedger({
    store,
    publish,
    publishChanges: (batches) => registry.publishChanges(batches),
    live,
    logger,
    now,
  }).start();
  // Both run inside the ingest transaction; the quota uses are stored with their passages.
  const hook = composeIngestHooks([extraHook, exitQuota.hook]);

  const publishEntries = async (events: readonly StoredEvent[]) => {
    const people = events.flatMap((e) => (e.personId ? [e.personId] : []));
    const names = await store.maskedNames(people);
    // Visitors' passages are marked for the guards (docs/web.md, "The resident side").
    const visitors = await store.visitorsAmong(people);
    for (const e of events) {
      live.publish({
        type: 'entry',
        data: {
          gateId: e.gateId,
          compoundId: e.compoundId,
          seq: e.seq,
          ts: e.ts,
          direction: e.direction,
          method: e.method,
          result: e.result,
          reason: e.reason,
          personId: e.personId ?? null,
          maskedName: e.personId ? (names.get(e.personId) ?? null) : null,
          ...(e.personId && visitors.has(e.personId) ? { visitor: true } : {}),
          health: e.health,
          mode: e.mode,
          passed: e.passed,
        },
      });
    }
  };

  const admission = new EventAdmission({
    compoundsOfPersons: async (personIds) => {
      const found = new Map<string, string>();
      for (const personId of personIds) {
        const resident = await store.getResident(personId);
        if (resident) found.set(personId, resident.compoundId);
      }
      return found;
    },
    keepMs: options.admission?.keepMs ?? DEFAULT_RETENTION_DAYS * 24 * 60 * 60 * 1000,
    ...(options.admission?.futureToleranceMs !== undefined
      ? { futureToleranceMs: options.admission.futureToleranceMs }
      : {}),
    ...(options.admission?.alarmEveryMs !== undefined ? { alarmEveryMs: options.admission.alarmEveryMs } : {}),
    raiseAlarm: async (alarm) => {
      await store.recordAlarm(alarm);
      metrics.alarms.inc({ kind: alarm.kind });
      const { receivedAt: _receivedAt, ...shown } = alarm;
      live.publish({ type: 'alarm', data: shown });
    },
    metrics,
    logger,
    now,
  });

  const ingest = new EventIngest({
    store,
    admission,
    compoundOf: (gateId) => gates.compoundOf(gateId),
    // `ts`: the cloud's clock, from which gates estimate their skew (edge-agent/gate-clock.ts).
    publishAck: (gateId, upTo) => publish(topics.gateAck(gateId), { upTo, ts: now() }),
    onStored: (events) => {
      exitQuota.afterStored(events);
      if (!live.hasAudience) return;
      publishEntries(events).catch((err: unknown) => logger.warn({ err }, 'live entries failed'));
    },
    ...(hook ? { hook } : {}),
    metrics,
    logger,
    now,
    ...options.ingest,
  });
  const registry = new RegistryService({
    store,
    signingKey: keys.signing,
    pepper: keys.pepper,
    seal: new IdentitySeal(keys.pepper),
    gates,
    publish,
    metrics,
    logger,
    now,
  });
  const sync = new SyncResponder({
    store: {
      readChanges: (compoundId, fromRev, limit) => store.readChanges(compoundId, fromRev, limit),
      // A gate that takes a snapshot must also count the other gates' recent quota uses.
      // …and the supply rounds, claims and applications a distribution point decides from.
      snapshot: async (compoundId) =>
        supply.withSupply(await exitQuota.withRecentUses(await store.snapshot(compoundId), compoundId), compoundId),
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
    ...(options.brokerAccounts ? { accounts: options.brokerAccounts } : {}),
  });
  const router = new GateMessageRouter({
    ingest,
    store,
    compoundOf: (gateId) => gates.compoundOf(gateId),
    sync,
    live,
    metrics,
    logger,
    now,
    onStatus: (gateId, compoundId, status) => tokenRenewal.onStatus(gateId, compoundId, status),
    onCommandResult: (gateId, cmdId, ok) => tokenRenewal.onCommandResult(gateId, cmdId, ok),
    supply,
  });
  const app = createApp(
    {
      store,
      registry,
      signingKey: keys.signing,
      ring: keys.ring,
      live,
      metrics,
      logger,
      now,
      sessions,
      ...(options.metricsToken !== undefined ? { metricsToken: options.metricsToken } : {}),
      ...(options.liveHeartbeatMs !== undefined ? { liveHeartbeatMs: options.liveHeartbeatMs } : {}),
      health: () => ({ ingestQueued: ingest.queued, ...options.health?.() }),
    },
    [
      (app, deps) => mountExitQuotaRoutes(app, deps, exitQuota),
      (app, deps) => mountSupplyRoutes(app, deps, supply),
      ...(options.extraRoutes ?? []).map(
        (mount) => (app: Hono<AppEnv>, deps: RouteDeps) => mount(app, { ...deps, store }),
      ),
    ],
  );
  return { app, store, registry, ingest, router, sync, live, metrics, gates, sessions, exitQuota, supply };
}

export interface CloudOptions {
  /** SQLite file (created with its directory's permission), or `:memory:`. */
  dbPath: string;
  /** The broker; without it the cloud serves HTTP only (changes and commands fail with 503). */
  mqttUrl?: string;
  /** The deployment's keys file (with the current private key): the cloud signs tokens and passes. */
  keysFile: KeysFile;
  /** HTTP port (0: a free one). Default 8080. */
  port?: number;
  /** HTTP bind address. Default 127.0.0.1. */
  host?: string;
  /** PEM certificate (chain) and key: serve HTTPS instead of HTTP (docs/install.md, "HTTPS"). */
  tls?: { cert: Buffer; key: Buffer };
  logger?: Logger;
  /** How long passages are kept (default 28 days). */
  retentionDays?: number;
  /** How long audit entries are kept (default 400 days). */
  auditRetentionDays?: number;
  purgeIntervalMs?: number;
  /** Change-log revisions kept per compound; older gates get a snapshot. */
  changeLogKeepRevs?: number;
  ingest?: CloudCoreOptions['ingest'];
  /** Ingest's admission limits; `keepMs` defaults to the retention (`retentionDays`). */
  admission?: CloudCoreOptions['admission'];
  ingestHook?: CloudCoreOptions['ingestHook'];
  extraRoutes?: readonly CloudRoutes[];
  /** Extensions' purges, run by the retention job with the same horizon as the passages. */
  retentionPurges?: readonly ((store: SqliteCloudStore) => (beforeMs: number) => number)[];
  liveHeartbeatMs?: number;
  mqttClientId?: string;
  /** A session unused this long ends (default 30 min). */
  sessionIdleMs?: number;
  /** Lets a non-loopback scraper read `/metrics` with this bearer token (default: loopback only). */
  metricsToken?: string;
  /**
   * A fixed MQTT password. External brokers (Mosquitto, EMQX) check a password file generated once
   * (`anxin broker mosquitto-config`), so the cloud must present that token; by default it signs a
   * fresh `cloud` token on every (re)connect, which only the embedded broker can verify.
   */
  mqttToken?: string;
  /**
   * A file holding that password, read again before every connect attempt: a token rotated into
   * the file is presented at the next attempt, without a restart. Wins over `mqttToken`.
   */
  mqttTokenFile?: string;
  /** First wait after a lost or refused broker connection (doubling up to 30 s; default 1 s). */
  mqttReconnectMs?: number;
  /** How long `start()` waits for the broker before serving without it (default 10 s). */
  mqttConnectWaitMs?: number;
  /** PEM CA bundle (contents) that signed the broker's TLS certificate, for `mqtts://`/`wss://` with a private CA. */
  mqttCa?: string | Buffer;
  /**
   * Shared-subscription group (`$share/<group>/…`): cloud instances in one group split the gates'
   * messages on brokers that support it (docs/deploy.md "Scaling out").
   */
  mqttSharedGroup?: string;
  now?: () => number;
  /** A broker that keeps one account per gate (Mosquitto): a renewed token becomes the account's password. */
  brokerAccounts?: BrokerAccounts;
}

export interface Cloud {
  start(): Promise<{ httpPort: number }>;
  stop(): Promise<void>;
  /** Swaps the HTTPS certificate and key for new connections (SIGHUP after a renewal); open ones keep theirs. */
  reloadTls(tls: { cert: Buffer; key: Buffer }): void;
  /** Available after `start()`. */
  readonly core: CloudCore;
  /** The retention pass `start()` began (rows deleted); undefined before `start()`. */
  readonly startupRetention: Promise<number> | undefined;
}

/**
 * At start, every registered gate hears how far this cloud has stored its passages. A gate that
 * was acknowledged further — by this cloud before it was restored from a backup — sends the rest
 * again from the acknowledged events it keeps (edge-agent/uplink.ts), without waiting for its
 * next passage. For every other gate it is a duplicate ack, ignored.
 */
async function announceAcks(store: CloudStore, send: Publish, clock: () => number, log: Logger): Promise<void> {
  const gates = await store.listGates();
  for (const gate of gates) {
    const upTo = await store.ackedUpTo(gate.id);
    await send(topics.gateAck(gate.id), { upTo, ts: clock() }).catch((err: unknown) =>
      log.warn({ err, gateId: gate.id }, 'could not announce the ack mark'),
    );
  }
}

/**
 * The database holds personal data: its folder is 0700 before the file exists (no moment when another
 * user can open it), and the file and its WAL/SHM companions are 0600, whatever the umask that
 * created them (docs/security.md, "Files and secrets").
 */
function openPrivateStore(dbPath: string): SqliteCloudStore {
  if (dbPath === ':memory:') return new SqliteCloudStore({ path: dbPath });
  privateDir(dirname(dbPath));
  const store = new SqliteCloudStore({ path: dbPath });
  privateFiles(sqliteFiles(dbPath));
  return store;
}

export function createCloud(options: CloudOptions): Cloud {
  const logger = (options.logger ?? silentLogger).child({ component: 'cloud' });
  const keys = parseKeysFile(options.keysFile);
  if (!keys.signing) throw new CloudConfigError('keysFile: the cloud needs the private half of the current key');
  if (options.mqttSharedGroup !== undefined && !SHARE_GROUP_PATTERN.test(options.mqttSharedGroup)) {
    throw new CloudConfigError(`mqttSharedGroup: expected 1-64 of a-z, 0-9 and -`);
  }
  const signing = keys.signing;
  const now = options.now ?? Date.now;
  let core: CloudCore | undefined;
  let server: Server | undefined;
  let mqttClient: CloudMqttClient | undefined;
  let retention: RetentionJob | undefined;
  let retentionAtStart: Promise<number> | undefined;

  const publish: Publish = (topic, payload) =>
    mqttClient ? mqttClient.publish(topic, payload) : Promise.reject(new MqttUnavailableError('no broker configured'));

  return {
    get core(): CloudCore {
      if (!core) throw new Error('the cloud is not started');
      return core;
    },

    get startupRetention() {
      return retentionAtStart;
    },

    async start() {
      const store = openPrivateStore(options.dbPath);
      const clientId = options.mqttClientId ?? CLOUD_MQTT_CLIENT_ID;
      const horizonMs = (options.retentionDays ?? DEFAULT_RETENTION_DAYS) * 24 * 60 * 60 * 1000;
      core = createCloudCore({
        store,
        keys,
        publish,
        logger: options.logger ?? silentLogger,
        now,
        ...(options.ingest ? { ingest: options.ingest } : {}),
        admission: { keepMs: horizonMs, ...options.admission },
        ...(options.ingestHook ? { ingestHook: options.ingestHook } : {}),
        ...(options.extraRoutes ? { extraRoutes: options.extraRoutes } : {}),
        ...(options.liveHeartbeatMs !== undefined ? { liveHeartbeatMs: options.liveHeartbeatMs } : {}),
        ...(options.sessionIdleMs !== undefined ? { sessionIdleMs: options.sessionIdleMs } : {}),
        ...(options.brokerAccounts ? { brokerAccounts: options.brokerAccounts } : {}),
        // `degraded` while a configured broker link is down (refused or unreachable): the cloud still
        // serves HTTP, but nothing reaches the gates and no passage comes in.
        health: () => {
          if (!options.mqttUrl) return { mqtt: 'none' };
          const connected = mqttClient?.connected === true;
          const failure = mqttClient?.lastFailure;
          return {
            ...(connected ? {} : { status: 'degraded' }),
            mqtt: connected ? 'connected' : 'disconnected',
            mqttLink: mqttClient?.linkState ?? 'connecting',
            ...(!connected && failure?.error ? { mqttLastError: failure.error } : {}),
            ...(!connected ? { mqttFailedAttempts: failure?.attempts ?? 0 } : {}),
          };
        },
      });
      const started = core;
      retention = new RetentionJob({
        store,
        logger: options.logger ?? silentLogger,
        horizonMs,
        ...(options.auditRetentionDays !== undefined
          ? { auditHorizonMs: options.auditRetentionDays * 24 * 60 * 60 * 1000 }
          : {}),
        ...(options.purgeIntervalMs !== undefined ? { intervalMs: options.purgeIntervalMs } : {}),
        ...(options.changeLogKeepRevs !== undefined ? { keepRevs: options.changeLogKeepRevs } : {}),
        extraPurges: (options.retentionPurges ?? []).map((purge) => purge(store)),
        now,
      });
      retention.start();
      // Also now, not only an hour from now: a cloud restarted daily would otherwise never purge.
      const firstPurge = retention.runOnce().catch((err: unknown) => {
        logger.error({ err }, 'retention at start-up failed');
        return 0;
      });
      retentionAtStart = firstPurge;

      const httpServer = serve({
        fetch: started.app.fetch,
        port: options.port ?? 8080,
        hostname: options.host ?? '127.0.0.1',
        ...(options.tls
          ? { createServer: createHttpsServer, serverOptions: { ...options.tls, minVersion: 'TLSv1.2' } }
          : {}),
      }) as Server;
      server = httpServer;
      await new Promise<void>((resolve, reject) => {
        if (httpServer.listening) resolve();
        httpServer.once('listening', () => resolve());
        httpServer.once('error', reject);
      });
      const httpPort = (httpServer.address() as AddressInfo).port;

      if (options.mqttUrl) {
        mqttClient = new CloudMqttClient({
          url: options.mqttUrl,
          clientId,
          token: () => {
            if (options.mqttTokenFile !== undefined) {
              const token = readFileSync(options.mqttTokenFile, 'utf8').trim();
              if (token === '') throw new Error(`${options.mqttTokenFile} holds no token`);
              return token;
            }
            return (
              options.mqttToken ?? signToken({ sub: clientId, role: 'cloud', exp: now() + CLOUD_TOKEN_TTL_MS }, signing)
            );
          },
          ...(options.mqttReconnectMs !== undefined ? { reconnectMs: options.mqttReconnectMs } : {}),
          onMessage: (topic, payload, delivery) => started.router.route(topic, payload, delivery),
          logger: options.logger ?? silentLogger,
          now,
          ...(options.mqttConnectWaitMs !== undefined ? { connectWaitMs: options.mqttConnectWaitMs } : {}),
          ...(options.mqttCa !== undefined ? { ca: options.mqttCa } : {}),
          ...(options.mqttSharedGroup !== undefined ? { sharedGroup: options.mqttSharedGroup } : {}),
        });
        await mqttClient.start();
        await announceAcks(store, publish, now, logger);
        // Quota uses a crash left stored but not relayed go out now.
        await started.exitQuota.relayPending();
      }
      logger.info({ httpPort, mqtt: options.mqttUrl ?? null, db: options.dbPath }, 'cloud started');
      return { httpPort };
    },

    reloadTls(tls) {
      if (!options.tls)
        throw new AnxinError('no-tls', 'the cloud serves plain HTTP; start it with --tls-cert and --tls-key');
      // Throws on a certificate and key that do not belong together: the old pair stays in use.
      (server as unknown as HttpsServer | undefined)?.setSecureContext({ ...tls, minVersion: 'TLSv1.2' });
    },

    async stop() {
      const stopping = core;
      if (!stopping) return;
      stopping.live.shutdown();
      if (server) {
        const s = server;
        server = undefined;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        });
      }
      // Store what is queued and ack it while the broker is still there.
      await stopping.ingest.flush();
      await stopping.router.idle();
      stopping.sync.stop();
      await stopping.exitQuota.idle();
      await mqttClient?.stop();
      mqttClient = undefined;
      await stopping.ingest.stop();
      await retention?.stop();
      await stopping.store.close();
      core = undefined;
      logger.info('cloud stopped');
    },
  };
}
