/**
 * `/live` across cloud instances on one PostgreSQL (docs/deploy.md, "Scaling out"). With a shared
 * subscription group each passage reaches one instance, but a dashboard's SSE stream is open on
 * whichever instance the load balancer chose: what one instance publishes on its `LiveHub` must
 * reach the listeners of every other one. PostgreSQL's LISTEN/NOTIFY carries it — the database
 * every instance already shares, no other moving part.
 *
 * - Sending: messages published in one turn of the event loop are packed into as few notifications
 *   as fit PostgreSQL's payload limit (8000 bytes; `NOTIFY_MAX_BYTES` keeps a margin), as compact
 *   JSON `{"o": origin, "m": [message, …]}` — an entry is ~350 bytes, so about twenty per
 *   notification — and sent in one statement on the pool, in order. A message that alone would not
 *   fit (none of today's shapes can: an alarm's detail is at most 500 characters) is not relayed,
 *   and counted. Gate statuses never travel this way: every instance subscribes them itself. Nor
 *   do a cloud's passages: its ingest transaction notifies them itself, in the same packing and
 *   with this instance's id as origin, so they are notified exactly when they are stored
 *   (cloud/live/pg-live-entries.ts); what arrives here from the hub are alarms and acknowledgements.
 * - Receiving: one dedicated connection (not from the pool: a pooled one would be handed to a
 *   query and its LISTEN lost) runs `LISTEN anxin_live` and hands what the other instances sent to
 *   `LiveHub.deliver`; its own notifications come back too and are skipped by their origin.
 * - Faults: a lost listening connection (server restart, terminated backend, a ping unanswered
 *   for `pingTimeoutMs`) is reopened with backoff (1 s doubling to 30 s, jitter), and `health()`
 *   says `degraded` until it listens again. What was notified meanwhile is not replayed: a live
 *   view, like a dropped SSE stream; the pages reload history on reconnect (docs/web.md).
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../../shared/log.ts';
import { Backoff } from '../../shared/mqtt-reconnect.ts';
import type { LiveHub, LiveMessage } from './live-hub.ts';

export const LIVE_CHANNEL = 'anxin_live';
/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more (the default build's limit); a margin below it. */
export const NOTIFY_MAX_BYTES = 7_900;
/** Messages waiting to be sent past this (the database slower than the ingest) are dropped, oldest first. */
const MAX_PENDING = 20_000;
const MESSAGE_TYPES = new Set<LiveMessage['type']>(['entry', 'alarm', 'alarm-ack', 'status']);

export type FanoutState = 'connecting' | 'listening' | 'reconnecting' | 'stopped';

export interface PgLiveFanoutOptions {
  live: LiveHub;
  /** Where the notifications are sent from (one short statement per event-loop turn). */
  pool: Pick<pg.Pool, 'query'>;
  /** The database's connection string: the listening connection is opened from it. */
  url: string;
  logger: Logger;
  /** `application_name` of the listening connection (default anxin-live). */
  applicationName?: string;
  /** Tells this instance's own notifications apart (default: random). */
  instanceId?: string;
  reconnectMs?: number;
  reconnectMaxMs?: number;
  /** How often the idle listening connection is checked, and how long an answer may take (15 s, 5 s). */
  pingMs?: number;
  pingTimeoutMs?: number;
}

export interface FanoutCounters {
  /** Messages sent to the other instances, and notifications carrying them. */
  sent: number;
  notifications: number;
  /** Messages received from the other instances. */
  received: number;
  /** Not relayed: too large alone, the queue overflowing, or the send failing. */
  dropped: number;
}

/** Packs messages into notification payloads of at most `maxBytes` (UTF-8); the ones too large alone apart. */
export function packNotifications(
  origin: string,
  messages: readonly LiveMessage[],
  maxBytes = NOTIFY_MAX_BYTES,
): { payloads: string[]; oversized: LiveMessage[] } {
  const head = `{"o":${JSON.stringify(origin)},"m":[`;
  const frame = Buffer.byteLength(head) + 2; // `]}`
  const payloads: string[] = [];
  const oversized: LiveMessage[] = [];
  let parts: string[] = [];
  let bytes = frame;
  for (const message of messages) {
    const json = JSON.stringify(message);
    const size = Buffer.byteLength(json);
    if (frame + size > maxBytes) {
      oversized.push(message);
      continue;
    }
    if (bytes + size + (parts.length > 0 ? 1 : 0) > maxBytes) {
      payloads.push(`${head}${parts.join(',')}]}`);
      parts = [];
      bytes = frame;
    }
    bytes += size + (parts.length > 0 ? 1 : 0);
    parts.push(json);
  }
  if (parts.length > 0) payloads.push(`${head}${parts.join(',')}]}`);
  return { payloads, oversized };
}

/** The messages of a payload from another instance; undefined for our own or one that is not ours to read. */
export function unpackNotification(payload: string, self: string): LiveMessage[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return undefined;
  }
  const { o, m } = (parsed ?? {}) as { o?: unknown; m?: unknown };
  if (typeof o !== 'string' || o === self || !Array.isArray(m)) return undefined;
  return m.filter(
    (x): x is LiveMessage =>
      typeof x === 'object' &&
      x !== null &&
      MESSAGE_TYPES.has((x as LiveMessage).type) &&
      typeof (x as LiveMessage).data?.compoundId === 'string',
  );
}

export class PgLiveFanout extends EventEmitter<{ state: [FanoutState] }> {
  readonly instanceId: string;
  readonly counters: FanoutCounters = { sent: 0, notifications: 0, received: 0, dropped: 0 };
  private stateNow: FanoutState = 'connecting';
  private client: pg.Client | undefined;
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private detach: (() => void) | undefined;
  private pending: LiveMessage[] = [];
  private flushScheduled = false;
  private sending: Promise<void> = Promise.resolve();
  private lastError: string | undefined;
  private failedAttempts = 0;
  private sendFailing = false;
  private stopped = false;
  private readonly logger: Logger;

  constructor(private readonly options: PgLiveFanoutOptions) {
    super();
    this.instanceId = options.instanceId ?? randomBytes(6).toString('hex');
    this.logger = options.logger.child({ component: 'cloud.live-fanout' });
    const initialMs = options.reconnectMs ?? 1_000;
    this.backoff = new Backoff({ initialMs, maxMs: Math.max(initialMs, options.reconnectMaxMs ?? 30_000) });
  }

  get state(): FanoutState {
    return this.stateNow;
  }

  /** For `/healthz`: `degraded` while the listening connection is down (other instances' passages do not show here). */
  health(): Record<string, unknown> {
    if (this.stateNow === 'listening' || this.stateNow === 'stopped') return { liveFanout: this.stateNow };
    return {
      status: 'degraded',
      liveFanout: this.stateNow,
      ...(this.lastError ? { liveFanoutError: this.lastError } : {}),
      liveFanoutFailedAttempts: this.failedAttempts,
    };
  }

  /** Relays the hub's messages and listens; resolves after the first attempt, listening or retrying. */
  async start(): Promise<void> {
    this.detach = this.options.live.attachRelay((message) => this.enqueue(message));
    const pingMs = this.options.pingMs ?? 15_000;
    this.pingTimer = setInterval(() => void this.ping(), pingMs);
    this.pingTimer.unref();
    await this.attempt();
  }

  async stop(): Promise<void> {
    this.detach?.();
    this.detach = undefined;
    this.stopped = true;
    this.setState('stopped');
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.flush();
    await this.sending;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private setState(state: FanoutState): void {
    if (this.stateNow === state) return;
    this.stateNow = state;
    this.emit('state', state);
  }

  private enqueue(message: LiveMessage): void {
    this.pending.push(message);
    if (this.pending.length > MAX_PENDING) {
      this.counters.dropped += this.pending.length - MAX_PENDING;
      this.pending.splice(0, this.pending.length - MAX_PENDING);
    }
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends what is pending, after what is being sent (notifications keep the order of publication). */
  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const { payloads, oversized } = packNotifications(this.instanceId, this.pending);
    const count = this.pending.length - oversized.length;
    this.pending = [];
    if (oversized.length > 0) {
      this.counters.dropped += oversized.length;
      this.logger.warn({ count: oversized.length, limit: NOTIFY_MAX_BYTES }, 'live messages too large to relay');
    }
    this.sending = this.sending.then(() => this.send(payloads, count));
  }

  private async send(payloads: string[], count: number): Promise<void> {
    if (payloads.length === 0) return;
    try {
      await this.options.pool.query(
        'SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n',
        [LIVE_CHANNEL, payloads],
      );
      this.counters.sent += count;
      this.counters.notifications += payloads.length;
      if (this.sendFailing) this.logger.info('live messages relayed again');
      this.sendFailing = false;
    } catch (error) {
      this.counters.dropped += count;
      // One warning per outage: the store's own errors say the rest.
      if (!this.sendFailing) this.logger.warn({ err: (error as Error).message }, 'live messages not relayed');
      this.sendFailing = true;
    }
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({
      connectionString: this.options.url,
      application_name: this.options.applicationName ?? 'anxin-live',
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('the listening connection ended')));
    client.on('notification', (n) => {
      if (n.channel !== LIVE_CHANNEL || n.payload === undefined) return;
      const messages = unpackNotification(n.payload, this.instanceId);
      if (!messages) return;
      this.counters.received += messages.length;
      for (const message of messages) this.options.live.deliver(message);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${LIVE_CHANNEL}`);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      return this.retry(error as Error);
    }
    if (this.stopped) return void client.end().catch(() => undefined);
    this.client = client;
    this.failedAttempts = 0;
    this.lastError = undefined;
    this.backoff.reset();
    if (this.stateNow !== 'connecting') this.logger.info('listening again for the other instances’ live messages');
    this.setState('listening');
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    if (this.stopped) return;
    this.logger.warn({ err: error.message }, 'live fan-out connection lost; reconnecting with backoff');
    this.retry(error);
  }

  private retry(error: Error): void {
    if (this.stopped) return;
    this.lastError = error.message;
    this.failedAttempts += 1;
    this.setState('reconnecting');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.attempt(), this.backoff.next());
  }

  /** A connection the server dropped without a FIN (a half-open socket) is found by its silence. */
  private async ping(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const timeoutMs = this.options.pingTimeoutMs ?? 5_000;
    let timer: NodeJS.Timeout | undefined;
    const silent = new Promise<Error>((resolve) => {
      timer = setTimeout(() => resolve(new Error(`no answer to a ping in ${timeoutMs} ms`)), timeoutMs);
    });
    const answer = client.query('SELECT 1').then(
      () => undefined,
      (error: Error) => error,
    );
    const failure = await Promise.race([answer, silent]);
    clearTimeout(timer);
    if (failure) this.lost(client, failure);
  }
}
