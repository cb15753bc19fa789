/** Keys, tokens and MQTT.js clients shared by the broker suites. */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { generateSigningKey, type KeyRing, type SigningKey } from '../../shared/keys.ts';
import type { Role } from '../../shared/enums.ts';
import { signToken } from '../../shared/token.ts';
import type { Socket } from 'node:net';
import { RawMqttClient } from './raw-mqtt.ts';

export const signingKey: SigningKey = generateSigningKey(1);
export const ring: KeyRing = new Map([[signingKey.kid, signingKey.publicKey]]);

const HOUR = 3_600_000;

export function tokenFor(
  sub: string,
  role: Role,
  extra: { compound?: string; exp?: number; jti?: string; iat?: number; key?: SigningKey } = {},
): string {
  return signToken(
    {
      sub,
      role,
      exp: extra.exp ?? Date.now() + HOUR,
      ...(extra.compound ? { compound: extra.compound } : {}),
      ...(extra.jti ? { jti: extra.jti } : {}),
      ...(extra.iat !== undefined ? { iat: extra.iat } : {}),
    },
    extra.key ?? signingKey,
  );
}

/** Every client the suites open, so `closeAll()` in afterEach leaves no socket behind. */
const opened = new Set<MqttClient>();

const base: IClientOptions = { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5_000, clean: true };

/** Connects and resolves on CONNACK 0; rejects with the MQTT.js error (whose `.code` is the CONNACK code). */
export function connect(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { ...base, ...options });
  opened.add(client);
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (error) => {
      client.end(true);
      reject(error);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

/** A gate/cloud/observer client with username = client id = sub and a token as password. */
export function connectAs(
  url: string,
  clientId: string,
  role: Role,
  extra: { compound?: string } & IClientOptions = {},
): Promise<MqttClient> {
  const { compound, ...options } = extra;
  return connect(url, {
    clientId,
    username: clientId,
    password: tokenFor(clientId, role, compound ? { compound } : {}),
    ...options,
  });
}

/** The CONNACK return code of a refused connection. */
export async function refusedCode(url: string, options: IClientOptions): Promise<number | undefined> {
  try {
    const client = await connect(url, options);
    client.end(true);
  } catch (error) {
    return (error as { code?: number }).code;
  }
  throw new Error('the connection was accepted');
}

/**
 * The SUBACK's granted QoS per filter, in order (128 = refused, MQTT 3.1.1 §3.9.3). MQTT.js 5
 * rejects the whole subscribe when any entry has bit 0x80 set, with the SUBACK on `error.packet`.
 */
export async function grantedQos(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    const granted = await client.subscribeAsync(filters, { qos: 1 });
    return granted.map((g) => g.qos);
  } catch (error) {
    const granted = (error as { packet?: { granted?: number[] } }).packet?.granted;
    if (!granted) throw error;
    return granted;
  }
}

/** Collects every message a client receives. */
export function collect(client: MqttClient): { topic: string; payload: string; retain: boolean }[] {
  const seen: { topic: string; payload: string; retain: boolean }[] = [];
  client.on('message', (topic, payload, packet) =>
    seen.push({ topic, payload: payload.toString(), retain: packet.retain }),
  );
  return seen;
}

/** Resolves with the first message on `topic` whose payload satisfies `match`. */
export function nextMessage(client: MqttClient, topic: string, match: (payload: string) => boolean = () => true) {
  return new Promise<{ topic: string; payload: string; retain: boolean }>((resolve) => {
    const onMessage = (t: string, payload: Buffer, packet: { retain: boolean }) => {
      if (t !== topic || !match(payload.toString())) return;
      client.off('message', onMessage);
      resolve({ topic: t, payload: payload.toString(), retain: packet.retain });
    };
    client.on('message', onMessage);
  });
}

export function closed(client: MqttClient): Promise<void> {
  if (!client.connected && client.disconnected) return Promise.resolve();
  return new Promise((resolve) => client.once('close', () => resolve()));
}

export async function closeAll(): Promise<void> {
  await Promise.all([...opened].map((client) => client.endAsync(true).catch(() => undefined)));
  opened.clear();
}

/**
 * A raw client signed in as gate `id` (of compound c1) or as the cloud `id`, keepalive off; its
 * socket joins `sockets`, which the test destroys after each case. Throws if the CONNACK refuses.
 */
export async function signedInRaw(
  port: number,
  id: string,
  role: 'gate' | 'cloud',
  sockets: Socket[],
): Promise<RawMqttClient> {
  const raw = await RawMqttClient.open(port);
  sockets.push(raw.socket);
  const extra = role === 'gate' ? { compound: 'c1' } : {};
  const login = { clientId: id, username: id, password: tokenFor(id, role, extra), keepalive: 0 };
  const { returnCode } = await raw.connect(login);
  if (returnCode !== 0) throw new Error(`${id} refused with CONNACK ${returnCode}`);
  return raw;
}
