/**
 * MQTT framing without parsing (MQTT 3.1.1 §2.2): a packet's size from its fixed header, and a
 * client's PINGREQs (and PUBLISHes, counted) found in its inbound byte stream.
 *
 * `InboundPings` finds a client's PINGREQs in its inbound byte stream, so the connection guard can
 * answer them itself (broker/connection-guard.ts, "Keepalive"). Packets are only framed, never parsed: each
 * fixed header (MQTT 3.1.1 §2.2) gives the packet's length, the body is skipped. A PINGREQ (§3.12:
 * 0xC0, remaining length 0) is cut out of the stream and counted; everything else passes on byte
 * for byte. Every PUBLISH's fixed header (§3.3: type 3, any QoS) is counted as it is framed, for the
 * guard's bound on unfinished publishes (broker/unfinished-publishes.ts). A fixed header split across chunks is held back (at most 4 bytes) until its rest
 * arrives — aedes could not parse it before either. After a malformed length (a fifth continuation
 * byte) the stream is no longer framed and passes on whole: aedes' parser refuses it.
 */
const PINGREQ = 0xc0;
/** A PUBLISH's packet type in the fixed header's high nibble (§2.2.1). */
const PUBLISH_TYPE = 3;

/**
 * What a PUBLISH carries besides its payload: fixed header (≤ 5), topic (2 + ≤ ~200), packet id (2).
 * The largest packet a client may send is the largest payload plus this, in the embedded broker
 * (broker/connection-guard.ts, `maxPacketBytes`) and in Mosquitto's `max_packet_size`
 * (broker/mosquitto-config.ts) alike: one figure for both.
 */
export const PACKET_OVERHEAD_BYTES = 1024;
/** The largest PUBLISH payload either broker accepts by default (`--max-payload`): 1 MiB. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * Decodes the fixed header's remaining length (§2.2.3) from the first bytes of a packet:
 * `{ total }` (fixed header + remaining length), `'more'` when the bytes so far are not enough,
 * or `'malformed'` after four continuation bytes.
 */
export function announcedPacketSize(head: Buffer): { total: number } | 'more' | 'malformed' {
  const size = packetSizeAt(head, 0);
  return typeof size === 'number' ? { total: size } : size;
}

/** `announcedPacketSize` of the packet starting at `at`, without a copy or an object: on every packet's path. */
function packetSizeAt(bytes: Buffer, at: number): number | 'more' | 'malformed' {
  let value = 0;
  let multiplier = 1;
  for (let i = 1; i <= 4; i++) {
    if (at + i >= bytes.length) return 'more';
    const byte = bytes[at + i]!;
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return 1 + i + value;
    multiplier *= 128;
  }
  return 'malformed';
}

export class InboundPings {
  /** A packet announcing more than `maxPacketBytes` was framed (`tooLarge`); nothing after it is. */
  #tooLarge = false;

  constructor(private readonly maxPacketBytes = Number.POSITIVE_INFINITY) {}

  /** Bytes of the current packet still to come. */
  #skip = 0;
  /** The start of a fixed header whose length bytes have not all arrived yet. */
  #partial: Buffer | undefined;
  #lost = false;

  /**
   * Bytes of the current packet still to come after the last `take` (0: what was taken ended on a
   * packet's boundary, or the stream is no longer framed).
   */
  get packetLeft(): number {
    return this.#lost ? 0 : this.#skip;
  }

  /** A fixed header announced more than `maxPacketBytes`: the stream is framed no further. */
  get tooLarge(): boolean {
    return this.#tooLarge;
  }

  /**
   * The chunk without its whole PINGREQs (`cut`; else only framed), how many were cut, and how many
   * PUBLISH fixed headers it completed (`publishes`: counted once each, when its length is known).
   */
  take(chunk: Buffer, cut: boolean): { rest: Buffer; pings: number; publishes: number } {
    if (this.#lost) return { rest: chunk, pings: 0, publishes: 0 };
    const bytes = this.#partial ? Buffer.concat([this.#partial, chunk]) : chunk;
    this.#partial = undefined;
    const kept: Buffer[] = [];
    let pings = 0;
    let publishes = 0;
    let from = 0;
    let at = 0;
    while (at < bytes.length) {
      if (this.#skip > 0) {
        const step = Math.min(this.#skip, bytes.length - at);
        this.#skip -= step;
        at += step;
        continue;
      }
      const size = packetSizeAt(bytes, at);
      if (size === 'malformed') {
        this.#lost = true;
        at = bytes.length;
        break;
      }
      if (size === 'more') {
        this.#partial = Buffer.from(bytes.subarray(at));
        break;
      }
      if (size > this.maxPacketBytes) {
        this.#tooLarge = true;
        this.#lost = true;
        at = bytes.length;
        break;
      }
      if (cut && size === 2 && bytes[at] === PINGREQ) {
        if (at > from) kept.push(bytes.subarray(from, at));
        pings += 1;
        at += 2;
        from = at;
        continue;
      }
      if (bytes[at]! >> 4 === PUBLISH_TYPE) publishes += 1;
      const left = bytes.length - at;
      if (size <= left) {
        at += size;
      } else {
        this.#skip = size - left;
        at = bytes.length;
      }
    }
    if (at > from) kept.push(bytes.subarray(from, at));
    const rest = kept.length === 1 ? kept[0]! : Buffer.concat(kept);
    return { rest, pings, publishes };
  }
}
