/**
 * What stands between a raw socket and aedes: the limits a connection lives under before and after
 * it has signed in (docs/deploy.md, "Limits per connection").
 *
 * Before CONNACK, a socket is anonymous, so it may cost the broker almost nothing:
 * - its first packet must be a CONNECT (MQTT 3.1.1 §3.1, [MQTT-3.1.0-1]) whose announced size is
 *   at most `maxConnectBytes` — read from the fixed header, so a CONNECT announcing 200 MB is
 *   refused on its first bytes, never buffered;
 * - it may send at most `maxBytesBeforeConnack` in all until its CONNACK (aedes queues any packet
 *   pipelined behind the CONNECT until then);
 * - aedes' connect timeout still closes a socket that sends nothing; the per-address cap on such
 *   sockets lives in `PendingConnections` (broker/pending-connections.ts).
 *
 * After CONNACK, aedes finishes delivering a message only once the subscriber's socket took it
 * (it waits for `drain` on a full one). What that wait means depends on who the subscriber is:
 * - A gate (or an observer) is one reader among many: one that stops reading must not stall the
 *   cloud publishing to it, and with it every other gate's acks. Its writes are handed to the
 *   socket at once, and a client whose unsent backlog exceeds `maxQueuedBytes` is disconnected: the
 *   slow one pays, nobody else waits.
 * - A cloud is the one reader of every gate's traffic, and it stops reading on purpose while its
 *   ingest queue is full (docs/cloud.md, "Backpressure"). Disconnecting it would throw away what
 *   the broker holds for it (clean session) and leave the gates waiting for acks until they time
 *   out and resend. So a cloud is never cut off for reading slowly: once `cloudWindowBytes` wait
 *   unsent towards it, its writes are acknowledged to aedes only as its socket drains, and aedes'
 *   deliveries (100 at a time) wait. aedes 1.x still reads the publishing gates' next packets
 *   (it reads on every `readable`, not only when its packets are done), so what bounds the broker's
 *   memory behind a held cloud is the gates' uplink windows and, for one ignoring its window, the
 *   guard's bound on its unfinished publishes (below), not aedes; nothing is dropped. What aedes queued that way is released a turn at a time, never in one
 *   synchronous chain that could exhaust the stack (broker/emit-turns.ts). A cloud that takes nothing at
 *   all for aedes' drain timeout (60 s) is dead, not slow; aedes closes it then (counted as
 *   `kicked['cloud-drain-timeout']`, broker/server.ts).
 *
 * Keepalive. While a cloud is held back the gates' messages wait undelivered — and aedes' own
 * keepalive counts only the packets it handled: it closed a held gate after 1.5 × its keepalive (45 s at the
 * gates' 30 s), before the cloud's 60 s drain timeout, and the gate's PINGREQs, unread, went
 * unanswered. A keepalive is about the link, not about how far the broker got with the client's
 * packets (MQTT 3.1.1 §3.1.2.10: the server must *receive* a packet within 1.5 × the keepalive),
 * so the guard keeps it (`keepAlive`, aedes is given 0): it reads a client's socket ahead of aedes,
 * up to `maxUnreadBytes` not yet taken, answers every PINGREQ itself at once (cut out of the
 * stream; broker/mqtt-framing.ts), and closes a client from which nothing arrived for 1.5 × its
 * keepalive (`keepalive-timeout`) — counting that silence only while it reads the socket: a client
 * whose unread bytes reached `maxUnreadBytes` is the broker's wait, not the client's silence. A
 * gate keeps at most a few messages in flight (its uplink window; the rest stays in its journal),
 * far below `maxUnreadBytes`, so its pings behind them are always read and answered, however long
 * the cloud is held.
 *
 * Across connections, what all of them read ahead is bounded by one `UnreadBudget`
 * (broker/unread-budget.ts): past it a gate's (or observer's) guard stops reading its socket as it
 * does past `maxUnreadBytes`, and waits in line for room — backpressure, not a drop. A cloud never
 * waits for it (the gates' bytes in the budget wait on the cloud; it is bounded by its own limit).
 *
 * What is held is counted as holding it costs, not as its bytes. A socket read is one Buffer however
 * short, so a client sending its stream as 1-byte TCP segments made the guard hold one object of
 * ~1 KiB per byte, and 2 MiB of them before `maxUnreadBytes` stopped it. Each held chunk is charged
 * its bytes plus `HELD_CHUNK_OVERHEAD_BYTES` (1 KiB, measured; broker/unread-budget.ts) against
 * `maxUnreadBytes` and the budget alike, and exactly that is released as aedes takes it or the
 * connection closes: such a client is stopped after ~2000 reads. aedes' side of the stream holds at
 * most the chunk handed to it last (its high-water mark is 1 byte; Node's default of 16 KiB would
 * take 16 384 one-byte chunks there, uncharged), and held chunks reach aedes joined into runs.
 * One step further, aedes' parser keeps every Buffer of a packet until the packet is complete, so
 * pieces of an incomplete packet are gathered into one Buffer of up to 16 KiB before aedes gets
 * them (broker/packet-gather.ts), whether aedes is behind or not.
 *
 * Unfinished publishes. None of that bounds what aedes itself holds: it reads a client's next
 * packets on every `readable` and queues each PUBLISH until every subscriber took it, so a gate
 * ignoring its uplink window behind a held cloud made it hold 192 MiB (3000 × 64 KiB), all PUBACKed.
 * The guard counts the PUBLISHes it frames and aedes' `publish` event for each (server.ts calls
 * `published`); with more than `maxUnfinishedPublishes` unfinished (default 128) it stops reading
 * the client exactly as past `maxUnreadBytes`, and reads again once they are back at the limit
 * (broker/unfinished-publishes.ts: what counts, and why not the PUBACK). Not a cloud's: its acks wait
 * in aedes' one queue behind the very gate messages that wait for it to read, so stopping it would
 * stop the acks (and its PINGREQs) that let the gates' windows move exactly when they are needed;
 * what it publishes is bounded by its own windows (one ack per stored batch, sync windows).
 */
import { Duplex } from 'node:stream';
import { announcedPacketSize, DEFAULT_MAX_PAYLOAD, InboundPings, PACKET_OVERHEAD_BYTES } from './mqtt-framing.ts';
import { PacketGather } from './packet-gather.ts';
import { DEFAULT_MAX_UNFINISHED_PUBLISHES, PublishTally, UnfinishedPublishes } from './unfinished-publishes.ts';
import { heldCost, UnreadBudget } from './unread-budget.ts';

export interface ConnectionLimits {
  /** Largest CONNECT packet (fixed header included), checked against the announced length. */
  maxConnectBytes: number;
  /** Everything a socket may send before its CONNACK. */
  maxBytesBeforeConnack: number;
  /** Unsent bytes towards a gate or observer beyond which it is disconnected as a slow reader. */
  maxQueuedBytes: number;
  /**
   * Unsent bytes towards a cloud beyond which aedes is made to wait for the cloud's socket to
   * drain (backpressure onto the publishing gates), never a disconnect.
   */
  cloudWindowBytes: number;
  /**
   * What may be held read from a client that aedes has not taken yet (it waits on a held-back cloud):
   * the guard reads this far ahead so the client's PINGREQs behind them are answered (module
   * comment). Counted as holding them costs: each held chunk's bytes plus `HELD_CHUNK_OVERHEAD_BYTES`
   * (broker/unread-budget.ts), so 2 MiB is 2 MiB of 64 KiB reads but only ~2000 reads of one byte.
   */
  maxUnreadBytes: number;
  /**
   * Largest packet a signed-in client may announce (fixed header included), checked on its fixed
   * header before aedes buffers any of it; past it the client is disconnected (`packet-too-large`).
   * The largest payload (`maxPayload`) plus its topic and headers, as Mosquitto's `max_packet_size`
   * (broker/mosquitto-config.ts). Unset: `DEFAULT_MAX_PACKET_BYTES`.
   */
  maxPacketBytes?: number;
  /**
   * PUBLISHes read from a gate or observer that aedes has not finished (every subscriber took them),
   * past which its socket is read no further until they are back at this (module comment, "Unfinished
   * publishes"). Never a cloud's. Unset: `DEFAULT_MAX_UNFINISHED_PUBLISHES` (128).
   */
  maxUnfinishedPublishes?: number;
}

/** The default `maxPayload` (1 MiB, broker/aedes-hooks.ts) and its overhead. */
export const DEFAULT_MAX_PACKET_BYTES = DEFAULT_MAX_PAYLOAD + PACKET_OVERHEAD_BYTES;

/** A CONNECT carries a client id, a token of a few hundred bytes and maybe a small will. */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxConnectBytes: 8 * 1024,
  maxBytesBeforeConnack: 16 * 1024,
  maxQueuedBytes: 4 * 1024 * 1024,
  cloudWindowBytes: 4 * 1024 * 1024,
  maxUnreadBytes: 2 * 1024 * 1024,
};

/**
 * The guard's own buffer: a write is "accepted" as soon as the socket has it, so this only has to
 * exceed the largest single packet (1 MiB payload by default) for aedes never to wait on a gate.
 */
const GUARD_HIGH_WATER_MARK = 8 * 1024 * 1024;

/**
 * Held chunks are handed to aedes joined into runs of up to this many bytes (a larger chunk as it
 * is): a client's tiny reads reach aedes as one Buffer, not as one object each.
 */
const RUN_BYTES = 64 * 1024;

export type GuardRefusal =
  /** The first byte is not a CONNECT's (type 1, flags 0). */
  | 'not-connect'
  /** The CONNECT announces more than `maxConnectBytes`, or its length field is malformed. */
  | 'connect-too-large'
  /** More than `maxBytesBeforeConnack` arrived before the CONNACK. */
  | 'too-much-before-connack'
  /** A gate's or observer's unsent backlog exceeded `maxQueuedBytes` (never a cloud's). */
  | 'slow-reader'
  /** Nothing arrived from the client for 1.5 × its keepalive while the guard read its socket. */
  | 'keepalive-timeout'
  /** A signed-in client's fixed header announced more than `maxPacketBytes`. */
  | 'packet-too-large';

export interface GuardEvents {
  /** The connection is being closed for this reason (called once). */
  onRefused(reason: GuardRefusal): void;
  /** The socket is no longer anonymous: admitted, or gone (called once). */
  onSettled(): void;
  /** A cloud's window is full: aedes waits for its socket to drain (backpressure, not a refusal). */
  onWindowFull?(): void;
}

const CONNECT_BYTE = 0x10;
const PINGRESP = Buffer.from([0xd0, 0x00]);

export class GuardedConnection extends Duplex {
  readonly #inner: Duplex;
  readonly #limits: ConnectionLimits;
  readonly #events: GuardEvents;
  #admitted = false;
  #settled = false;
  #refused = false;
  #head: Buffer | undefined = Buffer.alloc(0);
  /** A cloud's connection: held back by its window, never disconnected for its backlog. */
  #cloud = false;
  #bytesBeforeConnack = 0;
  readonly #pings: InboundPings;
  /** Pieces of a packet not complete yet, joined before aedes sees them (broker/packet-gather.ts). */
  readonly #gather = new PacketGather();
  /** 1.5 × the client's keepalive in ms (0: none), and the timer that closes a silent client. */
  #silenceMs = 0;
  #silence: NodeJS.Timeout | undefined;

  /**
   * Read from the socket, not yet handed to aedes: the guard reads up to `maxUnreadBytes` ahead of
   * it (module comment, "Keepalive"), and hands it on a run at a time as aedes reads (`#takeRun`),
   * so aedes never gets one concatenated copy of the lot, nor thousands of tiny Buffers.
   */
  readonly #unread: Buffer[] = [];
  /** What `#unread` costs (`heldCost`: bytes plus the per-chunk floor), charged to `maxUnreadBytes` and the budget. */
  #unreadCost = 0;
  /**
   * aedes' side of the stream holds a chunk it has not read: what arrives waits in `#unread`. Its
   * high-water mark is 1 byte, so that side never holds more than the one chunk handed to it last
   * and one run — it counts bytes, not objects, and would take 16 KiB of 1-byte chunks, uncharged.
   */
  #aedesFull = false;
  #ended = false;
  /** What every connection reads ahead of aedes (module comment); this one's share is `#unreadCost`. */
  readonly #budget: UnreadBudget;
  /** PUBLISHes read and not finished by aedes (broker/unfinished-publishes.ts). */
  readonly #publishes: UnfinishedPublishes;
  /** The socket is not read because of `#publishes` (counted once per stop). */
  #heldByPublishes = false;
  /** Waiting in the budget's line: called once when there is room again. */
  readonly #budgetTurn = () => this.#resumeReading();

  constructor(
    inner: Duplex,
    limits: ConnectionLimits,
    events: GuardEvents,
    budget: UnreadBudget = new UnreadBudget(Number.POSITIVE_INFINITY),
    publishes: PublishTally = new PublishTally(),
  ) {
    // aedes reads in paused mode and writes packet by packet.
    super({
      allowHalfOpen: false,
      readableHighWaterMark: 1,
      writableHighWaterMark: Math.max(GUARD_HIGH_WATER_MARK, limits.cloudWindowBytes),
    });
    this.#inner = inner;
    this.#limits = limits;
    this.#events = events;
    this.#budget = budget;
    this.#publishes = new UnfinishedPublishes(
      limits.maxUnfinishedPublishes ?? DEFAULT_MAX_UNFINISHED_PUBLISHES,
      publishes,
    );
    this.#pings = new InboundPings(limits.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES);
    inner.on('data', (chunk: Buffer) => this.#onData(chunk));
    inner.on('end', () => {
      const tail = this.#gather.flush();
      if (tail && !this.#refused) this.#deliver(tail);
      this.#ended = true;
      if (this.#unread.length === 0) this.push(null);
    });
    inner.on('error', (error) => this.destroy(error));
    inner.on('close', () => this.destroy());
  }

  /** The client has its CONNACK: the pre-sign-in limits no longer apply; a cloud gets a window instead of a limit. */
  admit(options: { cloud?: boolean } = {}): void {
    this.#admitted = true;
    this.#cloud = options.cloud === true;
    this.#head = undefined;
    this.#settle();
    if (this.#heldByPublishes) this.#resumeReading();
  }

  /**
   * The client's keepalive from its CONNECT (seconds; 0: none), kept by the guard from now on instead
   * of aedes (module comment, "Keepalive").
   */
  keepAlive(seconds: number): void {
    this.#silenceMs = seconds > 0 ? seconds * 1500 : 0;
    this.#listen();
  }

  /** (Re)starts the silence timer: the guard is reading the socket and just heard from the client. */
  #listen(): void {
    if (this.#silenceMs === 0 || this.#refused) return;
    if (this.#silence) {
      this.#silence.refresh();
      return;
    }
    this.#silence = setTimeout(() => this.#refuse('keepalive-timeout'), this.#silenceMs);
    this.#silence.unref();
  }

  /** The guard stops reading the socket (aedes is `maxUnreadBytes` behind): no silence is counted. */
  #deaf(): void {
    clearTimeout(this.#silence);
    this.#silence = undefined;
  }

  #settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#events.onSettled();
  }

  #refuse(reason: GuardRefusal): void {
    if (this.#refused) return;
    this.#refused = true;
    this.#events.onRefused(reason);
    this.#inner.destroy();
    this.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#refused) return;
    if (!this.#admitted) {
      const refusal = this.#screen(chunk);
      if (refusal) {
        this.#refuse(refusal);
        return;
      }
    }
    this.#listen();
    // PINGREQs are answered here once the client has its CONNACK (before, aedes sees them as they are).
    const { rest, pings, publishes } = this.#pings.take(chunk, this.#admitted);
    if (pings > 0) this.#answerPings(pings);
    if (this.#pings.tooLarge && this.#admitted) {
      this.#refuse('packet-too-large');
      return;
    }
    if (rest.length === 0 || this.#refused) return;
    const whole = this.#gather.add(rest, this.#pings.packetLeft);
    if (whole) this.#deliver(whole);
    if (publishes > 0) this.#readPublishes(publishes);
  }

  /** More PUBLISHes read: past `maxUnfinishedPublishes`, a gate's or observer's socket is read no further. */
  #readPublishes(count: number): void {
    this.#publishes.read(count);
    if (this.#heldByPublishes || !this.#publishesHold()) return;
    this.#heldByPublishes = true;
    this.#publishes.tally.waits += 1;
    this.#stopReading();
  }

  #publishesHold(): boolean {
    return !this.#cloud && this.#publishes.over;
  }

  /** aedes finished one of this client's publishes (its `publish` event): read again once back at the limit. */
  published(): void {
    if (this.#publishes.finished()) this.#resumeReading();
  }

  /**
   * One write for a chunk's PINGRESPs, held to the same budget as what aedes sends (`#send`): a gate
   * that pings without reading is a slow reader too, not a way round `maxQueuedBytes`.
   */
  #answerPings(pings: number): void {
    this.#inner.write(pings === 1 ? PINGRESP : Buffer.concat(Array.from({ length: pings }, () => PINGRESP)));
    if (!this.#cloud && this.#inner.writableLength > this.#limits.maxQueuedBytes) this.#refuse('slow-reader');
  }

  /**
   * To aedes now, or into `#unread` while aedes is behind, charged what holding it costs; past
   * `maxUnreadBytes`, or with the budget across connections used up, the socket is paused before
   * anything more is read.
   */
  #deliver(bytes: Buffer): void {
    if (this.#unread.length === 0 && !this.#aedesFull) {
      this.#aedesFull = !this.push(bytes);
      return;
    }
    const cost = heldCost(bytes);
    this.#unread.push(bytes);
    this.#unreadCost += cost;
    this.#budget.take(cost);
    if (this.#unreadCost > this.#limits.maxUnreadBytes) {
      this.#stopReading();
    } else if (this.#waitsForBudget()) {
      this.#stopReading();
      this.#budget.wait(this.#budgetTurn);
    }
  }

  /** Read ahead no further for now: the budget is used up, and this is not the cloud everyone waits on. */
  #waitsForBudget(): boolean {
    return !this.#cloud && this.#unreadCost > 0 && this.#budget.full;
  }

  /** The broker's wait, not the client's silence: no keepalive is counted while the socket is not read. */
  #stopReading(): void {
    this.#inner.pause();
    this.#deaf();
  }

  /** Reads the socket again unless a limit still holds it (`maxUnreadBytes`, unfinished publishes, or the budget: back in line). */
  #resumeReading(): void {
    if (this.#refused || this.#ended || this.destroyed) return;
    if (this.#unreadCost > this.#limits.maxUnreadBytes || this.#publishesHold()) return;
    this.#heldByPublishes = false;
    if (this.#waitsForBudget()) {
      this.#budget.wait(this.#budgetTurn);
      return;
    }
    this.#budget.leave(this.#budgetTurn);
    if (this.#inner.isPaused()) this.#listen();
    this.#inner.resume();
  }

  /** The pre-CONNACK checks on one more chunk; a refusal, or undefined to pass it on. */
  #screen(chunk: Buffer): GuardRefusal | undefined {
    this.#bytesBeforeConnack += chunk.length;
    if (this.#head) {
      const head = Buffer.concat([this.#head, chunk.subarray(0, 5)]).subarray(0, 5);
      if (head[0] !== CONNECT_BYTE) return 'not-connect';
      const size = announcedPacketSize(head);
      if (size === 'malformed') return 'connect-too-large';
      if (size === 'more') {
        this.#head = head;
      } else {
        if (size.total > this.#limits.maxConnectBytes) return 'connect-too-large';
        this.#head = undefined;
      }
    }
    if (this.#bytesBeforeConnack > this.#limits.maxBytesBeforeConnack) return 'too-much-before-connack';
    return undefined;
  }

  override _read(): void {
    this.#aedesFull = false;
    let released = 0;
    while (this.#unread.length > 0 && !this.#aedesFull) {
      const { run, cost } = this.#takeRun();
      this.#unreadCost -= cost;
      released += cost;
      this.#aedesFull = !this.push(run);
    }
    if (released > 0) this.#budget.give(released);
    if (this.#ended) {
      if (this.#unread.length === 0) this.push(null);
      return;
    }
    this.#resumeReading();
  }

  /**
   * The next held chunks for aedes as one Buffer: a chunk of `RUN_BYTES` or more as it is, else as
   * many as fit in `RUN_BYTES` joined; with what they were charged, released exactly.
   */
  #takeRun(): { run: Buffer; cost: number } {
    const first = this.#unread.shift()!;
    const parts = [first];
    let length = first.length;
    let cost = heldCost(first);
    while (this.#unread.length > 0 && length + this.#unread[0]!.length <= RUN_BYTES) {
      const next = this.#unread.shift()!;
      parts.push(next);
      length += next.length;
      cost += heldCost(next);
    }
    return { run: parts.length === 1 ? first : Buffer.concat(parts, length), cost };
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send([{ chunk, encoding }], callback);
  }

  /** aedes (mqtt-packet) corks while it writes a packet's parts; they leave as one segment, not one each. */
  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (error?: Error | null) => void,
  ): void {
    this.#send(chunks, callback);
  }

  /**
   * Hands the chunks to the socket at once. A gate's backlog past `maxQueuedBytes` ends its
   * connection; a cloud's past `cloudWindowBytes` holds `done` until the socket drains, so the
   * guard's buffer fills and aedes waits (module comment).
   */
  #send(chunks: readonly { chunk: Buffer; encoding: BufferEncoding }[], done: () => void): void {
    if (this.#refused || this.#inner.destroyed) {
      done();
      return;
    }
    this.#inner.cork();
    for (const { chunk, encoding } of chunks) this.#inner.write(chunk, encoding);
    this.#inner.uncork();
    const backlog = this.#inner.writableLength;
    if (!this.#cloud || backlog <= this.#limits.cloudWindowBytes) {
      if (!this.#cloud && backlog > this.#limits.maxQueuedBytes) this.#refuse('slow-reader');
      done();
      return;
    }
    this.#events.onWindowFull?.();
    const release = () => {
      this.#inner.off('drain', release);
      this.#inner.off('close', release);
      done();
    };
    this.#inner.on('drain', release);
    this.#inner.on('close', release);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#inner.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#deaf();
    this.#silenceMs = 0;
    // What aedes will never take goes back to the budget, and this connection leaves the line.
    this.#budget.leave(this.#budgetTurn);
    this.#publishes.close();
    const unread = this.#unreadCost;
    this.#unread.length = 0;
    this.#unreadCost = 0;
    if (unread > 0) this.#budget.give(unread);
    this.#settle();
    this.#inner.destroy();
    callback(error);
  }
}
