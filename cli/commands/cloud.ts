/**
 * `anxin cloud`: the cloud alone — MQTT ingest, the store, the HTTP API with statistics, tracing
 * and the web pages. Flags, then `ANXIN_*` variables (docs/contract.md, configuration); exit 2 with
 * `path: message` lines on a bad value.
 */
import { type BrokerAccounts, dynsecBrokerAccounts, readMosquittoAdmin } from '../../broker/mosquitto-dynsec.ts';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { exitCodeFor } from '../command-errors.ts';
import { untilStopSignal } from '../stop-signal.ts';
import { z } from 'zod';
import { createFullCloud } from '../../cloud/full-cloud.ts';
import { SHARE_GROUP_PATTERN } from '../../cloud/mqtt/cloud-mqtt-client.ts';
import { DEFAULT_CHANGE_LOG_KEEP_REVS, DEFAULT_RETENTION_DAYS } from '../../cloud/store/retention-job.ts';
import { loadConfig } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import { KeysError, readKeysFile } from '../../shared/keys.ts';
import { createLogger } from '../../shared/log.ts';

export const help = `Usage: anxin cloud [flags]

  --port N               HTTP port (default 8080)
  --host ADDR            HTTP bind address (default 0.0.0.0)
  --mqtt URL             the broker (default mqtt://127.0.0.1:1883)
  --db PATH              SQLite file (default data/cloud.db); a postgres:// URL is reserved for the
                         PostgreSQL store, which is not part of this build
  --keys PATH            the keys file with the current private key (default data/keys.json)
  --mqtt-token TOKEN     a fixed MQTT password, for an external broker whose password file was generated
                         by \`anxin broker mosquitto-config\` (default: sign a fresh token per connect)
  --mqtt-client-id ID    MQTT client id and username (default cloud)
  --mqtt-ca FILE         PEM bundle of the private CA that signed the broker's certificate, for
                         mqtts:// and wss:// (then only these CAs are trusted; verification stays on)
  --mqtt-share-group G   shared-subscription group (a-z, 0-9, -; at most 64): cloud instances with the
                         same group split the gates' messages on Mosquitto, EMQX, HiveMQ; the embedded
                         broker has no shared subscriptions and gives each instance everything
  --revocations-file F   keep the broker's revocations file here (give the same path to
                         \`anxin broker --revocations\`); gates revoked through the API land in it
  --mosquitto-admin F    the admin.json of \`anxin broker mosquitto-config\`: revoking a gate through the
                         API disables its account on that Mosquitto (and disconnects it), issuing a gate
                         token sets it as the account's password
  --retention-days N     how long passages are kept (default ${DEFAULT_RETENTION_DAYS})
  --change-log-keep N    change-log revisions kept per compound (default ${DEFAULT_CHANGE_LOG_KEEP_REVS})

Environment: ANXIN_PORT, ANXIN_HOST, ANXIN_MQTT, ANXIN_DB, ANXIN_KEYS, ANXIN_MQTT_CA,
ANXIN_MQTT_SHARE_GROUP, ANXIN_RETENTION_DAYS, …
`;

export const cloudConfigSchema = z.object({
  port: z.coerce.number().int().min(0).max(65_535).default(8080),
  host: z.string().min(1).default('0.0.0.0'),
  mqtt: z
    .string()
    .regex(/^(mqtts?|wss?|tcp):\/\/\S+$/, 'expected an mqtt://, mqtts://, ws:// or wss:// URL')
    .default('mqtt://127.0.0.1:1883'),
  db: z
    .string()
    .min(1)
    .default('data/cloud.db')
    .refine((db) => !/^postgres(ql)?:\/\//.test(db), 'the PostgreSQL store is not part of this build; use a file path'),
  keys: z.string().min(1).default('data/keys.json'),
  /** A fixed MQTT password for an external broker's generated password file (client id `mqttClientId`). */
  mqttToken: z.string().min(1).optional(),
  mqttClientId: z.string().min(1).max(64).default('cloud'),
  /** Path of a PEM CA bundle for a broker certificate from a private CA; read at start. */
  mqttCa: z.string().min(1).optional(),
  mqttShareGroup: z.string().regex(SHARE_GROUP_PATTERN, 'expected 1-64 characters of a-z, 0-9 and -').optional(),
  revocationsFile: z.string().min(1).optional(),
  mosquittoAdmin: z.string().min(1).optional(),
  retentionDays: z.coerce.number().int().min(1).max(3650).default(DEFAULT_RETENTION_DAYS),
  changeLogKeep: z.coerce.number().int().min(100).max(10_000_000).default(DEFAULT_CHANGE_LOG_KEEP_REVS),
});

export async function run(argv: string[]): Promise<number> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        mqtt: { type: 'string' },
        db: { type: 'string' },
        keys: { type: 'string' },
        'mqtt-token': { type: 'string' },
        'mqtt-client-id': { type: 'string' },
        'mqtt-ca': { type: 'string' },
        'mqtt-share-group': { type: 'string' },
        'revocations-file': { type: 'string' },
        'mosquitto-admin': { type: 'string' },
        'retention-days': { type: 'string' },
        'change-log-keep': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    });
    const config = loadConfig(cloudConfigSchema, { flags: values, env: process.env });
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
    if (config.db !== ':memory:') mkdirSync(dirname(config.db), { recursive: true });

    const logger = createLogger();
    const cloud = createFullCloud({
      dbPath: config.db,
      mqttUrl: config.mqtt,
      keysFile: keys.file,
      port: config.port,
      host: config.host,
      logger,
      mqttClientId: config.mqttClientId,
      ...(config.revocationsFile || brokerAccounts
        ? {
            revocations: {
              ...(config.revocationsFile ? { file: config.revocationsFile } : {}),
              ...(brokerAccounts ? { accounts: brokerAccounts } : {}),
            },
          }
        : {}),
      ...(config.mqttToken ? { mqttToken: config.mqttToken } : {}),
      ...(mqttCa ? { mqttCa } : {}),
      ...(config.mqttShareGroup ? { mqttSharedGroup: config.mqttShareGroup } : {}),
      retentionDays: config.retentionDays,
      changeLogKeepRevs: config.changeLogKeep,
    });
    const { httpPort } = await cloud.start();
    process.stdout.write(`cloud on http://${config.host}:${httpPort} (mqtt ${config.mqtt}, db ${config.db})\n`);
    await untilStopSignal();
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
