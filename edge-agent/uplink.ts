/**
 * Store-and-forward of the journal to the cloud (docs/contract.md `events` / `ack`, docs/architecture.md
 * docs/architecture.md rule 2). Publishing is fire-and-forget and never on the path from scan to open (docs/architecture.md rule 1).
 *
 * - Events go out in seq order on `gates/{gateId}/events` (QoS 1): one per message when live,
 *   up to `batchSize` (≤ MAX_EVENTS_PER_MESSAGE) per message while draining a backlog.
 * - At most `maxInFlight` messages wait for the cloud's ack at a time; a PUBACK is not proof of
 *   storage, only the cloud's cumulative `{upTo}` is, and only it prunes the journal.
 * - Acks that are malformed, old, duplicated, reordered or past what we ever sent are ignored with
 *   a log line and a counter.
 * - On (re)connect, or when no ack comes within `ackTimeoutMs`, everything unacked is sent again:
 *   the cloud dedupes on (gateId, seq), so a replay is harmless.
 */
import type { Logger } from '../shared/log.ts';
import { ackMessageSchema, MAX_EVENTS_PER_MESSAGE } from '../shared/schemas/mqtt.ts';
import { topics } from '../shared/topics.ts';
import { InFlightWindow } from './in-flight-window.ts';
import type { JournalStore } from './journal-store.ts';

/** The one thing the uplink needs from the MQTT connection. */
export interface EventPublisher {
  /** Queues a QoS 1 publish if connected; false (nothing queued) when offline. */
  publish(topic: string, payload: string, options: { qos: 0 | 1; retain?: boolean }): boolean;
}

export interface UplinkOptions {
  gateId: string;
  journal: JournalStore;
  publisher: EventPublisher;
  logger: Logger;
  now?: () => number;
  batchSize?: number;
  maxInFlight?: number;
  ackTimeoutMs?: number;
}

export interface UplinkCounters {
  messagesPublished: number;
  eventsPublished: number;
  acksApplied: number;
  acksMalformed: number;
  acksStale: number;
  /** Acks below the mark whose events were still kept: the journal rewound and sent them again. */
  acksRewound: number;
  acksBogus: number;
  resends: number;
}

export class Uplink {
  private readonly log: Logger;
  private readonly batchSize: number;
  private readonly topic: string;
  private connected = false;
  /** The messages awaiting the cloud's ack, and the seq published up to in this connection. */
  private readonly window: InFlightWindow;
  /** The cloud's `ts` of the newest ack that set or confirmed the mark (0: none yet, or unknown). */
  private lastAckTs = 0;
  readonly counters: UplinkCounters = {
    messagesPublished: 0,
    eventsPublished: 0,
    acksApplied: 0,
    acksMalformed: 0,
    acksStale: 0,
    acksRewound: 0,
    acksBogus: 0,
    resends: 0,
  };
  /** Called after an ack pruned the journal (status and terminal show the depth). */
  onPruned: (depth: number) => void = () => {};

  constructor(private readonly options: UplinkOptions) {
    this.log = options.logger.child({ component: 'edge.uplink' });
    this.batchSize = Math.min(options.batchSize ?? MAX_EVENTS_PER_MESSAGE, MAX_EVENTS_PER_MESSAGE);
    this.topic = topics.gateEvents(options.gateId);
    this.window = new InFlightWindow({
      maxInFlight: options.maxInFlight ?? 4,
      ackTimeoutMs: options.ackTimeoutMs ?? 30_000,
      now: options.now ?? Date.now,
      ackedUpTo: () => options.journal.ackedUpTo(),
    });
  }

  start(): void {
    this.window.start((waitingMs) => this.resendOverdue(waitingMs));
  }

  stop(): void {
    this.window.stop();
    this.connected = false;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Messages published and not yet covered by an ack. */
  get messagesInFlight(): number {
    return this.window.size;
  }

  /** The connection is up: resend everything unacked from the start. */
  connectionUp(): void {
    this.connected = true;
    this.window.rewind();
    this.pump();
  }

  connectionDown(): void {
    this.connected = false;
    this.window.clear();
  }

  /** Something was journaled or finalised: send what can be sent. */
  pump(): void {
    const { journal, publisher } = this.options;
    while (this.connected && this.window.hasRoom) {
      const events = journal.readFinal(this.window.publishedUpTo, this.batchSize);
      const last = events[events.length - 1];
      if (!last) return;
      if (!publisher.publish(this.topic, JSON.stringify({ events }), { qos: 1 })) {
        this.connected = false;
        return;
      }
      this.window.sent(last.seq);
      this.counters.messagesPublished += 1;
      this.counters.eventsPublished += events.length;
    }
  }

  /** The cloud's cumulative ack on `gates/{gateId}/ack`. */
  handleAck(payload: Buffer | string): void {
    const { journal } = this.options;
    let upTo: number;
    let ackTs: number | undefined;
    try {
      const parsed = ackMessageSchema.safeParse(JSON.parse(payload.toString()));
      if (!parsed.success) throw new Error(parsed.error.issues.map((i) => i.message).join('; '));
      upTo = parsed.data.upTo;
      ackTs = parsed.data.ts;
    } catch (error) {
      this.counters.acksMalformed += 1;
      this.log.warn({ err: (error as Error).message, counter: this.counters.acksMalformed }, 'ack ignored: malformed');
      return;
    }
    const acked = journal.ackedUpTo();
    // The cloud stamps its acks (`ts`). A lower ack stamped after the one that set the mark is no
    // late duplicate: the cloud lost what it had acknowledged (restored from a backup), so the
    // events after it are sent again, from the acknowledged rows the journal still keeps.
    const newer = ackTs !== undefined && ackTs > this.lastAckTs;
    if (upTo < acked && newer && journal.rewindAck(upTo)) {
      this.lastAckTs = ackTs as number;
      this.counters.acksRewound += 1;
      this.log.warn(
        { upTo, ackedUpTo: acked, counter: this.counters.acksRewound },
        'the cloud acknowledges less than before; sending the events after its ack again',
      );
      this.window.rewind();
      this.pump();
      return;
    }
    if (upTo <= acked) {
      if (upTo === acked && newer) this.lastAckTs = ackTs as number;
      this.counters.acksStale += 1;
      this.log.info({ upTo, ackedUpTo: acked, counter: this.counters.acksStale }, 'ack ignored: old or duplicate');
      return;
    }
    const ackable = journal.maxAckable();
    if (upTo > ackable) {
      this.counters.acksBogus += 1;
      this.log.warn(
        { upTo, maxAckable: ackable, counter: this.counters.acksBogus },
        'ack ignored: beyond what was sent',
      );
      return;
    }
    const pruned = journal.prune(upTo);
    if (newer) this.lastAckTs = ackTs as number;
    this.counters.acksApplied += 1;
    // Acks can cover events sent before a restart or reconnect; never resend what is stored.
    this.window.acked(upTo);
    this.log.debug({ upTo, pruned, depth: journal.depth() }, 'ack applied');
    this.onPruned(journal.depth());
    this.pump();
  }

  /** No ack within `ackTimeoutMs`: everything unacked goes again. */
  private resendOverdue(waitingMs: number): void {
    if (!this.connected) return;
    this.counters.resends += 1;
    this.log.warn(
      { waitingSinceMs: waitingMs, from: this.options.journal.ackedUpTo() + 1 },
      'no ack from the cloud in time: sending the unacked events again',
    );
    this.window.rewind();
    this.pump();
  }
}
