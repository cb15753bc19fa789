/**
 * `anxin cloud`: the cloud alone — MQTT ingest, the store, the HTTP API with statistics, tracing
 * and the web pages. Flags, then `ANXIN_*` variables (docs/contract.md, configuration); exit 2 with
 * `path: message` lines on a bad value.
 */
import { type BrokerAccounts, dynsecBrokerAccounts, readMosquittoAdmin } from '../../broker/mosquitto-dynsec.ts';
import { readFileSync } from 'node:fs';
import { privateDir } from '../../shared/private-files.ts';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import { parseArgs } from 'node:util';
import { exitCodeFor } from '../command-errors.ts';
import { untilStopSignal } from '../stop-signal.ts';
import { z } from 'zod';
import { createFullCloud } from '../../cloud/full-cloud.ts';
import { partsWithoutPostgres, postgresRefusal } from '../../cloud/postgres-readiness.ts';
import { DEFAULT_POOL_SIZE, MAX_POOL_SIZE } from '../../cloud/store/postgres/pg-pool.ts';
import { isPostgresUrl, redactedUrl } from '../../cloud/store/postgres/postgres-store.ts';
import type { Cloud } from '../../cloud/cloud-service.ts';
import { SHARE_GROUP_PATTERN } from '../../cloud/mqtt/cloud-mqtt-client.ts';
import {
  DEFAULT_AUDIT_RETENTION_DAYS,
  DEFAULT_CHANGE_LOG_KEEP_REVS,
  DEFAULT_RETENTION_DAYS,
} from '../../cloud/store/retention-job.ts';
import { explainConfig, printableConfig } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import { KeysError, readKeysFile } from '../../shared/keys.ts';
import { createLogger } from '../../shared/log.ts';

export const help = `Usage: anxin cloud [flags]

  --port N               HTTP(S) port (default 8080)
  --host ADDR            bind address (default 127.0.0.1: behind a reverse proxy on the same machine;
                         0.0.0.0 with --tls-cert/--tls-key to serve browsers directly)
  --tls-cert FILE        PEM certificate (chain): serve HTTPS; with --tls-key. SIGHUP re-reads both
  --tls-key FILE         PEM private key
  --mqtt URL             the broker (default mqtt://127.0.0.1:1883)
  --db PATH|URL          SQLite file (default data/cloud.db), or postgres://user:password@host/db: the
                         PostgreSQL store (\`anxin db migrate\` prepares it), every part of the cloud on it;
                         prefer ANXIN_DB for a URL with a password (flags are visible in \`ps\`)
  --db-pool N            PostgreSQL connections this instance opens at most (1-${MAX_POOL_SIZE}, default
                         ${DEFAULT_POOL_SIZE}); keep the sum over all instances below the server's max_connections
  --keys PATH            the keys file with the current private key (default data/keys.json)
  --mqtt-token TOKEN     a fixed MQTT password, for an external broker whose password file was generated
                         by \`anxin broker mosquitto-config\` (default: sign a fresh token per connect)
  --mqtt-token-file F    the same, read from a file before every connect attempt: a rotated token needs
                         no restart (wins over --mqtt-token)
  --mqtt-client-id ID    MQTT client id and username (default cloud)
  --mqtt-ca FILE         PEM bundle of the private CA that signed the broker's certificate, for
                         mqtts:// and wss:// (then only these CAs are trusted; verification stays on)
  --mqtt-share-group G   shared-subscription group (a-z, 0-9, -; at most 64): cloud instances with the
                         same group and one store split the gates' messages on Mosquitto, EMQX, HiveMQ;
                         the embedded broker (anxin broker, aedes) has no shared subscriptions: it
                         refuses them and the cloud exits 2 (docs/deploy.md, "Scaling out")
  --revocations FILE     keep the broker's revocations file here (give the same path to
                         \`anxin broker --revocations\`); gates revoked through the API land in it
                         (old name: --revocations-file)
  --mosquitto-admin F    the admin.json of \`anxin broker mosquitto-config\`: revoking a gate through the
                         API disables its account on that Mosquitto (and disconnects it), issuing a gate
                         token sets it as the account's password
  --retention-days N     how long passages are kept (default ${DEFAULT_RETENTION_DAYS}); the cloud refuses
                         passages older than this, and purges at start and hourly
  --audit-retention-days N  how long audit entries are kept (default ${DEFAULT_AUDIT_RETENTION_DAYS})
  --change-log-keep N    change-log revisions kept per compound (default ${DEFAULT_CHANGE_LOG_KEEP_REVS})

  --print-config         print the effective configuration and where each value came from, then exit

One rule: flag > ANXIN_* environment variable > default (docs/configuration.md).
Environment: ANXIN_PORT, ANXIN_HOST, ANXIN_MQTT, ANXIN_DB, ANXIN_KEYS, ANXIN_MQTT_CA,
ANXIN_MQTT_SHARE_GROUP, ANXIN_DB_POOL, ANXIN_RETENTION_DAYS, ANXIN_AUDIT_RETENTION_DAYS, …
`;

export const cloudConfigSchema = z.object({
  port: z.coerce.number().int().min(0).max(65_535).default(8080),
  host: z.string().min(1).default('127.0.0.1'),
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  mqtt: z
    .string()
    .regex(/^(mqtts?|wss?|tcp):\/\/\S+$/, 'expected an mqtt://, mqtts://, ws:// or wss:// URL')
    .default('mqtt://127.0.0.1:1883'),
  db: z.string().min(1).default('data/cloud.db'),
  dbPool: z.coerce.number().int().min(1).max(MAX_POOL_SIZE).default(DEFAULT_POOL_SIZE),
  keys: z.string().min(1).default('data/keys.json'),
  /** A fixed MQTT password for an external broker's generated password file (client id `mqttClientId`). */
  mqttToken: z.string().min(1).optional(),
  /** The same, read from this file before every connect attempt (a rotated token needs no restart). */
  mqttTokenFile: z.string().min(1).optional(),
  mqttClientId: z.string().min(1).max(64).default('cloud'),
  /** Path of a PEM CA bundle for a broker certificate from a private CA; read at start. */
  mqttCa: z.string().min(1).optional(),
  mqttShareGroup: z.string().regex(SHARE_GROUP_PATTERN, 'expected 1-64 characters of a-z, 0-9 and -').optional(),
  revocations: z.string().min(1).optional(),
  mosquittoAdmin: z.string().min(1).optional(),
  retentionDays: z.coerce.number().int().min(1).max(3650).default(DEFAULT_RETENTION_DAYS),
  auditRetentionDays: z.coerce.number().int().min(1).max(36_500).default(DEFAULT_AUDIT_RETENTION_DAYS),
  changeLogKeep: z.coerce.number().int().min(100).max(10_000_000).default(DEFAULT_CHANGE_LOG_KEEP_REVS),
});

/** The flags of `anxin cloud` (each also an `ANXIN_*` variable but `--print-config`). */
const CLOUD_FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  mqtt: { type: 'string' },
  db: { type: 'string' },
  'db-pool': { type: 'string' },
  keys: { type: 'string' },
  'mqtt-token': { type: 'string' },
  'mqtt-token-file': { type: 'string' },
  'mqtt-client-id': { type: 'string' },
  'mqtt-ca': { type: 'string' },
  'mqtt-share-group': { type: 'string' },
  revocations: { type: 'string' },
  'revocations-file': { type: 'string' },
  'mosquitto-admin': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'print-config': { type: 'boolean' },
  'retention-days': { type: 'string' },
  'audit-retention-days': { type: 'string' },
  'change-log-keep': { type: 'string' },
} as const;

type CloudConfig = z.infer<typeof cloudConfigSchema>;

/** The cloud as the configuration describes it; unreadable files are `path: message` config errors. */
function cloudFromConfig(config: CloudConfig, logger: ReturnType<typeof createLogger>): Cloud {
  // Not half-working: with a part of the cloud that cannot store on PostgreSQL yet, refuse to start.
  const postgres = isPostgresUrl(config.db);
  if (postgres) {
    const pending = partsWithoutPostgres();
    if (pending.length > 0) throw new ConfigError([postgresRefusal(pending)]);
  }
  const tls = readTlsPair(config.tlsCert, config.tlsKey);
  let keys: ReturnType<typeof readKeysFile>;
  try {
    keys = readKeysFile(config.keys);
  } catch (error) {
    if (error instanceof KeysError) throw new ConfigError(error.problems.map((p) => `keys: ${p}`));
    throw error;
  }
  if (!keys.signing) throw new ConfigError([`keys: ${config.keys} has no private key; the cloud signs tokens`]);
  const mqttCa = config.mqttCa === undefined ? undefined : readCaBundle(config.mqttCa);
  const brokerAccounts =
    config.mosquittoAdmin === undefined ? undefined : mosquittoAdminAccounts(config.mosquittoAdmin);
  if (!postgres && config.db !== ':memory:') privateDir(dirname(config.db));
  return createFullCloud({
    db: config.db,
    ...(postgres ? { dbPool: config.dbPool } : {}),
    mqttUrl: config.mqtt,
    keysFile: keys.file,
    port: config.port,
    host: config.host,
    logger,
    mqttClientId: config.mqttClientId,
    ...(config.revocations || brokerAccounts
      ? {
          revocations: {
            ...(config.revocations ? { file: config.revocations } : {}),
            ...(brokerAccounts ? { accounts: brokerAccounts } : {}),
          },
        }
      : {}),
    ...(tls ? { tls } : {}),
    ...(config.mqttToken ? { mqttToken: config.mqttToken } : {}),
    ...(config.mqttTokenFile ? { mqttTokenFile: config.mqttTokenFile } : {}),
    ...(mqttCa ? { mqttCa } : {}),
    ...(config.mqttShareGroup ? { mqttSharedGroup: config.mqttShareGroup } : {}),
    retentionDays: config.retentionDays,
    auditRetentionDays: config.auditRetentionDays,
    changeLogKeepRevs: config.changeLogKeep,
  });
}

/**
 * SIGHUP: re-read the certificate and key (after certbot or the CA renewed them); a pair that
 * cannot be read or does not match is logged and the running one kept. Returns the unsubscribe.
 */
function reloadTlsOnHangup(cloud: Cloud, config: CloudConfig, logger: ReturnType<typeof createLogger>): () => void {
  const reload = () => {
    try {
      const next = readTlsPair(config.tlsCert, config.tlsKey);
      if (!next) return logger.warn('SIGHUP: no --tls-cert/--tls-key to reload');
      cloud.reloadTls(next);
      logger.info({ cert: config.tlsCert }, 'TLS certificate reloaded');
    } catch (error) {
      logger.error({ err: (error as Error).message }, 'TLS reload failed; keeping the current certificate');
    }
  };
  process.on('SIGHUP', reload);
  return () => process.off('SIGHUP', reload);
}

export async function run(argv: string[]): Promise<number> {
  try {
    const { values } = parseArgs({ args: argv, options: CLOUD_FLAGS, strict: true, allowPositionals: false });
    const { 'print-config': printConfig, 'revocations-file': oldRevocations, ...flags } = values;
    if (oldRevocations !== undefined) {
      process.stderr.write('anxin cloud: --revocations-file is deprecated; use --revocations\n');
      flags.revocations ??= oldRevocations;
    }
    const explained = explainConfig(cloudConfigSchema, { flags, env: process.env });
    if (printConfig) {
      process.stdout.write(printableConfig(explained));
      return 0;
    }
    const config = explained.config;
    const logger = createLogger();
    const cloud = cloudFromConfig(config, logger);
    const { httpPort } = await cloud.start();
    const db = isPostgresUrl(config.db) ? redactedUrl(config.db) : config.db;
    const scheme = config.tlsCert ? 'https' : 'http';
    process.stdout.write(`cloud on ${scheme}://${config.host}:${httpPort} (mqtt ${config.mqtt}, db ${db})\n`);
    const stopReloading = reloadTlsOnHangup(cloud, config, logger);
    await untilStopSignal();
    stopReloading();
    await cloud.stop();
    return 0;
  } catch (error) {
    return exitCodeFor('cloud', error);
  }
}

/** The accounts of the Mosquitto whose `admin.json` is given; an unreadable file is a `mosquittoAdmin: …` config error. */
function mosquittoAdminAccounts(file: string): BrokerAccounts {
  try {
    return dynsecBrokerAccounts(readMosquittoAdmin(file));
  } catch (error) {
    throw new ConfigError([`mosquittoAdmin: ${(error as Error).message}`]);
  }
}

/** The `--tls-cert`/`--tls-key` pair as read now; `tlsCert: …` config errors when it cannot be used. */
function readTlsPair(certFile?: string, keyFile?: string): { cert: Buffer; key: Buffer } | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    throw new ConfigError(['tlsKey: --tls-cert and --tls-key go together']);
  }
  const read = (file: string, path: string, marker: RegExp) => {
    let pem: Buffer;
    try {
      pem = readFileSync(file);
    } catch (error) {
      throw new ConfigError([`${path}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`]);
    }
    if (!marker.test(pem.toString('latin1')))
      throw new ConfigError([`${path}: ${file} is not a PEM ${path === 'tlsCert' ? 'certificate' : 'private key'}`]);
    return pem;
  };
  const cert = read(certFile, 'tlsCert', /-----BEGIN CERTIFICATE-----/);
  const key = read(keyFile, 'tlsKey', /-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/);
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new ConfigError([`tlsKey: ${keyFile} does not fit ${certFile}: ${(error as Error).message}`]);
  }
  return { cert, key };
}

/** The `--mqtt-ca` file's PEM text; a missing, unreadable or non-PEM file is an `mqttCa: …` config error. */
function readCaBundle(file: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (error) {
    throw new ConfigError([`mqttCa: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`]);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError([`mqttCa: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`]);
  }
  return pem;
}
