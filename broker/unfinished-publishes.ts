/**
 * A client's publishes the broker has read but not finished, counted so the connection guard can
 * stop reading a client that has too many of them (broker/connection-guard.ts, "Unfinished
 * publishes"; docs/deploy.md, "Limits per connection").
 *
 * Why. aedes 1.x reads a client's next packets on every `readable`, not only once its last ones are
 * done, and queues each PUBLISH in its emitter (100 delivered at once, the rest in one FIFO) until
 * every subscriber's socket took it. Behind a held cloud nothing finishes, so a gate that ignores its
 * uplink window made the broker hold whatever it sent: 3000 × 64 KiB (192 MiB) from one gate,
 * measured. The guard's `maxUnreadBytes` never stopped it — aedes had taken the bytes.
 *
 * What counts. The guard frames every PUBLISH fixed header it reads (broker/mqtt-framing.ts): one
 * more unfinished, whatever its QoS. One is finished when aedes has published it — its `publish`
 * event (aedes.js `callPublished`), emitted once every subscriber's socket took the message — for
 * QoS 0, 1 and 2 alike. Not the PUBACK: aedes 1.2 writes a QoS 1 PUBACK *before* it hands the
 * message on (lib/handlers/publish.js, `enqueuePublish`), so a PUBACK says aedes has it queued, not
 * that it is done; every one of the 3000 above was PUBACKed. (A QoS 2 PUBREC comes after the
 * publish, but counting the publish covers both, and QoS 0, which has no acknowledgement at all.)
 * A publish aedes refuses closes the connection (broker/aedes-hooks.ts), so none is left counted on
 * a live one; a QoS 2 duplicate aedes answers without publishing again stays counted — the client's
 * own cost (gates publish at QoS 1, docs/contract.md).
 *
 * What it bounds. Past `limit` the guard reads the client no further (its `maxUnreadBytes` stop:
 * backpressure over TCP, no disconnect, no keepalive counted), and reads again once the count is
 * back at the limit. It stops only after a read, so a client holds at most `limit` plus the publishes
 * of one socket read (≤ 64 KiB) unfinished in the broker: with the default 128 and the largest packet
 * (1 MiB + 1 KiB, `maxPacketBytes`), ~129 MiB in the worst case; 8 MiB with a gate's 64 KiB batches.
 */

/** What every connection has unfinished now, and the most it has been (`BrokerServer.stats()`). */
export class PublishTally {
  now = 0;
  peak = 0;
  /** Times a connection stopped reading because of its unfinished publishes. */
  waits = 0;
}

/**
 * The default limit: 2 × the largest uplink window a gate may be configured with
 * (`journal.maxInFlight` ≤ 64; 4 by default), so an honest gate — its window of event batches plus a
 * status, an alarm, a command result or a sync request on the side — is never stopped, not even
 * while the cloud is held and nothing of it finishes.
 */
export const DEFAULT_MAX_UNFINISHED_PUBLISHES = 128;

export class UnfinishedPublishes {
  #count = 0;
  #closed = false;

  constructor(
    readonly limit: number,
    readonly tally: PublishTally = new PublishTally(),
  ) {}

  /** Unfinished now. */
  get count(): number {
    return this.#count;
  }

  /** More than `limit`: read the client no further. */
  get over(): boolean {
    return this.#count > this.limit;
  }

  /** `n` more PUBLISHes read from the client. */
  read(n: number): void {
    if (this.#closed) return;
    this.#count += n;
    const tally = this.tally;
    tally.now += n;
    if (tally.now > tally.peak) tally.peak = tally.now;
  }

  /**
   * aedes finished one of them. True when that brought the count back to `limit` (time to read
   * again). A publish nobody counted (a will, published as the connection ends) changes nothing.
   */
  finished(): boolean {
    if (this.#closed || this.#count === 0) return false;
    this.#count -= 1;
    this.tally.now -= 1;
    return this.#count === this.limit;
  }

  /** The connection is gone: what it had unfinished no longer counts. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.tally.now -= this.#count;
    this.#count = 0;
  }
}
