/**
 * `/live` across cloud instances on one PostgreSQL (docs/deploy.md, "Scaling out"). With a shared
 * subscription group each passage reaches one instance, but a dashboard's SSE stream is open on
 * whichever instance the load balancer chose: what one instance publishes on its `LiveHub` must
 * reach the listeners of every other one. PostgreSQL's LISTEN/NOTIFY carries it — the database
 * every instance already shares, no other moving part.
 *
 * - Sending: messages published in one turn of the event loop are packed into as few notifications
 *   as fit PostgreSQL's payload limit (8000 bytes; `NOTIFY_MAX_BYTES` keeps a margin), as sealed
 *   compact JSON `{"o": origin, "m": [message, …]}` (live-wire.ts) — an entry is ~350 bytes, so
 *   about twenty per notification — and sent in one statement on the pool, in order. Messages
 *   wait in a bounded ring (20 000); past it the oldest are dropped and counted (`overflowed`). A message that alone would not
 *   fit (none of today's shapes can: an alarm's detail is at most 500 characters) is not relayed,
 *   and counted. Gate statuses never travel this way: every instance subscribes them itself. Nor
 *   do a cloud's passages: its ingest transaction notifies them itself, in the same packing and
 *   with this instance's id as origin, so they are notified exactly when they are stored
 *   (cloud/live/pg-live-entries.ts); what arrives here from the hub are alarms and acknowledgements.
 * - Receiving: one dedicated connection (not from the pool: a pooled one would be handed to a
 *   query and its LISTEN lost) runs `LISTEN anxin_live` and hands what the other instances sent to
 *   `LiveHub.deliver`; its own notifications come back too and are skipped by their origin, and
 *   while nobody here listens to `/live` the others' are checked but left unread (`unread`). Only
 *   a payload within PostgreSQL's size, sealed with the deployment's key and valid in full is read
 *   (live-wire.ts): any other client of the database may NOTIFY the channel, and what it sends is
 *   refused and counted (`refused`, `invalid`), never shown on a dashboard.
 * - Faults: a lost listening connection (server restart, terminated backend, a ping unanswered
 *   for `pingTimeoutMs`) is reopened with backoff (1 s doubling to 30 s, jitter), and `health()`
 *   says `degraded` until it listens again. What was notified meanwhile is not replayed: a live
 *   view, like a dropped SSE stream; the pages reload history on reconnect (docs/web.md).
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { BoundedQueue } from '../../shared/bounded-queue.ts';
import type { Logger } from '../../shared/log.ts';
import { Backoff } from '../../shared/mqtt-reconnect.ts';
import type { LiveHub, LiveMessage } from './live-hub.ts';
import {
  LIVE_CHANNEL,
  type LiveWire,
  NOTIFY_MAX_BYTES,
  NOTIFY_SQL,
  packNotifications,
  unpackNotification,
} from './live-wire.ts';

export { LIVE_CHANNEL, NOTIFY_MAX_BYTES } from './live-wire.ts';
/** Messages waiting to be sent past this (the database slower than the ingest) are dropped, oldest first. */
const MAX_PENDING = 20_000;

export type FanoutState = 'connecting' | 'listening' | 'reconnecting' | 'stopped';

export interface PgLiveFanoutOptions {
  live: LiveHub;
  /** Where the notifications are sent from (one short statement per event-loop turn). */
  pool: Pick<pg.Pool, 'query'>;
  /** The database's connection string: the listening connection is opened from it. */
  url: string;
  logger: Logger;
  /** This instance's origin and the deployment's seal key (live-wire.ts). */
  wire: LiveWire;
  /** `application_name` of the listening connection (default anxin-live). */
  applicationName?: string;
  reconnectMs?: number;
  reconnectMaxMs?: number;
  /** How often the idle listening connection is checked, and how long an answer may take (15 s, 5 s). */
  pingMs?: number;
  pingTimeoutMs?: number;
  /** Messages waiting to be sent at most (default 20 000; the oldest are dropped past it). */
  maxPending?: number;
}

export interface FanoutCounters {
  /** Messages sent to the other instances, and notifications carrying them. */
  sent: number;
  notifications: number;
  /** Messages received from the other instances. */
  received: number;
  /** Not relayed: too large alone, or the send failing. */
  dropped: number;
  /** Not relayed: the oldest waiting messages, dropped while the queue was full. */
  overflowed: number;
  /** Notifications refused unread: too large, not sealed with the deployment's key, not JSON, not a payload. */
  refused: number;
  /** Messages of a sealed payload left out because they fail `liveMessageSchema`. */
  invalid: number;
  /** Notifications of other instances left unread: nobody on this instance listened to `/live`. */
  unread: number;
}

export class PgLiveFanout extends EventEmitter<{ state: [FanoutState] }> {
  readonly instanceId: string;
  readonly counters: FanoutCounters = {
    sent: 0,
    notifications: 0,
    received: 0,
    dropped: 0,
    overflowed: 0,
    refused: 0,
    invalid: 0,
    unread: 0,
  };
  private stateNow: FanoutState = 'connecting';
  private client: pg.Client | undefined;
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private detach: (() => void) | undefined;
  private readonly pending: BoundedQueue<LiveMessage>;
  /** When a refused notification was last logged (one line a minute; the counters say the rest). */
  private refusedLoggedAt = 0;
  private flushScheduled = false;
  private sending: Promise<void> = Promise.resolve();
  private lastError: string | undefined;
  private failedAttempts = 0;
  private sendFailing = false;
  private stopped = false;
  private readonly logger: Logger;

  constructor(private readonly options: PgLiveFanoutOptions) {
    super();
    this.instanceId = options.wire.origin;
    this.pending = new BoundedQueue(options.maxPending ?? MAX_PENDING);
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
    this.counters.overflowed += this.pending.push(message);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends what is pending, after what is being sent (notifications keep the order of publication). */
  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending.drain();
    const { payloads, oversized } = packNotifications(this.options.wire, batch);
    const count = batch.length - oversized.length;
    if (oversized.length > 0) {
      this.counters.dropped += oversized.length;
      this.logger.warn({ count: oversized.length, limit: NOTIFY_MAX_BYTES }, 'live messages too large to relay');
    }
    this.sending = this.sending.then(() => this.send(payloads, count));
  }

  private async send(payloads: string[], count: number): Promise<void> {
    if (payloads.length === 0) return;
    try {
      await this.options.pool.query(NOTIFY_SQL, [LIVE_CHANNEL, payloads]);
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
    client.on('notification', (n) => this.heard(n));
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

  /**
   * A notification: another instance's messages go to this instance's listeners; anything else is
   * refused, counted. Every instance hears every notification — its own too, one per ingest batch
   * — so what needs no reading is not read: its own are told by their head and skipped before the
   * seal is checked (`isOwnNotification`: a forged payload naming this origin is skipped as well,
   * unread and unshown), and while nobody on this instance listens to `/live` the others' are only
   * checked for their seal (a refusal is still counted) and left unread (`unread`): there is no one
   * to show them to. With two instances this was half the reading of every passage (BENCHMARKS.md, "Scale-out on PostgreSQL").
   */
  private heard(n: pg.Notification): void {
    if (n.channel !== LIVE_CHANNEL || n.payload === undefined) return;
    const unpacked = unpackNotification(n.payload, this.options.wire, { read: this.options.live.listenerCount > 0 });
    if (unpacked.kind === 'unread') {
      this.counters.unread += 1;
      return;
    }
    if (unpacked.kind === 'own') return;
    if (unpacked.kind === 'refused') {
      this.counters.refused += 1;
      const now = Date.now();
      if (now - this.refusedLoggedAt >= 60_000) {
        this.refusedLoggedAt = now;
        this.logger.warn(
          { why: unpacked.why, pid: n.processId, refused: this.counters.refused },
          'live notification refused',
        );
      }
      return;
    }
    this.counters.invalid += unpacked.invalid;
    this.counters.received += unpacked.messages.length;
    for (const message of unpacked.messages) this.options.live.deliver(message);
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
