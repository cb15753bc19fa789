/**
 * The gate's MQTT connection (docs/contract.md "MQTT"): username = gate id, password = device token,
 * the retained last will `online: false` on `gates/{gateId}/status`, automatic reconnects, and the
 * gate's subscriptions (`ack`, `cmd`, `sync`, its compound's `changes`).
 *
 * Publishing is fire-and-forget and refuses while offline: the journal, not MQTT.js's offline
 * queue, is the gate's store-and-forward (docs/architecture.md rule 2).
 *
 * The link never gives up: every attempt after a close — a refused CONNACK included, after which
 * MQTT.js alone would stop for good — is scheduled with backoff by `ReconnectSupervisor`
 * (shared/mqtt-reconnect.ts), and the token is read again from `tokenFile` before each one, so a
 * rotated token takes effect without a restart. `linkState` says `refused`/`unreachable` while
 * the link is down; the gate reports itself `degraded` meanwhile (gate-status.ts, `health()`).
 *
 * Over `mqtts://`/`wss://` the broker's certificate is always verified: against Node's built-in CA
 * list, or, with `caFile` (a PEM bundle, for a deployment's private CA; docs/deploy.md "TLS"),
 * against the bundle's CAs only.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { ConfigError } from '../shared/errors.ts';
import type { Logger } from '../shared/log.ts';
import { type LinkState, ReconnectSupervisor, withoutNagle } from '../shared/mqtt-reconnect.ts';
import type { EventPublisher } from './uplink.ts';
import { tlsHint } from '../shared/tls-hint.ts';

/** How long `stop()` waits for the broker to take what is in flight before closing anyway. */
const STOP_GRACE_MS = 2_000;
/** The longest wait between two connect attempts (the first waits `reconnectMs`, then doubling). */
export const RECONNECT_MAX_MS = 30_000;

export interface MqttLinkOptions {
  url: string;
  gateId: string;
  token?: string;
  /** File holding the token, read before every attempt (wins over `token`); config `mqtt.tokenFile`. */
  tokenFile?: string;
  /** A token to fall back on while the broker refuses `token` (the configured one, when a renewed token won). */
  previousToken?: string;
  /** PEM bundle of the CA(s) that sign the broker's certificate (config `mqtt.caFile`); read at construction. */
  caFile?: string;
  subscriptions: string[];
  will: { topic: string; payload: () => string };
  keepaliveSec: number;
  reconnectMs: number;
  logger: Logger;
}

export interface MqttLinkEvents {
  up: [];
  down: [];
  /** The link's state changed (connecting, connected, refused, unreachable). */
  state: [state: LinkState];
  message: [topic: string, payload: Buffer];
}

/** Reads a token file (trimmed); a `ConfigError` naming `mqtt.tokenFile` when it cannot. */
export function readTokenFile(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError([`mqtt.tokenFile: cannot read ${file}: ${code}`]);
  }
  if (token.length === 0 || token.length > 4096) throw new ConfigError([`mqtt.tokenFile: ${file} holds no token`]);
  return token;
}

/**
 * Reads a PEM CA bundle for MQTT.js's `ca`. A missing, unreadable or non-PEM file is a
 * `ConfigError` with one `<configPath>: message` line (the command exits 2).
 */
function readCaFile(file: string, configPath = 'mqtt.caFile'): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError([`${configPath}: cannot read ${file}: ${code}`]);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError([`${configPath}: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`]);
  }
  return pem;
}

export class MqttLink extends EventEmitter<MqttLinkEvents> implements EventPublisher {
  private client: MqttClient | undefined;
  private supervisor: ReconnectSupervisor | undefined;
  private readonly log: Logger;
  private readonly ca: Buffer | undefined;
  private online = false;
  /** A token the cloud renewed during this run (edge-agent/token-store.ts): wins over `token` and `tokenFile`. */
  private renewedToken: string | undefined;
  /**
   * The token in use before the renewed one. A broker may not know a renewed token yet (Mosquitto's
   * account keeps its password until an admin updates it), so a refused CONNACK alternates between
   * the two at each attempt instead of locking the gate out with a token only the cloud knows.
   */
  private previousToken: string | undefined;
  private onPrevious = false;
  readonly counters = { connects: 0, disconnects: 0, publishRefused: 0, publishErrors: 0 };

  constructor(private readonly options: MqttLinkOptions) {
    super();
    this.log = options.logger.child({ component: 'edge.mqtt' });
    this.previousToken = options.previousToken;
    // Read now, so a bad path fails the gate's start instead of every connect attempt.
    this.ca = options.caFile === undefined ? undefined : readCaFile(options.caFile);
  }

  /** A renewed device token: sent from the next (re)connect on; the open session keeps its own. */
  setToken(token: string): void {
    this.previousToken = this.currentToken();
    this.renewedToken = token;
    this.onPrevious = false;
    if (this.client) this.client.options.password = token;
  }

  /** The token the next CONNECT presents: the renewed one, or the previous one while the broker refuses it. */
  get tokenInUse(): string | undefined {
    return this.currentToken();
  }

  /** True while the broker refused the renewed token and the link fell back to the previous one. */
  get usingPreviousToken(): boolean {
    return this.onPrevious && this.previousToken !== undefined;
  }

  get connected(): boolean {
    return this.online;
  }

  /** What the link is doing (`connected`, `connecting`, `refused`, `unreachable`, `stopped`). */
  get linkState(): LinkState {
    return this.supervisor?.state ?? 'stopped';
  }

  /** Why the last attempt failed, and how many failed since the link was last up. */
  get lastFailure(): { error: string | undefined; attempts: number } {
    return { error: this.supervisor?.lastError, attempts: this.supervisor?.failedAttempts ?? 0 };
  }

  private currentToken(): string | undefined {
    if (this.onPrevious && this.previousToken !== undefined) return this.previousToken;
    if (this.renewedToken !== undefined) return this.renewedToken;
    return this.options.tokenFile === undefined ? this.options.token : readTokenFile(this.options.tokenFile);
  }

  start(): void {
    const { url, gateId, keepaliveSec, reconnectMs, will } = this.options;
    const token = this.currentToken();
    const client = mqtt.connect(url, {
      clientId: gateId,
      username: gateId,
      ...(token === undefined ? {} : { password: token }),
      // Verification stays on; `ca` replaces Node's built-in CA list (only the bundle's CAs are trusted).
      ...(this.ca === undefined ? {} : { ca: this.ca }),
      rejectUnauthorized: true,
      protocolVersion: 4,
      clean: true,
      keepalive: keepaliveSec,
      // The supervisor schedules every reconnect (with backoff, also after a refused CONNACK).
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      queueQoSZero: false,
      // mqtt-packet otherwise builds, at the first packet, a 2-byte Buffer for each of the 65,536
      // packet ids: ≈ 7.5 MB of the gate's heap for the life of the process, to save one tiny
      // allocation per QoS 1 publish or ack (docs/edge-agent.md, "Memory").
      writeCache: false,
      will: { topic: will.topic, payload: Buffer.from(will.payload()), qos: 1, retain: true },
    });
    this.client = client;
    this.supervisor = new ReconnectSupervisor(client, {
      backoff: { initialMs: reconnectMs, maxMs: Math.max(reconnectMs, RECONNECT_MAX_MS) },
      beforeAttempt: () => {
        if (this.supervisor?.state === 'refused' && this.previousToken !== undefined) {
          this.onPrevious = !this.onPrevious;
          this.log.warn(
            { token: this.onPrevious ? 'previous' : 'renewed' },
            'the broker refused the device token; trying the other one',
          );
        }
        // A rotated token is picked up here; a file that cannot be read now is retried at the next attempt.
        const fresh = this.currentToken();
        if (fresh !== undefined) client.options.password = fresh;
      },
      logger: this.log,
      onState: (state) => {
        if (state === 'refused') {
          this.log.error(
            { err: this.supervisor?.lastError },
            'the broker refused the connection; retrying with backoff',
          );
        }
        this.emit('state', state);
      },
    });
    client.on('connect', () => {
      withoutNagle(client);
      this.counters.connects += 1;
      client.subscribe(this.options.subscriptions, { qos: 1 }, (error, granted) => {
        const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
        if (error || refused.length > 0) {
          this.log.error({ err: error?.message, refused }, 'subscription refused by the broker');
        }
      });
      this.online = true;
      this.log.info({ url }, 'connected');
      this.emit('up');
    });
    client.on('close', () => {
      if (!this.online) return;
      this.online = false;
      this.counters.disconnects += 1;
      this.log.warn('disconnected; reconnecting');
      this.emit('down');
    });
    client.on('reconnect', () => {
      // The will is sent with each CONNECT: refresh it so it carries the current mode and rev.
      if (client.options.will) client.options.will.payload = Buffer.from(will.payload());
    });
    client.on('error', (error) => {
      const hint = tlsHint(error, 'mqtt.caFile in gate.json (anxin gate add --mqtt-ca FILE)');
      this.log.warn({ err: error.message, ...(hint ? { hint } : {}) }, 'mqtt error');
    });
    client.on('message', (topic, payload) => this.emit('message', topic, payload));
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.online = false;
    this.supervisor?.stop();
    if (!client) return;
    // A graceful end waits for the broker to take what is in flight (the offline status); a broker
    // that vanished meanwhile would keep the gate from ever stopping, so give up after a while.
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), STOP_GRACE_MS);
    });
    const ended = await Promise.race([client.endAsync(false).then(() => 'ended' as const), gaveUp]).catch(
      () => 'failed' as const,
    );
    clearTimeout(timer);
    if (ended !== 'ended') await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  }

  publish(topic: string, payload: string, options: { qos: 0 | 1; retain?: boolean }): boolean {
    const client = this.client;
    if (!client || !this.online || !client.connected) {
      this.counters.publishRefused += 1;
      return false;
    }
    client.publish(topic, payload, { qos: options.qos, retain: options.retain ?? false }, (error) => {
      if (error) {
        this.counters.publishErrors += 1;
        this.log.debug({ err: error.message, topic }, 'publish not completed');
      }
    });
    return true;
  }
}
