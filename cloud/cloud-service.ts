/**
 * The cloud process: `createCloud` opens the store on the database `db` names (a SQLite file or a
 * PostgreSQL URL; cloud/store/open-store.ts), builds the core with its extensions
 * (cloud-core.ts), and adds the HTTP server, the MQTT link and the retention job.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { AnxinError } from '../shared/errors.ts';
import { type KeysFile, parseKeysFile, type SigningKey } from '../shared/keys.ts';
import { type Logger, silentLogger } from '../shared/log.ts';
import { topics } from '../shared/topics.ts';
import { signToken } from '../shared/token.ts';
import { type CloudCore, type CloudCoreOptions, CloudConfigError, createCloudCore } from './cloud-core.ts';
import type { AppEnv } from './http/app-env.ts';
import type { CloudExtensionFactory } from './http/extension.ts';
import { PgLiveFanout } from './live/pg-live-fanout.ts';
import { CloudMqttClient, MqttUnavailableError, SHARE_GROUP_PATTERN } from './mqtt/cloud-mqtt-client.ts';
import { partsWithoutPostgres, postgresRefusal } from './postgres-readiness.ts';
import type { BrokerAccounts } from './revocations/broker-accounts.ts';
import { openCloudStore } from './store/store-for-db.ts';
import { MAX_POOL_SIZE } from './store/postgres/pg-pool.ts';
import { isPostgresUrl, redactedUrl } from './store/postgres/postgres-store.ts';
import { DEFAULT_RETENTION_DAYS, RetentionJob } from './store/retention-job.ts';
import type { CloudStore } from './store/store.ts';
import type { Publish } from './sync/change-publisher.ts';

export { type CloudCore, type CloudCoreOptions, CloudConfigError, createCloudCore } from './cloud-core.ts';

/** The cloud's own MQTT identity (docs/contract.md, broker authentication). */
export const CLOUD_MQTT_CLIENT_ID = 'cloud';
const CLOUD_TOKEN_TTL_MS = 30 * 24 * 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface CloudOptions {
  /**
   * The database: a SQLite file (created with a private folder), `:memory:`, or
   * `postgres://user:password@host:port/db` (docs/deploy.md, "Scaling out").
   */
  db: string;
  /** PostgreSQL only: connections this instance opens at most (1–100; default 10). */
  dbPool?: number;
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
  /** Opened once the store is (cloud/http/extension.ts); cloud/full-cloud.ts lists the deployed ones. */
  extensions?: readonly CloudExtensionFactory[];
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
  /** MQTT keepalive in seconds (default 15: a silently dead broker shows on `/healthz` within 22.5 s). */
  mqttKeepaliveSec?: number;
  /** Keepalives of one ingest hold after which the keepalive judges the link again (default 4). */
  mqttHoldCapKeepalives?: number;
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

/** Refuses options that cannot work before anything is opened. */
function checkOptions(options: CloudOptions): void {
  if (options.mqttSharedGroup !== undefined && !SHARE_GROUP_PATTERN.test(options.mqttSharedGroup)) {
    throw new CloudConfigError(`mqttSharedGroup: expected 1-64 of a-z, 0-9 and -`);
  }
  if (
    options.dbPool !== undefined &&
    (!Number.isInteger(options.dbPool) || options.dbPool < 1 || options.dbPool > MAX_POOL_SIZE)
  ) {
    throw new CloudConfigError(`dbPool: expected a whole number from 1 to ${MAX_POOL_SIZE}`);
  }
  // Not half-working: a part of the cloud that cannot store on PostgreSQL yet would live nowhere.
  if (isPostgresUrl(options.db)) {
    const pending = partsWithoutPostgres();
    if (pending.length > 0) throw new CloudConfigError(postgresRefusal(pending));
  }
}

/** `/healthz` facts of the broker link: `degraded` while a configured link is down (refused or unreachable). */
function brokerHealth(mqttUrl: string | undefined, client: CloudMqttClient | undefined): Record<string, unknown> {
  if (!mqttUrl) return { mqtt: 'none' };
  const connected = client?.connected === true;
  const failure = client?.lastFailure;
  return {
    ...(connected ? {} : { status: 'degraded' }),
    mqtt: connected ? 'connected' : 'disconnected',
    mqttLink: client?.linkState ?? 'connecting',
    ...(!connected && failure?.error ? { mqttLastError: failure.error } : {}),
    ...(!connected ? { mqttFailedAttempts: failure?.attempts ?? 0 } : {}),
  };
}

/** The retention job with the extensions' purges, started, and its first pass begun now. */
function startRetention(options: CloudOptions, core: CloudCore, logger: Logger, now: () => number) {
  const retention = new RetentionJob({
    store: core.store,
    logger: options.logger ?? silentLogger,
    horizonMs: (options.retentionDays ?? DEFAULT_RETENTION_DAYS) * DAY_MS,
    ...(options.auditRetentionDays !== undefined ? { auditHorizonMs: options.auditRetentionDays * DAY_MS } : {}),
    ...(options.purgeIntervalMs !== undefined ? { intervalMs: options.purgeIntervalMs } : {}),
    ...(options.changeLogKeepRevs !== undefined ? { keepRevs: options.changeLogKeepRevs } : {}),
    extraPurges: core.extensions.flatMap((e) => (e.purge ? [e.purge.bind(e)] : [])),
    now,
  });
  retention.start();
  // Also now, not only an hour from now: a cloud restarted daily would otherwise never purge.
  const firstPurge = retention.runOnce().catch((err: unknown) => {
    logger.error({ err }, 'retention at start-up failed');
    return 0;
  });
  return { retention, firstPurge };
}

/** The HTTP(S) server on the app, listening. */
async function listen(app: Hono<AppEnv>, options: CloudOptions): Promise<Server> {
  const server = serve({
    fetch: app.fetch,
    port: options.port ?? 8080,
    hostname: options.host ?? '127.0.0.1',
    ...(options.tls
      ? { createServer: createHttpsServer, serverOptions: { ...options.tls, minVersion: 'TLSv1.2' } }
      : {}),
  }) as Server;
  await new Promise<void>((resolve, reject) => {
    if (server.listening) resolve();
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  return server;
}

/** The MQTT link (not yet started): a fresh signed token per attempt unless a fixed one is configured. */
function mqttLink(
  options: CloudOptions & { mqttUrl: string },
  core: CloudCore,
  signing: SigningKey,
  now: () => number,
) {
  const clientId = options.mqttClientId ?? CLOUD_MQTT_CLIENT_ID;
  return new CloudMqttClient({
    url: options.mqttUrl,
    clientId,
    token: () => {
      if (options.mqttTokenFile !== undefined) {
        const token = readFileSync(options.mqttTokenFile, 'utf8').trim();
        if (token === '') throw new Error(`${options.mqttTokenFile} holds no token`);
        return token;
      }
      return options.mqttToken ?? signToken({ sub: clientId, role: 'cloud', exp: now() + CLOUD_TOKEN_TTL_MS }, signing);
    },
    ...(options.mqttReconnectMs !== undefined ? { reconnectMs: options.mqttReconnectMs } : {}),
    ...(options.mqttKeepaliveSec !== undefined ? { keepaliveSec: options.mqttKeepaliveSec } : {}),
    ...(options.mqttHoldCapKeepalives !== undefined ? { holdCapKeepalives: options.mqttHoldCapKeepalives } : {}),
    onHoldOverCap: () => core.metrics.mqttHoldsOverCap.inc(),
    onPubackWithheld: () => core.metrics.mqttPubacksWithheld.inc(),
    onMessage: (topic, payload, delivery) => core.router.route(topic, payload, delivery),
    logger: options.logger ?? silentLogger,
    now,
    ...(options.mqttConnectWaitMs !== undefined ? { connectWaitMs: options.mqttConnectWaitMs } : {}),
    ...(options.mqttCa !== undefined ? { ca: options.mqttCa } : {}),
    ...(options.mqttSharedGroup !== undefined ? { sharedGroup: options.mqttSharedGroup } : {}),
  });
}

/** Stores what is queued and acks it while the broker is still there, then closes everything. */
async function stopCore(core: CloudCore, link: Link, retention: RetentionJob | undefined) {
  const mqtt = link.mqtt;
  await core.ingest.flush();
  await core.router.idle();
  core.sync.stop();
  for (const extension of core.extensions) await extension.stop?.();
  await mqtt?.stop();
  await core.ingest.stop();
  await retention?.stop();
  await link.fanout?.stop();
  link.fanout = undefined;
  await core.store.close();
}

/** What a started cloud holds; `mqtt` is set once the link is created (the publish and health read it). */
interface Running {
  core: CloudCore;
  server: Server;
  retention: RetentionJob;
  firstPurge: Promise<number>;
}

interface Link {
  mqtt?: CloudMqttClient;
  /** `/live` to and from the other instances on the same PostgreSQL (none on SQLite). */
  fanout?: PgLiveFanout;
}

/** On PostgreSQL, several instances may share the database: their `/live` streams hear each other. */
async function startFanout(options: CloudOptions, core: CloudCore, link: Link): Promise<void> {
  if (core.store.engine.kind !== 'postgres') return;
  link.fanout = new PgLiveFanout({
    live: core.live,
    pool: core.store.engine.pool,
    url: options.db,
    logger: options.logger ?? silentLogger,
    // The ingest transaction's entry notifications carry this origin and seal too (cloud/live/pg-live-entries.ts).
    wire: core.liveWire,
  });
  await link.fanout.start();
}

/** Opens the store, builds the core, starts retention, HTTP, the broker link and the extensions. */
async function startCloud(options: CloudOptions, signing: SigningKey, link: Link, logger: Logger): Promise<Running> {
  const now = options.now ?? Date.now;
  const publish: Publish = (topic, payload) =>
    link.mqtt ? link.mqtt.publish(topic, payload) : Promise.reject(new MqttUnavailableError('no broker configured'));
  const store = await openCloudStore({
    db: options.db,
    ...(options.dbPool !== undefined ? { pool: options.dbPool } : {}),
  });
  let opened: CloudCore | undefined;
  let server: Server | undefined;
  let retention: RetentionJob | undefined;
  try {
    const core = createCloudCore({
      store,
      keys: parseKeysFile(options.keysFile),
      publish,
      logger: options.logger ?? silentLogger,
      now,
      ...(options.ingest ? { ingest: options.ingest } : {}),
      admission: { keepMs: (options.retentionDays ?? DEFAULT_RETENTION_DAYS) * DAY_MS, ...options.admission },
      ...(options.extensions ? { extensions: options.extensions } : {}),
      ...(options.liveHeartbeatMs !== undefined ? { liveHeartbeatMs: options.liveHeartbeatMs } : {}),
      ...(options.sessionIdleMs !== undefined ? { sessionIdleMs: options.sessionIdleMs } : {}),
      ...(options.metricsToken !== undefined ? { metricsToken: options.metricsToken } : {}),
      ...(options.brokerAccounts ? { brokerAccounts: options.brokerAccounts } : {}),
      // The cloud still serves HTTP while the broker is away, but nothing reaches the gates.
      health: () => ({ ...link.fanout?.health(), ...brokerHealth(options.mqttUrl, link.mqtt) }),
    });
    opened = core;
    const started = startRetention(options, core, logger, now);
    retention = started.retention;
    await startFanout(options, core, link);
    server = await listen(core.app, options);
    if (options.mqttUrl) {
      link.mqtt = mqttLink({ ...options, mqttUrl: options.mqttUrl }, core, signing, now);
      await link.mqtt.start();
      await announceAcks(store, publish, now, logger);
    }
    for (const extension of core.extensions) await extension.start?.({ mqtt: options.mqttUrl !== undefined });
    return { core, server, retention, firstPurge: started.firstPurge };
  } catch (error) {
    // Nothing half-started stays behind: a failed start leaves the database closed and the port free.
    server?.close();
    if (opened) await stopCore(opened, link, retention);
    else await store.close();
    link.mqtt = undefined;
    throw error;
  }
}

export function createCloud(options: CloudOptions): Cloud {
  const logger = (options.logger ?? silentLogger).child({ component: 'cloud' });
  const keys = parseKeysFile(options.keysFile);
  if (!keys.signing) throw new CloudConfigError('keysFile: the cloud needs the private half of the current key');
  checkOptions(options);
  const signing = keys.signing;
  const link: Link = {};
  let running: Running | undefined;
  let retentionAtStart: Promise<number> | undefined;

  return {
    get core(): CloudCore {
      if (!running) throw new Error('the cloud is not started');
      return running.core;
    },

    get startupRetention() {
      return retentionAtStart;
    },

    async start() {
      running = await startCloud(options, signing, link, logger);
      retentionAtStart = running.firstPurge;
      const httpPort = (running.server.address() as AddressInfo).port;
      const db = isPostgresUrl(options.db) ? redactedUrl(options.db) : options.db;
      logger.info({ httpPort, mqtt: options.mqttUrl ?? null, db }, 'cloud started');
      return { httpPort };
    },

    reloadTls(tls) {
      if (!options.tls)
        throw new AnxinError('no-tls', 'the cloud serves plain HTTP; start it with --tls-cert and --tls-key');
      // Throws on a certificate and key that do not belong together: the old pair stays in use.
      (running?.server as HttpsServer | undefined)?.setSecureContext({ ...tls, minVersion: 'TLSv1.2' });
    },

    async stop() {
      const stopping = running;
      if (!stopping) return;
      running = undefined;
      stopping.core.live.shutdown();
      await new Promise<void>((resolve) => {
        stopping.server.close(() => resolve());
        stopping.server.closeAllConnections();
      });
      await stopCore(stopping.core, link, stopping.retention);
      link.mqtt = undefined;
      logger.info('cloud stopped');
    },
  };
}
