/**
 * Changes the accounts of a running Mosquitto through its dynamic-security plugin: JSON commands
 * published on `$CONTROL/dynamic-security/v1`, answered on `…/v1/response` (the protocol
 * `mosquitto_ctrl dynsec` speaks). Each call opens its own short connection as the administrator
 * of `admin.json`, sends one batch and waits for its answer, so nothing stays connected between
 * the rare calls (adding a gate, issuing or revoking its token).
 *
 * - `putGate`: the gate's own role (its topics only, `mosquitto-config.ts`) and its account with
 *   the given token as password — replacing any earlier account of that gate, which also
 *   disconnects a session still using the old token.
 * - `disableGate`: the plugin refuses the account from now on and disconnects it at once; no
 *   other account is touched.
 */
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { AnxinError } from '../shared/errors.ts';
import { type MosquittoAdmin, roleOf } from './mosquitto-config.ts';

const DYNSEC_TOPIC = '$CONTROL/dynamic-security/v1';
const DYNSEC_RESPONSE_TOPIC = `${DYNSEC_TOPIC}/response`;
const DEFAULT_TIMEOUT_MS = 10_000;

export type DynsecCommand = { command: string } & Record<string, unknown>;

export interface DynsecResponse {
  command: string;
  error?: string;
  correlationData?: string;
  data?: unknown;
}

class DynsecError extends AnxinError {
  constructor(message: string, cause?: unknown) {
    super('mosquitto-dynsec-failed', message, cause === undefined ? undefined : { cause });
  }
}

/** Reads `admin.json` as `anxin broker mosquitto-config` wrote it. */
export function readMosquittoAdmin(path: string): MosquittoAdmin {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new DynsecError(`${path}: ${(error as Error).message}`);
  }
  const admin = parsed as Partial<MosquittoAdmin>;
  if (typeof admin.url !== 'string' || typeof admin.username !== 'string' || typeof admin.password !== 'string') {
    throw new DynsecError(`${path}: expected {"url", "username", "password"}`);
  }
  return { url: admin.url, username: admin.username, password: admin.password };
}

/**
 * Sends the commands as one batch; resolves with one response per command, in order. Errors the
 * caller expects (e.g. deleting what does not exist) are in the responses, not thrown; a refused
 * connection, a timeout or a missing answer throws `DynsecError`.
 */
async function sendDynsecCommands(
  admin: MosquittoAdmin,
  commands: readonly DynsecCommand[],
  options: { timeoutMs?: number; ca?: string | Buffer } = {},
): Promise<DynsecResponse[]> {
  const client = mqtt.connect(admin.url, {
    protocolVersion: 4,
    clientId: admin.username,
    username: admin.username,
    password: admin.password,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...(options.ca ? { ca: options.ca } : {}),
  });
  const tag = `anxin-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const tagged = commands.map((command, i) => ({ ...command, correlationData: `${tag}-${i}` }));
  try {
    return await new Promise<DynsecResponse[]>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new DynsecError(`no answer from ${admin.url} within ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`)),
        options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      );
      const fail = (error: Error) => {
        clearTimeout(timer);
        reject(new DynsecError(`${admin.url} as ${admin.username}: ${error.message}`, error));
      };
      client.once('error', fail);
      client.on('message', (_topic, payload) => {
        let responses: DynsecResponse[];
        try {
          responses = (JSON.parse(payload.toString('utf8')) as { responses: DynsecResponse[] }).responses;
        } catch {
          return;
        }
        const ours = responses.filter((r) => r.correlationData?.startsWith(`${tag}-`));
        if (ours.length === 0) return;
        clearTimeout(timer);
        resolve(tagged.map((c) => ours.find((r) => r.correlationData === c.correlationData) ?? { command: c.command }));
      });
      client.once('connect', () => {
        client.subscribe(DYNSEC_RESPONSE_TOPIC, { qos: 1 }, (error, granted) => {
          if (error) return fail(error);
          if (granted?.[0]?.qos === 128) return fail(new Error(`${DYNSEC_RESPONSE_TOPIC}: subscription refused`));
          client.publish(DYNSEC_TOPIC, JSON.stringify({ commands: tagged }), { qos: 1 }, (err) => {
            if (err) fail(err);
          });
        });
      });
    });
  } finally {
    await client.endAsync(true).catch(() => {});
  }
}

/** Throws the first error among the responses, ignoring those `tolerate` accepts. */
function check(responses: readonly DynsecResponse[], tolerate: (r: DynsecResponse) => boolean = () => false): void {
  const failed = responses.find((r) => r.error !== undefined && !tolerate(r));
  if (failed) throw new DynsecError(`${failed.command}: ${failed.error}`);
}

/** The commands that (re)create a gate's role and account with `token` as its password. */
function putGateCommands(gate: { id: string; compoundId: string }, token: string): DynsecCommand[] {
  const role = roleOf({ username: gate.id, role: 'gate', compound: gate.compoundId });
  return [
    { command: 'deleteClient', username: gate.id },
    { command: 'deleteRole', rolename: role.rolename },
    { command: 'createRole', rolename: role.rolename, textname: role.textname, acls: role.acls },
    { command: 'createClient', username: gate.id, password: token, roles: [{ rolename: role.rolename }] },
  ];
}

/** What a cloud (or `anxin gate add`) changes on Mosquitto: one gate's account at a time. */
export interface BrokerAccounts {
  /** Creates or replaces the gate's account, with this token as its password. */
  putGate(gate: { id: string; compoundId: string }, token: string): Promise<void>;
  /** Refuses the gate's account from now on and disconnects its session. */
  disableGate(gateId: string): Promise<void>;
}

export function dynsecBrokerAccounts(admin: MosquittoAdmin, options: { timeoutMs?: number } = {}): BrokerAccounts {
  return {
    async putGate(gate, token) {
      const responses = await sendDynsecCommands(admin, putGateCommands(gate, token), options);
      // The first two clear what an earlier call left; on a new gate there is nothing to clear.
      check(responses, (r) => r.command === 'deleteClient' || r.command === 'deleteRole');
    },
    async disableGate(gateId) {
      check(await sendDynsecCommands(admin, [{ command: 'disableClient', username: gateId }], options));
    },
  };
}
