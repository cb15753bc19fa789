/**
 * `anxin broker`: the MQTT broker alone (docs/contract.md, "Command line"), and
 * `anxin broker mosquitto-config`: the files for running an external Mosquitto instead.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { exitCodeFor } from '../command-errors.ts';
import { untilStopSignal } from '../stop-signal.ts';
import { z } from 'zod';
import { DEFAULT_MAX_PAYLOAD } from '../../broker/mqtt-framing.ts';
import { DEFAULT_CONNECTION_LIMITS } from '../../broker/connection-guard.ts';
import {
  DynsecPluginMissingError,
  findDynsecPlugin,
  generateMosquittoConfig,
  type MosquittoAccount,
  MOSQUITTO_DEFAULT_MAX_QUEUED_BYTES,
  maxQueuedBytesProblem,
  mosquittoAccounts,
  newAdminPassword,
} from '../../broker/mosquitto-config.ts';
import { writeMosquittoFiles } from '../../broker/mosquitto-files.ts';
import { createBrokerServer, DEFAULT_MAX_PENDING_PER_ADDRESS } from '../../broker/server.ts';
import { DEFAULT_EXPECTED_GATES, UNREAD_BYTES_PER_GATE } from '../../broker/unread-budget.ts';
import { explainConfig, printableConfig } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import { isValidId } from '../../shared/ids.ts';
import { KeysError, readKeyRing, readKeysFile } from '../../shared/keys.ts';
import { createLogger } from '../../shared/log.ts';
import { signToken } from '../../shared/token.ts';

const DEFAULT_KEYS = 'data/keys.json';
const DAY_MS = 86_400_000;

export const help = `Usage: anxin broker [flags]
       anxin broker mosquitto-config --out DIR [--gate-config gate.json ...] [flags]

Runs the MQTT broker (aedes): device-token authentication and the topic ACL of docs/contract.md.
  --port N            MQTT port (default 1883, or 8883 with TLS; 0 picks a free port)
  --host ADDR         interface to bind (default 0.0.0.0)
  --ws-port N         also serve MQTT over WebSocket on this port (wss with TLS)
  --tls-cert FILE     PEM certificate; with --tls-key, --port speaks MQTT over TLS only
  --tls-key FILE      PEM private key
  --keys FILE         keys file; only public keys are needed (default ${DEFAULT_KEYS})
  --revocations FILE  revoked token ids (jti), one per line; re-read when it changes; a file that
                      does not exist yet is an empty list (the cloud creates it)
  --max-payload N     largest accepted PUBLISH payload in bytes (default ${DEFAULT_MAX_PAYLOAD})
  --max-pending-per-address N
                      sockets of one address that may wait for their CONNACK at once
                      (default ${DEFAULT_MAX_PENDING_PER_ADDRESS}; raise it for many gates behind one NAT)
  --expected-gates N  the fleet the read-ahead budget is sized for (default ${DEFAULT_EXPECTED_GATES})
  --max-unread-total N
                      bytes read from all clients together that the broker has not processed yet;
                      past it, clients are read no further until there is room (backpressure, never
                      a drop). Default: expected gates × ${UNREAD_BYTES_PER_GATE / 1024} KiB (docs/deploy.md)
  --print-config      print the effective configuration and where each value came from, then exit
One rule: flag > ANXIN_* environment variable > default (docs/configuration.md).
Environment: ANXIN_PORT, ANXIN_WS_PORT, ANXIN_KEYS, … (flags win); ANXIN_LOG_LEVEL.

mosquitto-config writes what Mosquitto 2.x needs into DIR (docs/deploy.md): mosquitto.conf
loading the dynamic-security plugin, dynamic-security.json with one account and one role per
gate, and admin.json (the administrator's URL and password, for the cloud's --mosquitto-admin and
anxin gate add --mosquitto-admin). It prints "username token" for every cloud and observer
account: their tokens, signed now, are their MQTT passwords. Gates keep the token of their gate.json.
  --out DIR             where to write (created if missing; as root, handed to --user)
  --keys FILE           keys file with the current private key (default ${DEFAULT_KEYS})
  --gate-config FILE    a gate.json written by anxin gate add (repeatable): that gate's account,
                        with that token as its password
  --cloud NAME          a cloud account (repeatable; default "cloud")
  --observer NAME       an observer account (repeatable)
  --port N, --host ADDR the listener (default 1883 on all interfaces)
  --ttl-days N          cloud and observer token lifetime (default 365); Mosquitto cannot check
                        expiry, so issue new ones before then
  --max-payload N       largest payload; max_packet_size is this plus 1024 (default ${DEFAULT_MAX_PAYLOAD})
  --max-queued-bytes N  max_queued_bytes: what Mosquitto may queue for one client, the cloud's
                        backlog, before it drops (default ${MOSQUITTO_DEFAULT_MAX_QUEUED_BYTES}, 1 GiB; at least one
                        largest packet). Lower it where memory is tighter than the fleet's drain
                        backlog (docs/deploy.md, "Flow control towards the cloud")
  --tls-cert/--tls-key  add certfile/keyfile to the listener
  --user NAME           the user Mosquitto drops to (default mosquitto)
  --plugin PATH         mosquitto_dynamic_security.so (default: found in the usual places)
`;

const port = z.coerce.number().int().min(0).max(65_535);

export const brokerConfigSchema = z
  .object({
    port: port.optional(),
    host: z.string().min(1).default('0.0.0.0'),
    wsPort: port.optional(),
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    keys: z.string().min(1).default(DEFAULT_KEYS),
    revocations: z.string().min(1).optional(),
    maxPayload: z.coerce.number().int().min(1).max(268_435_455).default(DEFAULT_MAX_PAYLOAD),
    maxPendingPerAddress: z.coerce.number().int().min(1).max(100_000).default(DEFAULT_MAX_PENDING_PER_ADDRESS),
    expectedGates: z.coerce.number().int().min(1).max(1_000_000).default(DEFAULT_EXPECTED_GATES),
    // At least one connection's own read-ahead (2 MiB), or a single gate could never use its own.
    maxUnreadTotal: z.coerce
      .number()
      .int()
      .min(DEFAULT_CONNECTION_LIMITS.maxUnreadBytes)
      .max(Number.MAX_SAFE_INTEGER)
      .optional(),
  })
  .superRefine((config, ctx) => {
    if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tlsKey'], message: '--tls-cert and --tls-key go together' });
    }
  });

function readOrProblem(path: string, flag: string, problems: string[]): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (error) {
    problems.push(`${flag}: ${path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    return undefined;
  }
}

async function serve(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'ws-port': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      keys: { type: 'string' },
      revocations: { type: 'string' },
      'max-payload': { type: 'string' },
      'max-pending-per-address': { type: 'string' },
      'expected-gates': { type: 'string' },
      'max-unread-total': { type: 'string' },
      'print-config': { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  const { 'print-config': printConfig, ...flags } = values;
  const explained = explainConfig(brokerConfigSchema, { flags, env: process.env });
  if (printConfig) {
    process.stdout.write(printableConfig(explained));
    return 0;
  }
  const config = explained.config;
  const problems: string[] = [];
  const cert = config.tlsCert ? readOrProblem(config.tlsCert, 'tlsCert', problems) : undefined;
  const key = config.tlsKey ? readOrProblem(config.tlsKey, 'tlsKey', problems) : undefined;
  let ring: ReturnType<typeof readKeysFile>['ring'] | undefined;
  try {
    ring = readKeyRing(config.keys);
  } catch (error) {
    if (!(error instanceof KeysError)) throw error;
    problems.push(...error.problems.map((p) => `keys: ${p}`));
  }
  if (problems.length > 0 || !ring) throw new ConfigError(problems);

  const logger = createLogger();
  const server = createBrokerServer({
    port: config.port ?? (cert ? 8883 : 1883),
    host: config.host,
    ...(config.wsPort === undefined ? {} : { wsPort: config.wsPort }),
    ...(cert && key ? { tls: { cert, key } } : {}),
    keys: ring,
    ...(config.revocations ? { revocations: { file: config.revocations } } : {}),
    maxPayload: config.maxPayload,
    maxPendingPerAddress: config.maxPendingPerAddress,
    expectedGates: config.expectedGates,
    ...(config.maxUnreadTotal === undefined ? {} : { maxUnreadTotalBytes: config.maxUnreadTotal }),
    logger,
  });
  // Listening for the stop signal before "broker listening" is logged: a supervisor (or a test)
  // that stops the broker as soon as it reads that line must get a clean stop, not a kill.
  const stopped = untilStopSignal();
  await server.start();
  await stopped;
  await server.stop();
  return 0;
}

/** A gate's id, compound and token, from the gate.json `anxin gate add` wrote. */
function gateFromConfig(path: string, problems: string[]): MosquittoAccount | undefined {
  try {
    const config = JSON.parse(readFileSync(path, 'utf8')) as {
      gateId?: unknown;
      compoundId?: unknown;
      mqtt?: { token?: unknown };
    };
    const { gateId, compoundId } = config;
    const token = config.mqtt?.token;
    if (!isValidId(gateId) || !isValidId(compoundId) || typeof token !== 'string' || token.length === 0) {
      problems.push(`gateConfig: ${path} has no gateId, compoundId and mqtt.token`);
      return undefined;
    }
    return { username: gateId, role: 'gate', compound: compoundId, password: token };
  } catch (error) {
    problems.push(`gateConfig: ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    return undefined;
  }
}

/** `--max-payload` and `--max-queued-bytes`, checked together: the queue must hold one largest packet. */
function mosquittoLimits(
  values: { 'max-payload': string; 'max-queued-bytes': string },
  problems: string[],
): { maxPayload: number; maxQueuedBytes: number } {
  const maxPayload = Number(values['max-payload']);
  const payloadOk = Number.isInteger(maxPayload) && maxPayload >= 1;
  if (!payloadOk) problems.push(`maxPayload: ${values['max-payload']} is not a positive integer`);
  const given = values['max-queued-bytes'];
  const maxQueuedBytes = /^\d+$/.test(given) ? Number(given) : Number.NaN;
  const queueProblem = maxQueuedBytesProblem(maxQueuedBytes, payloadOk ? maxPayload : undefined);
  if (queueProblem) problems.push(`maxQueuedBytes: ${JSON.stringify(given)} ${queueProblem}`);
  return { maxPayload, maxQueuedBytes };
}

function mosquittoConfig(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      keys: { type: 'string', default: DEFAULT_KEYS },
      'gate-config': { type: 'string', multiple: true, default: [] },
      cloud: { type: 'string', multiple: true },
      observer: { type: 'string', multiple: true, default: [] },
      port: { type: 'string', default: '1883' },
      host: { type: 'string' },
      'ttl-days': { type: 'string', default: '365' },
      'max-payload': { type: 'string', default: String(DEFAULT_MAX_PAYLOAD) },
      'max-queued-bytes': { type: 'string', default: String(MOSQUITTO_DEFAULT_MAX_QUEUED_BYTES) },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      user: { type: 'string', default: 'mosquitto' },
      plugin: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const problems: string[] = [];
  if (!values.out) problems.push('out: required (--out DIR)');
  const gates = values['gate-config'].flatMap((path) => gateFromConfig(path, problems) ?? []);
  const clouds = values.cloud ?? ['cloud'];
  const listenPort = port.safeParse(values.port);
  if (!listenPort.success) problems.push(`port: ${JSON.stringify(values.port)} is not a port number`);
  const ttlDays = Number(values['ttl-days']);
  if (!Number.isFinite(ttlDays) || ttlDays <= 0)
    problems.push(`ttlDays: ${JSON.stringify(values['ttl-days'])} is not a positive number`);
  const { maxPayload, maxQueuedBytes } = mosquittoLimits(values, problems);
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
    problems.push('tlsKey: --tls-cert and --tls-key go together');
  }
  const pluginPath = values.plugin ?? findDynsecPlugin();
  if (!pluginPath) problems.push(`plugin: ${new DynsecPluginMissingError().message}; give --plugin PATH`);
  let signing: ReturnType<typeof readKeysFile>['signing'];
  try {
    signing = readKeysFile(values.keys).signing;
    if (!signing) problems.push(`keys: ${values.keys} holds no private key for its current kid; use the cloud's file`);
  } catch (error) {
    if (!(error instanceof KeysError)) throw error;
    problems.push(...error.problems.map((p) => `keys: ${p}`));
  }
  if (problems.length > 0 || !signing || !values.out || !listenPort.success || !pluginPath) {
    throw new ConfigError(problems);
  }

  const key = signing;
  const exp = Date.now() + ttlDays * DAY_MS;
  const services = mosquittoAccounts({ clouds, observers: values.observer }, (claims) =>
    signToken({ ...claims, exp }, key),
  );
  const dir = resolve(values.out);
  const files = generateMosquittoConfig({
    dir,
    port: listenPort.data,
    ...(values.host ? { host: values.host } : {}),
    accounts: [...gates, ...services],
    admin: { password: newAdminPassword() },
    maxPayload,
    maxQueuedBytes,
    runAsUser: values.user,
    pluginPath,
    ...(values['tls-cert'] && values['tls-key']
      ? { tls: { certFile: resolve(values['tls-cert']), keyFile: resolve(values['tls-key']) } }
      : {}),
  });
  const written = writeMosquittoFiles(dir, files, { user: values.user });
  process.stderr.write(
    `wrote ${written.join(', ')}\n` +
      `start it with: mosquitto -c ${join(dir, 'mosquitto.conf')}\n` +
      `gates: ${gates.map((g) => g.username).join(', ') || '(none yet)'}, each with the token of its gate.json; ` +
      `add more with: anxin gate add … --mosquitto-admin ${join(dir, 'admin.json')}\n` +
      `tokens below expire ${new Date(exp).toISOString()}; username = client id, password = token:\n`,
  );
  for (const account of services) process.stdout.write(`${account.username} ${account.password}\n`);
  return 0;
}

export async function run(argv: string[]): Promise<number> {
  try {
    if (argv[0] === 'mosquitto-config') return mosquittoConfig(argv.slice(1));
    return await serve(argv);
  } catch (error) {
    return exitCodeFor('broker', error);
  }
}
