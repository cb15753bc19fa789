/**
 * The window of a journal's messages published and not yet acknowledged, shared by the passages'
 * uplink (uplink.ts) and the claims' (supply/claim-uplink.ts);
 * docs/edge-agent.md, "Journal and uplink": at most `maxInFlight` messages out; the cloud's
 * cumulative ack closes those it covers; with no ack within `ackTimeoutMs` — checked every quarter
 * of it, between 0.1 and 1 s — the uplink is told, and sends everything unacknowledged again from
 * the journal's ack mark (the cloud stores once per seq).
 */
export interface InFlightWindowOptions {
  maxInFlight: number;
  ackTimeoutMs: number;
  now: () => number;
  /** The journal's ack mark: where a rewind starts again. */
  ackedUpTo: () => number;
}

export class InFlightWindow {
  /** The seq up to which the journal is published (the next message starts after it). */
  publishedUpTo: number;
  private messages: { upTo: number; sentAt: number }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: InFlightWindowOptions) {
    this.publishedUpTo = o.ackedUpTo();
  }

  /** Checks for a late ack until `stop`: `onOverdue` with how long the oldest message has waited. */
  start(onOverdue: (waitingMs: number) => void): void {
    this.stop();
    const every = Math.max(100, Math.min(1_000, Math.floor(this.o.ackTimeoutMs / 4)));
    this.timer = setInterval(() => {
      const oldest = this.messages[0];
      const waitingMs = oldest ? this.o.now() - oldest.sentAt : 0;
      if (oldest && waitingMs >= this.o.ackTimeoutMs) onOverdue(waitingMs);
    }, every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Messages out and not yet covered by an ack. */
  get size(): number {
    return this.messages.length;
  }

  get hasRoom(): boolean {
    return this.messages.length < this.o.maxInFlight;
  }

  /** A message carrying the journal up to `upTo` was published now. */
  sent(upTo: number): void {
    this.publishedUpTo = upTo;
    this.messages.push({ upTo, sentAt: this.o.now() });
  }

  /** The cloud acknowledged up to `upTo`: those messages are closed, and nothing up to it is sent again. */
  acked(upTo: number): void {
    this.messages = this.messages.filter((m) => m.upTo > upTo);
    if (this.publishedUpTo < upTo) this.publishedUpTo = upTo;
  }

  /** Send again everything unacknowledged: from the journal's ack mark, nothing counted out. */
  rewind(): void {
    this.publishedUpTo = this.o.ackedUpTo();
    this.messages = [];
  }

  /** The link is down: nothing is out any more (a reconnect rewinds). */
  clear(): void {
    this.messages = [];
  }
}
