/**
 * A distribution point's link to the cloud for claims (docs/supplies.md, "MQTT"):
 *
 * - `ask`: `claims/ask {askId, roundId, householdId}`, resolved by the cloud's answer on
 *   `claims/ack {answer}` — or with `undefined` when the point is not connected to a ready cloud,
 *   or no answer came within `answerMs` (the point then decides from its replica).
 * - the claim journal goes out on `claims` in seq order (one per message live, up to
 *   `MAX_CLAIMS_PER_MESSAGE` draining), at most `maxInFlight` messages unacknowledged; the cloud's
 *   cumulative `claims/ack {upTo}` prunes it; on (re)connect, or with no ack within `ackTimeoutMs`,
 *   everything unacknowledged is sent again (the cloud stores once per (gateId, seq)).
 *
 * Every ack is parsed with its schema; a malformed, old or bogus one is counted and ignored.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../shared/log.ts';
import { type ClaimAck, claimAckSchema, MAX_CLAIMS_PER_MESSAGE } from '../../shared/schemas/supply.ts';
import { topics } from '../../shared/topics.ts';
import { InFlightWindow } from '../in-flight-window.ts';
import type { EventPublisher } from '../uplink.ts';
import type { ClaimJournalStore } from './claim-journal-store.ts';

export type ClaimAnswer = NonNullable<ClaimAck['answer']>;

export interface ClaimUplinkOptions {
  gateId: string;
  journal: ClaimJournalStore;
  publisher: EventPublisher;
  logger: Logger;
  now?: () => number;
  /** How long a swipe waits for the cloud's answer before deciding from the replica (default 2 s). */
  answerMs?: number;
  ackTimeoutMs?: number;
  maxInFlight?: number;
}

export class ClaimUplink {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly answerMs: number;
  private connected = false;
  /** The claim messages awaiting the cloud's ack (the passages' uplink keeps its own the same way). */
  private readonly window: InFlightWindow;
  private readonly asks = new Map<
    string,
    { resolve: (answer: ClaimAnswer | undefined) => void; timer: NodeJS.Timeout }
  >();
  readonly counters = { asks: 0, answers: 0, unanswered: 0, published: 0, acksApplied: 0, acksIgnored: 0, resends: 0 };

  constructor(private readonly options: ClaimUplinkOptions) {
    this.log = options.logger.child({ component: 'edge.claims' });
    this.now = options.now ?? Date.now;
    this.answerMs = options.answerMs ?? 2_000;
    this.window = new InFlightWindow({
      maxInFlight: options.maxInFlight ?? 4,
      ackTimeoutMs: options.ackTimeoutMs ?? 30_000,
      now: this.now,
      ackedUpTo: () => options.journal.ackedUpTo(),
    });
  }

  start(): void {
    this.window.start(() => this.resendOverdue());
  }

  stop(): void {
    this.window.stop();
    this.connectionDown();
  }

  /** Connected to a ready cloud: asks go out, and so does the journal. */
  get isConnected(): boolean {
    return this.connected;
  }

  connectionUp(): void {
    this.connected = true;
    this.window.rewind();
    this.pump();
  }

  connectionDown(): void {
    this.connected = false;
    this.window.clear();
    // Waiting swipes decide from the replica now rather than after their timeout.
    for (const [askId, ask] of this.asks) {
      clearTimeout(ask.timer);
      this.asks.delete(askId);
      ask.resolve(undefined);
    }
  }

  /** Asks the cloud whether the household may claim now; undefined when it cannot answer in time. */
  ask(roundId: string, householdId: string): Promise<ClaimAnswer | undefined> {
    if (!this.connected) return Promise.resolve(undefined);
    const askId = randomUUID();
    const payload = JSON.stringify({ askId, roundId, householdId, ts: this.now() });
    if (!this.options.publisher.publish(topics.gateClaimAsk(this.options.gateId), payload, { qos: 1 })) {
      return Promise.resolve(undefined);
    }
    this.counters.asks += 1;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.asks.delete(askId);
        this.counters.unanswered += 1;
        this.log.warn({ askId, roundId }, 'no answer from the cloud in time: deciding from the replica');
        resolve(undefined);
      }, this.answerMs);
      timer.unref();
      this.asks.set(askId, { resolve, timer });
    });
  }

  /** Sends what the journal holds beyond what is in flight. */
  pump(): void {
    const { journal, publisher } = this.options;
    while (this.connected && this.window.hasRoom) {
      const claims = journal.read(this.window.publishedUpTo, this.window.size === 0 ? MAX_CLAIMS_PER_MESSAGE : 1);
      const last = claims[claims.length - 1];
      if (!last) return;
      if (!publisher.publish(topics.gateClaims(this.options.gateId), JSON.stringify({ claims }), { qos: 1 })) {
        this.connected = false;
        return;
      }
      this.window.sent(last.seq);
      this.counters.published += claims.length;
    }
  }

  /** `claims/ack`: an answer to an ask, and/or the cumulative mark. */
  handleAck(payload: Buffer | string): void {
    let ack: ClaimAck;
    try {
      ack = claimAckSchema.parse(JSON.parse(payload.toString()));
    } catch {
      this.counters.acksIgnored += 1;
      this.log.warn('claim ack ignored: malformed');
      return;
    }
    if (ack.answer) {
      const waiting = this.asks.get(ack.answer.askId);
      if (waiting) {
        clearTimeout(waiting.timer);
        this.asks.delete(ack.answer.askId);
        this.counters.answers += 1;
        waiting.resolve(ack.answer);
      }
    }
    if (ack.upTo !== undefined) {
      if (this.options.journal.prune(ack.upTo)) {
        this.counters.acksApplied += 1;
        this.window.acked(ack.upTo);
        this.pump();
      } else {
        this.counters.acksIgnored += 1;
      }
    }
  }

  /** No ack within `ackTimeoutMs`: every unacknowledged claim goes again. */
  private resendOverdue(): void {
    if (!this.connected) return;
    this.counters.resends += 1;
    this.window.rewind();
    this.pump();
  }
}
