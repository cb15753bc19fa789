/**
 * Event ingest (docs/architecture.md rule 2): parse `gates/{gateId}/events` payloads, reject what is
 * invalid or not the publishing gate's (counted by reason), queue the rest, insert in batches —
 * one transaction once the messages pause for `quietMs`, once the oldest queued passage has waited
 * `flushIntervalMs`, or at `maxBatch` events — and only after the commit publish each gate's
 * cumulative ack `{upTo}`.
 *
 * Backpressure: `accept()` resolves once the queue is below `maxQueued`. The MQTT adapter calls
 * the next packet's handler only after that, so MQTT.js withholds the PUBACK and stops reading
 * the socket; TCP pushes back on the broker. The queue thus holds at most `maxQueued` plus one
 * message (≤ 500 events).
 */
import type { Logger } from '../../shared/log.ts';
import { type EventsMessage, eventsMessageSchema } from '../../shared/schemas/mqtt.ts';
import type { CloudMetrics } from '../metrics/cloud-metrics.ts';
import type { EventStore, IngestHook, RefusedSeq, SeqClash, StoredEvent } from '../store/store.ts';
import type { EventAdmission } from './event-admission.ts';
import { readEventsMessage } from './events-reader.ts';

/**
 * A batch is written once no message has come for this long: a lone passage waits 5 ms, as it
 * always did, and a burst (gates answering the acks of one commit together) is written whole,
 * after its last message, rather than cut every 5 ms.
 */
export const DEFAULT_QUIET_MS = 5;
/**
 * The longest a passage waits for its batch while messages keep coming. Under a steady stream
 * this sets the batch: 30 ms of a live stream is ≈ 1000 passages instead of ≈ 500 at 5 ms, and a
 * bigger commit shares its page writes among more of them — insertEvents with the rollup costs
 * ≈ 19 µs of CPU per passage in batches of 500, ≈ 15 in batches of 1000 (docs/cloud.md,
 * "Ingest pipeline").
 */
export const DEFAULT_FLUSH_INTERVAL_MS = 30;
/**
 * 8000, not 2000: each passage dirties a page of the per-person index (random keys), and a
 * commit writes each dirty page to the WAL once, so a bigger batch shares those page writes among
 * more passages — ≈ 4 µs of CPU less per passage (bench/ingest.ts). Only a drain fills a batch;
 * live traffic still commits every `flushIntervalMs`.
 */
export const DEFAULT_MAX_BATCH = 8000;
/** Two batches: one being written, the next filling. */
const DEFAULT_MAX_QUEUED = 16_000;
/** Lag above which ingest warns (at most once per `LAG_WARN_EVERY_MS`). */
const LAG_WARN_MS = 2000;
const LAG_WARN_EVERY_MS = 10_000;

export interface EventIngestOptions {
  store: Pick<EventStore, 'insertEvents' | 'durable'>;
  /**
   * The compound of a registered gate, or undefined for a gate the cloud does not know: at once
   * when it is cached (ingest's fast path), else from the store.
   */
  compoundOf(gateId: string): string | undefined | Promise<string | undefined>;
  /**
   * Publishes `{upTo, ts}` on the gate's ack topic; called only after the batch committed. `readAt`:
   * when the store read the mark (its `acksReadAt`), for `ts`; absent, the time of publishing.
   */
  publishAck(gateId: string, upTo: number, readAt?: number): Promise<void> | void;
  /** Told about newly stored events after the commit (the live feed). */
  onStored?(events: readonly StoredEvent[]): void;
  hook?: IngestHook;
  /**
   * Judges each event of a registered gate (its person's compound, its time): the refused are not
   * stored but handed to the store as answered, so the gate's ack steps over them.
   */
  admission?: Pick<EventAdmission, 'judge'>;
  metrics: CloudMetrics;
  logger: Logger;
  now?: () => number;
  /** The pause in messages after which a batch is written (default 5 ms; at most `flushIntervalMs`). */
  quietMs?: number;
  /** Longest wait of a queued passage before its batch is written (default 30 ms). */
  flushIntervalMs?: number;
  /** Most events per transaction (default 8000). */
  maxBatch?: number;
  /** Queue length at which ingest stops taking messages (default 16 000). */
  maxQueued?: number;
}

const isPromise = <T>(value: T | Promise<T>): value is Promise<T> => value instanceof Promise;

export class EventIngest {
  private readonly queue: StoredEvent[] = [];
  /** Seqs refused since the last batch: written (as answered, not as events) with the next one. */
  private readonly refused: RefusedSeq[] = [];
  private readonly drainWaiters: (() => void)[] = [];
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly flushIntervalMs: number;
  private readonly quietMs: number;
  private readonly maxBatch: number;
  private readonly maxQueued: number;
  private timer: NodeJS.Timeout | undefined;
  /** `performance.now()` when the timer was armed (the batch's first message) and of the last message since. */
  private firstArrival = 0;
  private lastArrival = 0;
  private flushing: Promise<void> | undefined;
  /** The acks of stored batches, each released once its batch is durable, in batch order. */
  private acking: Promise<void> = Promise.resolve();
  private lastLagWarning = 0;

  constructor(private readonly options: EventIngestOptions) {
    this.logger = options.logger.child({ component: 'cloud.ingest' });
    this.now = options.now ?? Date.now;
    this.flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.quietMs = Math.min(options.quietMs ?? DEFAULT_QUIET_MS, this.flushIntervalMs);
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    this.maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
    options.metrics.registry.onCollect(() => this.updateGauges());
  }

  get queued(): number {
    return this.queue.length + this.refused.length;
  }

  /**
   * Takes one `events` message published on `gates/{topicGateId}/events`. Never throws: bad input
   * is counted and logged. Returns nothing when ingest is ready for the next message at once — the
   * fast path of a live message whose gate and persons are known (no promise, no microtask) — or
   * a promise that resolves when it is.
   */
  accept(topicGateId: string, payload: Buffer | string): Promise<void> | undefined {
    const message = this.read(topicGateId, payload);
    if (!message) return;
    const compoundId = this.options.compoundOf(topicGateId);
    if (isPromise(compoundId)) return compoundId.then((known) => this.admit(topicGateId, message, known));
    return this.admit(topicGateId, message, compoundId);
  }

  /** The message as the schema reads it, or undefined (counted and logged). */
  private read(topicGateId: string, payload: Buffer | string): EventsMessage | undefined {
    let json: unknown;
    try {
      json = JSON.parse(typeof payload === 'string' ? payload : payload.toString());
    } catch {
      this.options.metrics.ingestRejects.inc({ reason: 'invalid-payload' });
      this.logger.warn({ gateId: topicGateId }, 'events payload is not JSON');
      return undefined;
    }
    return readEventsMessage(json) ?? this.parseBySchema(topicGateId, json);
  }

  /** A registered gate's own events, judged by admission, queued. */
  private admit(
    topicGateId: string,
    message: EventsMessage,
    compoundId: string | undefined,
  ): Promise<void> | undefined {
    const { metrics } = this.options;
    if (compoundId === undefined) {
      metrics.ingestRejects.inc({ reason: 'unknown-gate' }, message.events.length);
      this.logger.warn({ gateId: topicGateId }, 'events from a gate that is not registered');
      return;
    }
    const receivedAt = this.now();
    let mismatched = 0;
    const own: StoredEvent[] = [];
    for (const event of message.events) {
      if (event.gateId !== topicGateId) {
        mismatched += 1;
        continue;
      }
      const stored = event as StoredEvent;
      stored.compoundId = compoundId;
      stored.receivedAt = receivedAt;
      own.push(stored);
    }
    if (mismatched > 0) {
      metrics.ingestRejects.inc({ reason: 'gate-mismatch' }, mismatched);
      this.logger.warn({ gateId: topicGateId, mismatched }, 'events naming another gate than their topic');
    }
    if (own.length === 0) return;
    if (!this.options.admission) return this.enqueue(own, []);
    const verdict = this.options.admission.judge(topicGateId, compoundId, own);
    if (isPromise(verdict)) return verdict.then((v) => this.enqueue(v.admitted, v.refused));
    return this.enqueue(verdict.admitted, verdict.refused);
  }

  private enqueue(admitted: readonly StoredEvent[], refused: readonly RefusedSeq[]): Promise<void> | undefined {
    for (const event of admitted) this.queue.push(event);
    for (const seq of refused) this.refused.push(seq);
    if (this.queue.length === 0 && this.refused.length === 0) return;
    this.schedule();
    if (this.queue.length < this.maxQueued) return;
    this.options.metrics.ingestBackpressure.inc();
    return new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }

  /** What the hand check (events-reader.ts) did not take: the schema decides, and explains a refusal. */
  private parseBySchema(topicGateId: string, json: unknown): EventsMessage | undefined {
    const parsed = eventsMessageSchema.safeParse(json);
    if (parsed.success) return parsed.data;
    this.options.metrics.ingestRejects.inc({ reason: 'invalid-payload' });
    this.logger.warn(
      { gateId: topicGateId, issues: parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`) },
      'events payload rejected',
    );
    return undefined;
  }

  /** Writes everything queued now; resolves when it is committed and acknowledged. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.flushing) await this.flushing;
    if (this.queue.length > 0 || this.refused.length > 0) {
      this.flushing = this.drain().finally(() => {
        this.flushing = undefined;
      });
      await this.flushing;
    }
    await this.acking;
  }

  start(): void {}

  /** Stores what is queued, then releases anyone still waiting. */
  async stop(): Promise<void> {
    await this.flush();
    this.releaseWaiters(true);
  }

  /**
   * One timer per batch, never re-armed per message: each message only notes its time, and the
   * timer, when it fires, either writes the batch (a pause of `quietMs`, or the oldest passage
   * waited `flushIntervalMs`) or sleeps until the earlier of the two could be true.
   */
  private schedule(): void {
    if (this.queue.length >= this.maxBatch) {
      void this.flush();
      return;
    }
    const now = performance.now();
    this.lastArrival = now;
    if (this.timer) return;
    this.firstArrival = now;
    this.timer = setTimeout(this.onTimer, this.quietMs);
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    const now = performance.now();
    const wait = Math.min(this.lastArrival + this.quietMs, this.firstArrival + this.flushIntervalMs) - now;
    // Timers count whole milliseconds: less than one left is as good as due.
    if (wait >= 1) this.timer = setTimeout(this.onTimer, wait);
    else void this.flush();
  };

  private async drain(): Promise<void> {
    const { metrics } = this.options;
    while (this.queue.length > 0 || this.refused.length > 0) {
      this.updateGauges();
      const batch = this.queue.splice(0, this.maxBatch);
      const refused = this.refused.splice(0, this.maxBatch);
      const started = performance.now();
      let result: Awaited<ReturnType<EventIngestOptions['store']['insertEvents']>>;
      try {
        result = await this.options.store.insertEvents(batch, this.options.hook, refused);
      } catch (err) {
        // Not acknowledged, so the gates keep the events in their journals and send them again
        // (refused ones too: they are judged, and refused, again).
        metrics.ingestRejects.inc({ reason: 'store-failed' }, batch.length);
        this.logger.error({ err, events: batch.length }, 'batch insert failed; events will be resent by the gates');
        this.releaseWaiters(false);
        continue;
      }
      metrics.ingestBatchSeconds.observe((performance.now() - started) / 1000);
      metrics.ingestBatchSize.observe(batch.length);
      metrics.ingestEvents.inc({ outcome: 'stored' }, result.inserted.length);
      const clashes = result.clashes ?? [];
      metrics.ingestEvents.inc({ outcome: 'duplicate' }, batch.length - result.inserted.length - clashes.length);
      if (clashes.length > 0) this.seqClashes(clashes);
      this.ackWhenDurable(result.acks, result.acksReadAt);
      if (result.ackError !== undefined) this.ackFailed(result.ackError, batch, refused);
      if (result.inserted.length > 0) this.options.onStored?.(result.inserted);
      this.releaseWaiters(false);
    }
    this.updateGauges();
  }

  /**
   * An ack lets the gate prune its journal, so it waits until the batch is on stable storage
   * (`store.durable()`, an fsync off the event loop) — while the next batch is already written.
   * Acks leave in batch order. If the fsync fails nothing is acked: the gates resend, and the
   * (gateId, seq) key makes the resend harmless.
   */
  private ackWhenDurable(acks: ReadonlyMap<string, number>, readAt: number | undefined): void {
    if (acks.size === 0) return;
    const durable = this.options.store.durable();
    this.acking = this.acking
      .then(() => durable)
      .then(
        () => {
          for (const [gateId, upTo] of acks) this.sendAck(gateId, upTo, readAt);
        },
        (err: unknown) => {
          this.options.metrics.ingestRejects.inc({ reason: 'fsync-failed' }, acks.size);
          this.logger.error({ err }, 'fsync of the stored batch failed; not acknowledging it');
        },
      );
  }

  /**
   * Passages not stored because their gate sent another passage under the same seq first (a
   * journal restored from a backup, a cloned card): the seq is acked like a duplicate — the copy
   * stored first stays — so each is logged with both ts and counted, never dropped silently.
   */
  private seqClashes(clashes: readonly SeqClash[]): void {
    this.options.metrics.ingestRejects.inc({ reason: 'seq-clash' }, clashes.length);
    for (const { gateId, seq, storedTs, droppedTs } of clashes) {
      this.logger.warn(
        { gateId, seq, storedTs, droppedTs },
        'passage not stored: its gate sent another passage under the same seq first',
      );
    }
  }

  /** Stored, but the marks could not be moved: nothing is acked, the gates resend (harmless by (gateId, seq)). */
  private ackFailed(err: unknown, batch: readonly { gateId: string }[], refused: readonly { gateId: string }[]): void {
    const gates = new Set([...batch, ...refused].map((e) => e.gateId)).size;
    this.options.metrics.ingestRejects.inc({ reason: 'ack-failed' }, gates);
    this.logger.error({ err, gates }, 'batch stored but its ack marks could not be moved; not acknowledging it');
  }

  private sendAck(gateId: string, upTo: number, readAt: number | undefined): void {
    this.options.metrics.acksPublished.inc();
    Promise.resolve()
      .then(() => this.options.publishAck(gateId, upTo, readAt))
      .catch((err: unknown) => this.logger.warn({ err, gateId, upTo }, 'ack publish failed'));
  }

  private releaseWaiters(all: boolean): void {
    if (!all && this.queue.length >= this.maxQueued) return;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  private updateGauges(): void {
    const { metrics } = this.options;
    metrics.ingestQueueDepth.set(this.queue.length);
    const oldest = this.queue[0];
    const lagMs = oldest ? Math.max(0, this.now() - oldest.receivedAt) : 0;
    metrics.ingestLagSeconds.set(lagMs / 1000);
    if (lagMs > LAG_WARN_MS && this.now() - this.lastLagWarning > LAG_WARN_EVERY_MS) {
      this.lastLagWarning = this.now();
      this.logger.warn({ lagMs, queued: this.queue.length }, 'ingest is lagging');
    }
  }
}
