/**
 * The cloud's MQTT connection (MQTT.js). It subscribes to every gate's events, status, alarms,
 * command results and sync requests, and takes messages one at a time: `handleMessage` is
 * overridden so MQTT.js waits for our `done` before the next packet and sends the QoS 1 PUBACK
 * only then — a full ingest queue thus pushes back on the broker over TCP (docs/cloud.md).
 *
 * With `sharedGroup`, several cloud instances split the gates' messages: every kind but `status`
 * is subscribed as `$share/<group>/…`, so a broker with shared subscriptions (Mosquitto ≥ 1.6,
 * EMQX, HiveMQ) hands each message to one instance of the group. `status` stays a plain
 * subscription: every instance serves live status, and brokers send no retained messages to
 * shared subscriptions. A broker without shared subscriptions — the embedded one (aedes) refuses
 * `$share/…` with SUBACK 0x80 (broker/aedes-hooks.ts) — is a configuration error, not a degraded
 * mode: `start()` fails with `SharedSubscriptionsRefusedError` (so `anxin cloud` exits 2 saying
 * why), and a refusal after a later reconnect ends the link and shows on `/healthz` (docs/deploy.md).
 *
 * Over `mqtts://`/`wss://` the broker's certificate is always verified, against `ca` when given.
 *
 * The client never gives up: every reconnect — also after a refused CONNACK (a rotated key or
 * password), after which MQTT.js alone would stop for good — is scheduled with backoff by
 * `ReconnectSupervisor` (shared/mqtt-reconnect.ts), and `token()` is asked again before each
 * attempt (a fresh signed token, or the token file read again: a rotated token needs no restart).
 * `linkState` feeds `/healthz`, which says `degraded` while the link is down (cloud-service.ts).
 *
 * Readiness (docs/edge-agent.md "Cloud readiness"): gates and cloud use clean sessions, so what a
 * gate publishes before the cloud has re-subscribed (after a broker restart) is dropped by the
 * broker. Once its subscriptions are granted the cloud publishes `{online: true}` retained on
 * `anxin/v1/cloud/status`; its last will (and a clean stop) sets `{online: false}`. Gates resend
 * their backlog and ask for sync on `online: true`. With a shared group, an instance neither
 * leaves a will nor says `online: false` when it stops: the others are still there.
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { AnxinError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import { type LinkState, ReconnectSupervisor, withoutNagle } from '../../shared/mqtt-reconnect.ts';
import type { CloudStatus } from '../../shared/schemas/mqtt.ts';
import { filters, topics } from '../../shared/topics.ts';
import { tlsHint } from '../../shared/tls-hint.ts';
import { type IntervalTimer, KeepaliveDuringHolds } from './keepalive-during-holds.ts';

const SUBSCRIBED_KINDS = [
  'events',
  'status',
  'alarms',
  'cmd/result',
  'sync/request',
  'sync/ack',
  'claims',
  'claims/ask',
] as const;
/**
 * The kinds subscribed through `$share/<group>/` when a shared group is set: all but `status` and
 * `sync/ack` (every instance hears a gate's snapshot acks; the one sending it that snapshot acts).
 */
const SHARED_KINDS: readonly (typeof SUBSCRIBED_KINDS)[number][] = SUBSCRIBED_KINDS.filter(
  (kind) => kind !== 'status' && kind !== 'sync/ack',
);
/** `DEBUG=mqttjs*` (or `*`) turns MQTT.js's own trace back on. */
const mqttTraceOn = (): boolean => /(^|,)\s*(mqttjs|\*)/.test(process.env.DEBUG ?? '');
const noTrace = (): void => {};
/**
 * The cloud's MQTT keepalive (seconds). MQTT.js pings after a keepalive without an ack or PINGRESP
 * and gives the link up 1.5 × keepalive after the last one: a broker that dies silently (host gone,
 * half-open TCP) is noticed — the link drops and `/healthz` says `degraded` — within 22.5 s, not the
 * 90 s of MQTT.js's default 60 s, and before the gates (30 s keepalive: 45 s) see it. MQTT.js
 * counts only acks and PINGRESPs as the broker's answer, and while ingest holds it back
 * (docs/cloud.md, "Backpressure") those wait unread behind the held message: so every message
 * handled counts as an answer too, and during a hold the cloud pings without waiting for the answers
 * (`KeepaliveDuringHolds`) — a cloud held back by its own store is not cut off by its keepalive,
 * for up to `holdCapKeepalives` keepalives of one hold (docs/deploy.md, "A broker that dies silently").
 */
export const CLOUD_MQTT_KEEPALIVE_S = 15;
/** A shared-subscription group name: one topic level, no wildcards (`anxin cloud --mqtt-share-group`). */
export const SHARE_GROUP_PATTERN = /^[a-z0-9-]{1,64}$/;
const PUBLISH_TIMEOUT_MS = 10_000;
const CONNECT_WAIT_MS = 10_000;
/** How long `stop()` waits for a graceful end before closing the connection anyway. */
const STOP_GRACE_MS = 2_000;

export class MqttUnavailableError extends AnxinError {
  constructor(message = 'the MQTT broker is not connected') {
    super('mqtt-unavailable', message);
  }
}

/** The broker refused the `$share/<group>/…` subscriptions: it has no shared subscriptions (aedes 1.x). */
export class SharedSubscriptionsRefusedError extends AnxinError {
  constructor(group: string, url: string) {
    super(
      'mqtt-shared-subscriptions-refused',
      `the broker at ${url} refused the shared subscriptions $share/${group}/…: it has none (the embedded ` +
        'broker, aedes, has no $share). Use Mosquitto >= 1.6, EMQX or HiveMQ for several cloud instances, ' +
        'or start this single instance without --mqtt-share-group',
    );
  }
}

export interface CloudMqttClientOptions {
  url: string;
  /** Username and client id; the broker requires both to equal the token's `sub`. */
  clientId: string;
  /** A fresh `cloud` token for each (re)connect. */
  token: () => string;
  /**
   * `retained`: a stored retained message the broker delivered because the cloud subscribed.
   * Returns nothing when the message was taken at once (ingest's fast path), or a promise that
   * resolves when the next message may be taken (docs/cloud.md).
   */
  onMessage(topic: string, payload: Buffer, delivery: { retained: boolean }): Promise<void> | undefined;
  logger: Logger;
  /** How long `start()` waits for the first connection before going on without it (default 10 s). */
  connectWaitMs?: number;
  /** `$share/<group>/` prefix for several cloud instances splitting the ingest (broker permitting). */
  sharedGroup?: string;
  /** PEM CA bundle that signed the broker's certificate (a private CA); replaces Node's built-in CAs. */
  ca?: string | Buffer;
  /** The cloud's clock, stamped on its readiness messages (default `Date.now`). */
  now?: () => number;
  /** First wait after a lost or refused connection, doubling up to `reconnectMaxMs` (default 1 s, 30 s). */
  reconnectMs?: number;
  reconnectMaxMs?: number;
  /** MQTT keepalive in seconds (default `CLOUD_MQTT_KEEPALIVE_S`). */
  keepaliveSec?: number;
  /**
   * Keepalives of one continuous ingest hold after which the keepalive judges the link again
   * (default `HOLD_CAP_KEEPALIVES`, cloud/mqtt/keepalive-during-holds.ts).
   */
  holdCapKeepalives?: number;
  /** Called once per hold that outlasts that cap (`anxin_mqtt_holds_over_cap_total`). */
  onHoldOverCap?: () => void;
  /**
   * Called once per held message whose PUBACK is withheld because its link ended during the hold
   * (`anxin_mqtt_pubacks_withheld_total`): the gate resends it from its journal.
   */
  onPubackWithheld?: () => void;
  /** The keepalive's interval timer, MQTT.js's and the holds' (tests inject one; default native). */
  keepaliveTimer?: IntervalTimer;
}

/** The subscription filters (QoS 1), with the `$share/<group>/` prefix where it applies. */
export function cloudSubscriptions(sharedGroup?: string): Record<string, { qos: 1 }> {
  return Object.fromEntries(
    SUBSCRIBED_KINDS.map((kind) => {
      const prefix = sharedGroup && SHARED_KINDS.includes(kind) ? `$share/${sharedGroup}/` : '';
      return [`${prefix}${filters.allGates(kind)}`, { qos: 1 as const }];
    }),
  );
}

/**
 * The filters the SUBACK refused (0x80). MQTT.js hands the grants to the callback only when all
 * were granted; with a refusal it passes an error carrying the SUBACK, whose codes follow the
 * order of the filters sent.
 */
function deniedFilters(
  sent: readonly string[],
  err: Error | null,
  granted: readonly { topic: string; qos: number }[] | undefined,
): { topic: string; qos: number }[] {
  if (!err && granted) return granted.filter((g) => g.qos === 128);
  const codes = (err as { packet?: { granted?: unknown } } | null)?.packet?.granted;
  if (!Array.isArray(codes)) return [];
  return sent.flatMap((topic, i) => (codes[i] === 128 ? [{ topic, qos: 128 }] : []));
}

export class CloudMqttClient {
  private client: MqttClient | undefined;
  private supervisor: ReconnectSupervisor | undefined;
  /** Publishes waiting for their PUBACK: each fails at once when the connection drops. */
  private readonly inFlight = new Set<(error: Error) => void>();
  private readonly logger: Logger;
  /** Resolves `start()`'s wait once the first subscription is granted (or rejects it on a `$share` refusal). */
  private subscribed: ((error?: Error) => void) | undefined;
  /** Set when the broker refused the shared subscriptions; the link stays down from then on. */
  private sharedRefusal: SharedSubscriptionsRefusedError | undefined;

  constructor(private readonly options: CloudMqttClientOptions) {
    if (options.sharedGroup !== undefined && !SHARE_GROUP_PATTERN.test(options.sharedGroup)) {
      throw new TypeError(`sharedGroup: expected ${SHARE_GROUP_PATTERN}, got ${JSON.stringify(options.sharedGroup)}`);
    }
    this.logger = options.logger.child({ component: 'cloud.mqtt' });
    this.keepalive = new KeepaliveDuringHolds({
      keepaliveSec: options.keepaliveSec ?? CLOUD_MQTT_KEEPALIVE_S,
      logger: this.logger,
      ...(options.holdCapKeepalives !== undefined ? { capKeepalives: options.holdCapKeepalives } : {}),
      ...(options.keepaliveTimer !== undefined ? { timer: options.keepaliveTimer } : {}),
      ...(options.onHoldOverCap !== undefined ? { onOverCap: options.onHoldOverCap } : {}),
    });
  }

  get connected(): boolean {
    return this.sharedRefusal === undefined && this.client?.connected === true;
  }

  /** `connected`, `connecting`, `refused` (the broker refused the CONNACK), `unreachable`, `stopped`. */
  get linkState(): LinkState {
    if (this.sharedRefusal) return 'refused';
    return this.supervisor?.state ?? 'stopped';
  }

  /** Why the last attempt failed, and how many failed since the link was last up. */
  get lastFailure(): { error: string | undefined; attempts: number } {
    if (this.sharedRefusal) return { error: this.sharedRefusal.message, attempts: 1 };
    return { error: this.supervisor?.lastError, attempts: this.supervisor?.failedAttempts ?? 0 };
  }

  private readonly now = (): number => (this.options.now ?? Date.now)();

  private statusPayload(online: boolean): string {
    const status: CloudStatus = { online, ts: this.now() };
    return JSON.stringify(status);
  }

  /** MQTT.js options: clean session, no built-in reconnect, a will only when alone (not in a shared group). */
  private connectOptions(): IClientOptions {
    const alone = this.options.sharedGroup === undefined;
    return {
      clientId: this.options.clientId,
      username: this.options.clientId,
      password: this.options.token(),
      protocolVersion: 4,
      clean: true,
      // The supervisor schedules every reconnect (with backoff, also after a refused CONNACK).
      reconnectPeriod: 0,
      connectTimeout: 5000,
      keepalive: this.options.keepaliveSec ?? CLOUD_MQTT_KEEPALIVE_S,
      resubscribe: false,
      ...(this.options.keepaliveTimer
        ? { timerVariant: this.options.keepaliveTimer as unknown as IClientOptions['timerVariant'] }
        : {}),
      // MQTT.js traces every step of every packet through `debug`; off unless DEBUG asks for it.
      ...(mqttTraceOn() ? {} : { log: noTrace }),
      ...(alone
        ? {
            will: {
              topic: topics.cloudStatus(),
              payload: Buffer.from(this.statusPayload(false)),
              qos: 1,
              retain: true,
            },
          }
        : {}),
      ...(this.options.ca === undefined ? {} : { ca: this.options.ca }),
      // Never relaxed: a broker whose certificate does not verify is not connected to.
      rejectUnauthorized: true,
    };
  }

  async start(): Promise<void> {
    const alone = this.options.sharedGroup === undefined;
    const client = mqtt.connect(this.options.url, this.connectOptions());
    this.client = client;
    // One warning per outage, not one per reconnect attempt.
    let outage = false;
    const initialMs = this.options.reconnectMs ?? 1000;
    this.supervisor = new ReconnectSupervisor(client, {
      backoff: { initialMs, maxMs: Math.max(initialMs, this.options.reconnectMaxMs ?? 30_000) },
      // A fresh token for every attempt, so a long-running cloud never presents an expired or rotated-out one.
      beforeAttempt: () => {
        client.options.password = this.options.token();
      },
      logger: this.logger,
      onState: (state) => {
        if (state === 'connected') outage = false;
        else if (state === 'refused') {
          this.logger.error(
            { err: this.supervisor?.lastError },
            'the broker refused the connection; retrying with backoff',
          );
          outage = true;
        } else if (!outage && state !== 'stopped') {
          this.logger.warn({ state }, 'mqtt offline; reconnecting with backoff');
          outage = true;
        }
      },
    });
    client.handleMessage = (packet, done) => this.handleMessage(client, packet, done);
    client.on('connect', () => {
      withoutNagle(client);
      this.subscribeAll(client);
    });
    client.on('close', () => {
      // A publish waiting for its PUBACK when the connection dropped fails now rather than after
      // PUBLISH_TIMEOUT_MS: a sync answer stuck on a broker restart would hold up every later one,
      // and the gates ask again once the cloud says it is back (docs/edge-agent.md "Cloud readiness").
      for (const fail of [...this.inFlight]) fail(new MqttUnavailableError('the connection dropped before the PUBACK'));
      if (alone && client.options.will) client.options.will.payload = Buffer.from(this.statusPayload(false));
    });
    client.on('error', (err) => {
      const hint = tlsHint(err, '--mqtt-ca FILE (ANXIN_MQTT_CA)');
      if (outage) this.logger.debug({ err: err.message }, 'mqtt error');
      else this.logger.warn({ err: err.message, ...(hint ? { hint } : {}) }, 'mqtt error');
    });

    const waitMs = this.options.connectWaitMs ?? CONNECT_WAIT_MS;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.logger.warn({ url: this.options.url, waitMs }, 'broker not reachable yet; continuing and retrying');
        resolve();
      }, waitMs);
      this.subscribed = (error) => {
        this.subscribed = undefined;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
    });
  }

  /**
   * One received message. MQTT.js sends its PUBACK when `done` is called and only then hands over
   * the next packet, so a full ingest queue pushes back on the broker. A message taken at once
   * (no promise) is done at once, with no promise hop. The PUBACKs of all messages handled in one
   * turn of the event loop leave in one write: the socket is corked for the turn.
   */
  private handleMessage(client: MqttClient, packet: IPublishPacket, done: (error?: Error) => void): void {
    this.corkForTurn(client);
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const failed = (err: unknown) => this.logger.error({ err, topic: packet.topic }, 'message handler failed');
    let pending: Promise<void> | undefined;
    try {
      pending = this.options.onMessage(packet.topic, payload, { retained: packet.retain === true });
    } catch (err) {
      failed(err);
    }
    this.keepalive.handled(client);
    if (pending === undefined) done();
    else {
      const stream = client.stream;
      const held = this.keepalive.hold(client);
      pending.catch(failed).finally(() => {
        held.end();
        // The link the message came on ended during the hold (its keepalive, the broker): MQTT.js
        // would queue this PUBACK for the next connection, whose clean session may have given its
        // id to another message — which it would then ack unread. No PUBACK; the gate resends.
        if (client.stream !== stream || !client.connected) this.withholdPuback(packet, done);
        else done();
      });
    }
  }

  /**
   * MQTT.js takes an error passed to `done` as "send no PUBACK" and swallows it — nothing would
   * log or count it otherwise. Debug, not warn: it follows a dropped link, which is logged already.
   */
  private withholdPuback(packet: IPublishPacket, done: (error?: Error) => void): void {
    this.logger.debug(
      { topic: packet.topic, messageId: packet.messageId },
      'PUBACK withheld: the link ended while ingest held the message; the gate resends it',
    );
    this.options.onPubackWithheld?.();
    done(new MqttUnavailableError('link ended during the hold'));
  }

  private corkedStream: MqttClient['stream'] | undefined;
  private readonly keepalive: KeepaliveDuringHolds;

  private corkForTurn(client: MqttClient): void {
    const stream = client.stream;
    if (this.corkedStream === stream || typeof stream?.cork !== 'function') return;
    this.corkedStream = stream;
    stream.cork();
    setImmediate(() => {
      this.corkedStream = undefined;
      stream.uncork();
    });
  }

  /** Subscribes every filter; once granted, says `online: true` (retained) and ends `start()`'s wait. */
  private subscribeAll(client: MqttClient): void {
    const subscriptions = cloudSubscriptions(this.options.sharedGroup);
    client.subscribe(subscriptions, (err, granted) => {
      const denied = deniedFilters(Object.keys(subscriptions), err, granted);
      if (denied.some((g) => g.topic.startsWith('$share/'))) return this.refuseShared(client);
      // A broker whose cloud role predates snapshot acks refuses `sync/ack`: snapshots then go
      // paced (cloud/sync/snapshot-flow.ts), which is slower but whole; everything else must be granted.
      const refused = denied.filter((g) => !g.topic.endsWith('/sync/ack'));
      if (denied.length > refused.length)
        this.logger.warn({ denied }, 'snapshot acks refused by the broker: paced snapshots');
      if ((err && denied.length === 0) || refused.length > 0)
        this.logger.error({ err, refused }, 'subscription refused');
      else {
        this.logger.info({ url: this.options.url, sharedGroup: this.options.sharedGroup }, 'connected and subscribed');
        // Only now can a gate's resend reach us: tell the gates (retained, for those connecting later).
        client.publish(topics.cloudStatus(), this.statusPayload(true), { qos: 1, retain: true }, (error) => {
          if (error) this.logger.warn({ err: error.message }, 'readiness not published');
        });
      }
      this.subscribed?.();
    });
  }

  /**
   * The broker has no shared subscriptions: ingesting alone here would take every gate's messages
   * that the other instances take too (or, on a literal `$share` filter, none at all). The link is
   * ended for good and the refusal said once, loudly; `start()` rejects with it when still waiting.
   */
  private refuseShared(client: MqttClient): void {
    const error = new SharedSubscriptionsRefusedError(this.options.sharedGroup ?? '', this.options.url);
    this.sharedRefusal = error;
    this.logger.error({ url: this.options.url, sharedGroup: this.options.sharedGroup }, error.message);
    this.supervisor?.stop();
    client.end(true);
    this.subscribed?.(error);
  }

  /**
   * Publishes JSON at QoS 1 (a `Buffer` is JSON already serialised, sent as it is: snapshot parts,
   * cloud/sync/snapshot-flow.ts); resolves on PUBACK. Fails at once when disconnected.
   */
  publish(topic: string, payload: unknown, options: { retain?: boolean } = {}): Promise<void> {
    const client = this.client;
    if (!client?.connected) return Promise.reject(new MqttUnavailableError());
    return new Promise<void>((resolve, reject) => {
      const fail = (error: Error) => {
        clearTimeout(timer);
        this.inFlight.delete(fail);
        reject(error);
      };
      const timer = setTimeout(() => fail(new MqttUnavailableError('no PUBACK in time')), PUBLISH_TIMEOUT_MS);
      this.inFlight.add(fail);
      const body = Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
      client.publish(topic, body, { qos: 1, retain: options.retain === true }, (err) => {
        if (!this.inFlight.has(fail)) return; // already failed (timeout or connection lost)
        if (err) return fail(err);
        clearTimeout(timer);
        this.inFlight.delete(fail);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.supervisor?.stop();
    if (!client) return;
    if (client.connected && this.options.sharedGroup === undefined) {
      // Gates stop sending into a cloud that is gone; the journal keeps everything until it is back.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, STOP_GRACE_MS);
        client.publish(topics.cloudStatus(), this.statusPayload(false), { qos: 1, retain: true }, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    // A graceful end waits for the broker to take what is in flight; a broker that is gone (or a
    // connect attempt under way to it) would keep the cloud from ever stopping: force it after a while.
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
}
