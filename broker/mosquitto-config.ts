/**
 * Interop: the files that let an external Mosquitto 2.x broker stand in for the embedded one —
 * `mosquitto.conf` loading Mosquitto's dynamic-security plugin, and that plugin's
 * `dynamic-security.json` with one account and one role per gate, built from the same policy
 * table as `acl.ts`. Pure: the caller signs the tokens, picks the directory and writes the files
 * (`mosquitto-files.ts`); `mosquitto-dynsec.ts` changes the accounts of a running Mosquitto.
 *
 * Why the plugin rather than `password_file` + `acl_file` (docs/deploy.md, "Using Mosquitto"):
 * - it refuses a SUBSCRIBE outside the role's patterns with SUBACK 0x80 (the ACL file grants every
 *   subscription and filters deliveries afterwards, so a gate's `#` looked granted);
 * - accounts change at run time over `$CONTROL/dynamic-security/v1`, one at a time: a gate added
 *   by `anxin gate add` keeps the token that command wrote, revoking one gate disables that one
 *   account and disconnects it at once, and nobody else is re-signed or logged out.
 * What it cannot do: verify our signed tokens (it compares each password with its stored hash, so
 * expiry is not checked), or refuse a retained publish on a topic the role may write.
 */
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { assertId } from '../shared/ids.ts';
import { CLOUD_STATUS_TOPIC, GATE_TOPIC_KINDS, TOPIC_PREFIX } from '../shared/topics.ts';
import { type MqttRole, ROLE_POLICIES } from './acl.ts';
import { DEFAULT_MAX_PAYLOAD, PACKET_OVERHEAD_BYTES } from './mqtt-framing.ts';

/** The dynamic-security plugin's hashes (plugins/dynamic-security): PBKDF2-HMAC-SHA512, 101 rounds, 12-byte salt, 64 bytes. */
const MOSQUITTO_PBKDF2_ITERATIONS = 101;
const SALT_BYTES = 12;
const HASH_BYTES = 64;

/** Where Debian, Ubuntu and upstream builds install the plugin; the first that exists is used. */
export const DYNSEC_PLUGIN_PATHS = [
  '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/arm-linux-gnueabihf/mosquitto_dynamic_security.so',
  '/usr/lib/mosquitto_dynamic_security.so',
  '/usr/local/lib/mosquitto_dynamic_security.so',
];

export function findDynsecPlugin(exists: (path: string) => boolean = existsSync): string | undefined {
  return DYNSEC_PLUGIN_PATHS.find((path) => exists(path));
}

export interface DynsecPassword {
  /** base64 of the PBKDF2 hash */
  password: string;
  /** base64 of the salt */
  salt: string;
  iterations: number;
}

export function hashDynsecPassword(
  password: string,
  salt: Buffer = randomBytes(SALT_BYTES),
  iterations = MOSQUITTO_PBKDF2_ITERATIONS,
): DynsecPassword {
  const hash = pbkdf2Sync(password, salt, iterations, HASH_BYTES, 'sha512');
  return { password: hash.toString('base64'), salt: salt.toString('base64'), iterations };
}

export function verifyDynsecPassword(password: string, stored: DynsecPassword): boolean {
  return (
    hashDynsecPassword(password, Buffer.from(stored.salt, 'base64'), stored.iterations).password === stored.password
  );
}

export interface MosquittoAccount {
  /** Username = client id = token `sub`. */
  username: string;
  role: MqttRole;
  compound?: string;
  /** The signed token the account logs in with. */
  password: string;
}

export type DynsecAclType = 'publishClientSend' | 'publishClientReceive' | 'subscribePattern' | 'unsubscribePattern';

export interface DynsecAcl {
  acltype: DynsecAclType;
  topic: string;
  allow: boolean;
}

export interface DynsecRole {
  rolename: string;
  textname?: string;
  acls: DynsecAcl[];
}

/** The role of an account: shared by every cloud (or observer), one of its own for each gate. */
function roleNameOf(account: Pick<MosquittoAccount, 'username' | 'role'>): string {
  return account.role === 'gate' ? `anxin-gate-${assertId('gate', account.username)}` : `anxin-${account.role}`;
}

/**
 * The ACLs equivalent to `ROLE_POLICIES` for one account. Subscriptions are checked as patterns:
 * the plugin grants a filter only when the role's pattern matches it, so a gate's `#` or another
 * gate's topic gets 0x80; deliveries are checked again against the receive list.
 */
function roleAcls(account: Pick<MosquittoAccount, 'username' | 'role' | 'compound'>): DynsecAcl[] {
  const policy = ROLE_POLICIES[account.role];
  // Gate ids are validated so a `+`, `#` or `/` can never widen a rule (shared/ids.ts).
  const gate = policy.ownGateOnly ? assertId('gate', account.username) : '+';
  const acls: DynsecAcl[] = [];
  const write = (topic: string) => acls.push({ acltype: 'publishClientSend', topic, allow: true });
  const read = (topic: string) => {
    acls.push({ acltype: 'subscribePattern', topic, allow: true });
    // Shared subscriptions are for cloud instances splitting the ingest (acl.ts).
    if (account.role === 'cloud') acls.push({ acltype: 'subscribePattern', topic: `$share/+/${topic}`, allow: true });
    acls.push({ acltype: 'publishClientReceive', topic, allow: true });
  };
  for (const kind of GATE_TOPIC_KINDS) {
    if (policy.gateWrites.includes(kind)) write(`${TOPIC_PREFIX}/gates/${gate}/${kind}`);
    if (policy.gateReads.includes(kind)) read(`${TOPIC_PREFIX}/gates/${gate}/${kind}`);
  }
  if (policy.cloudStatus === 'write') write(CLOUD_STATUS_TOPIC);
  // Everyone reads the cloud's readiness, the cloud its own too (acl.ts).
  read(CLOUD_STATUS_TOPIC);
  if (policy.compoundChanges === 'write-any') write(`${TOPIC_PREFIX}/compounds/+/changes`);
  if (policy.compoundChanges === 'read-own' && account.compound) {
    read(`${TOPIC_PREFIX}/compounds/${assertId('compound', account.compound)}/changes`);
  }
  return acls;
}

/** The administrator's role: the plugin's control topic and nothing else. */
const ADMIN_ROLE: DynsecRole = {
  rolename: 'anxin-admin',
  textname: 'changes accounts over $CONTROL/dynamic-security/v1',
  acls: [
    { acltype: 'publishClientSend', topic: '$CONTROL/dynamic-security/#', allow: true },
    { acltype: 'publishClientReceive', topic: '$CONTROL/dynamic-security/#', allow: true },
    { acltype: 'subscribePattern', topic: '$CONTROL/dynamic-security/#', allow: true },
  ],
};

export function roleOf(account: Pick<MosquittoAccount, 'username' | 'role' | 'compound'>): DynsecRole {
  return {
    rolename: roleNameOf(account),
    textname: account.role === 'gate' ? `gate of compound ${account.compound ?? '(none)'}` : account.role,
    acls: roleAcls(account),
  };
}

export interface MosquittoAdmin {
  /** The broker as the administrator reaches it, e.g. mqtt://127.0.0.1:1883. */
  url: string;
  username: string;
  password: string;
}

export interface MosquittoConfigInput {
  /** Where the files will live; mosquitto.conf names the plugin's file by absolute path. */
  dir: string;
  port: number;
  /** Interface to bind (default: all). */
  host?: string;
  accounts: readonly MosquittoAccount[];
  /** The administrator account (`admin.json`), which `anxin gate add` and the cloud use. */
  admin: { username?: string; password: string };
  /** Largest accepted payload in bytes (default 1 MiB, as the embedded broker). */
  maxPayload?: number;
  /**
   * Bytes Mosquitto may queue for one client beyond its in-flight window (default 1 GiB): the
   * cloud's backlog while it reads slower than the gates publish. Past it Mosquitto drops QoS 1
   * messages (it cannot make publishers wait); the gates resend them after their ack timeout.
   */
  maxQueuedBytes?: number;
  /** Mosquitto started as root drops to this user (default: Mosquitto's own, `mosquitto`). */
  runAsUser?: string;
  /** TLS listener files (PEM). */
  tls?: { certFile: string; keyFile: string };
  /** The plugin; default: the first of `DYNSEC_PLUGIN_PATHS` that exists. */
  pluginPath?: string;
  /** Salt source (tests); default random. */
  salt?: () => Buffer;
}

export interface MosquittoFiles {
  'mosquitto.conf': string;
  'dynamic-security.json': string;
  /** The administrator's URL and credentials: for the cloud and `anxin gate add`, not for Mosquitto. */
  'admin.json': string;
}

/**
 * The cloud's receive window through Mosquitto, in messages. Not Mosquitto's default of 20: the
 * cloud's PUBACKs leave once per event-loop turn (corked) and none during a commit, so with 20 the
 * link to the cloud was a ping-pong of 20 messages per turn, and a live stream waited on it
 * (BENCHMARKS.md, 2026-12-05 10:10). A count, not `max_inflight_bytes`: Mosquitto 2.0 compares
 * that with every byte it holds for the client, queued or in flight, so a backlog above it would
 * stop deliveries altogether. Bounded all the same: at most this many packets of
 * `max_packet_size` beyond `max_queued_bytes` (~40 MB of 400 KB drain batches).
 */
export const MOSQUITTO_MAX_INFLIGHT = 100;
/** What Mosquitto may queue for one client (the cloud) beyond its in-flight window. */
export const MOSQUITTO_DEFAULT_MAX_QUEUED_BYTES = 1024 * 1024 * 1024;

/**
 * Why `maxQueuedBytes` cannot bound the queue, or undefined. It must hold at least one packet of
 * `max_packet_size`: a smaller queue drops every largest message queued, and 0 means "no limit" to
 * Mosquitto — the unbounded memory the setting is there to prevent.
 */
export function maxQueuedBytesProblem(maxQueuedBytes: number, maxPayload = DEFAULT_MAX_PAYLOAD) {
  const packet = maxPayload + PACKET_OVERHEAD_BYTES;
  if (!Number.isSafeInteger(maxQueuedBytes) || maxQueuedBytes < packet) {
    return `must be a whole number of bytes, at least ${packet} (one largest packet: max payload + ${PACKET_OVERHEAD_BYTES})`;
  }
  return undefined;
}
const DEFAULT_ADMIN_USERNAME = 'anxin-admin';

export class DynsecPluginMissingError extends Error {
  constructor() {
    super(`Mosquitto's dynamic-security plugin was not found (looked for ${DYNSEC_PLUGIN_PATHS.join(', ')})`);
  }
}

function dynsecClient(username: string, password: string, rolename: string, salt?: () => Buffer) {
  return { username, ...hashDynsecPassword(password, salt?.()), roles: [{ rolename }] };
}

export function generateMosquittoConfig(input: MosquittoConfigInput): MosquittoFiles {
  const adminUsername = input.admin.username ?? DEFAULT_ADMIN_USERNAME;
  const usernames = new Set<string>([adminUsername]);
  for (const account of input.accounts) {
    if (usernames.has(account.username)) throw new TypeError(`accounts: duplicate username "${account.username}"`);
    if (!/^[A-Za-z0-9_.-]{1,128}$/.test(account.username)) {
      throw new TypeError(`accounts: username ${JSON.stringify(account.username)} is not a safe account name`);
    }
    usernames.add(account.username);
  }
  const pluginPath = input.pluginPath ?? findDynsecPlugin();
  if (!pluginPath) throw new DynsecPluginMissingError();
  const maxPayload = input.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  const maxQueuedBytes = input.maxQueuedBytes ?? MOSQUITTO_DEFAULT_MAX_QUEUED_BYTES;
  const queueProblem = maxQueuedBytesProblem(maxQueuedBytes, maxPayload);
  if (queueProblem) throw new RangeError(`maxQueuedBytes: ${maxQueuedBytes} ${queueProblem}`);
  const conf = [
    '# Generated by `anxin broker mosquitto-config` (docs/deploy.md).',
    'per_listener_settings false',
    'allow_anonymous false',
    `plugin ${pluginPath}`,
    `plugin_opt_config_file ${join(input.dir, 'dynamic-security.json')}`,
    // The whole packet: the largest docs/contract.md payload plus its topic and headers. A larger
    // packet disconnects its sender when its header arrives, before Mosquitto buffers it.
    `max_packet_size ${maxPayload + PACKET_OVERHEAD_BYTES}`,
    // Flow control towards the cloud (docs/deploy.md, "Flow control towards the cloud"): at most
    // MOSQUITTO_MAX_INFLIGHT QoS 1 messages unacknowledged at a time (the cloud acks each once its
    // ingest took it), the rest queued by size, not by Mosquitto's default count of 1000 — which a
    // fleet's drain after an outage (gates × 4 batches in flight) passes, and beyond which Mosquitto
    // drops. Mosquitto has no per-client limits: these apply to every client.
    `max_inflight_messages ${MOSQUITTO_MAX_INFLIGHT}`,
    // A count far past any backlog, not 0 ("no limit"): with 0, Mosquitto 2.0.11 stopped delivering
    // a gate's publishes after one the gate's role denied (test/broker/mosquitto-interop.integration.test.ts).
    'max_queued_messages 1000000',
    `max_queued_bytes ${maxQueuedBytes}`,
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    `user ${input.runAsUser ?? 'mosquitto'}`,
    '',
    `listener ${input.port}${input.host ? ` ${input.host}` : ''}`,
    'protocol mqtt',
    // The client id is the account's name (= the token's sub), whatever the client sends: a stolen
    // gate token cannot take over the cloud's or another gate's session by naming its client id.
    // Mosquitto reads it per listener, so it must follow the listener line.
    'use_username_as_clientid true',
    ...(input.tls ? [`certfile ${input.tls.certFile}`, `keyfile ${input.tls.keyFile}`] : []),
    '',
  ].join('\n');

  const roles = new Map<string, DynsecRole>([[ADMIN_ROLE.rolename, ADMIN_ROLE]]);
  for (const account of input.accounts) {
    const role = roleOf(account);
    roles.set(role.rolename, role);
  }
  const dynsec = {
    defaultACLAccess: { publishClientSend: false, publishClientReceive: false, subscribe: false, unsubscribe: true },
    clients: [
      dynsecClient(adminUsername, input.admin.password, ADMIN_ROLE.rolename, input.salt),
      ...input.accounts.map((a) => dynsecClient(a.username, a.password, roleNameOf(a), input.salt)),
    ],
    groups: [],
    roles: [...roles.values()],
  };
  const host = !input.host || input.host === '0.0.0.0' || input.host === '::' ? '127.0.0.1' : input.host;
  const admin: MosquittoAdmin = {
    url: `${input.tls ? 'mqtts' : 'mqtt'}://${host}:${input.port}`,
    username: adminUsername,
    password: input.admin.password,
  };
  return {
    'mosquitto.conf': conf,
    'dynamic-security.json': `${JSON.stringify(dynsec, null, 2)}\n`,
    'admin.json': `${JSON.stringify(admin, null, 2)}\n`,
  };
}

export interface AccountRequest {
  gates?: readonly { id: string; compound: string }[];
  clouds?: readonly string[];
  observers?: readonly string[];
}

/**
 * Accounts with freshly signed tokens as passwords. `sign` is `signToken` bound to the deployment
 * key (kept as a parameter so this module stays free of keys).
 */
export function mosquittoAccounts(
  request: AccountRequest,
  sign: (claims: { sub: string; role: MqttRole; compound?: string }) => string,
): MosquittoAccount[] {
  const accounts: MosquittoAccount[] = [];
  const add = (username: string, role: MqttRole, compound?: string) =>
    accounts.push({
      username,
      role,
      ...(compound ? { compound } : {}),
      password: sign({ sub: username, role, ...(compound ? { compound } : {}) }),
    });
  for (const gate of request.gates ?? []) add(assertId('gate', gate.id), 'gate', assertId('compound', gate.compound));
  for (const name of request.clouds ?? []) add(name, 'cloud');
  for (const name of request.observers ?? []) add(name, 'observer');
  return accounts;
}

/** A random administrator password (URL-safe, 32 bytes of entropy). */
export function newAdminPassword(): string {
  return randomBytes(32).toString('base64url');
}
