/**
 * Small pieces of a packet that is not complete yet, gathered into one Buffer before aedes sees
 * them (broker/connection-guard.ts, "What is held").
 *
 * aedes' parser (mqtt-packet) keeps every Buffer it is handed until the packet they belong to is
 * complete. A client sending a PUBLISH as 1-byte TCP segments, read by the guard as fast as they
 * come, made that parser hold one Buffer — ~1 KiB of memory (broker/unread-budget.ts,
 * `HELD_CHUNK_OVERHEAD_BYTES`) — per byte, up to the 256 MB a fixed header may announce, and
 * nothing counted it. Bytes of an incomplete packet are of no use to aedes before the rest arrives,
 * so a piece that ends inside a packet is copied here instead, and handed on joined with what
 * follows once the packet is complete or `GATHER_BYTES` have gathered: aedes' parser then holds
 * one Buffer per 16 KiB of a packet, however it was cut. A piece of `GATHER_BYTES` or more (a
 * gate's 64 KiB reads) passes as it is. What is gathered is one Buffer of at most `GATHER_BYTES`
 * per connection, sized to what is left of the packet: a fixed cost like the socket's own read.
 */
export const GATHER_BYTES = 16 * 1024;

export class PacketGather {
  #buffer: Buffer | undefined;
  #length = 0;

  /**
   * `bytes` after what is gathered, `packetLeft` bytes of their packet still to come (0: they end
   * on a packet's boundary): what to hand aedes now as one Buffer, or undefined while it gathers.
   */
  add(bytes: Buffer, packetLeft: number): Buffer | undefined {
    if (this.#length === 0 && (packetLeft === 0 || bytes.length >= GATHER_BYTES)) return bytes;
    // Sized to the packet's rest when that is smaller; a piece may also end the packet and start the next.
    const capacity = this.#buffer?.length ?? Math.min(GATHER_BYTES, bytes.length + packetLeft);
    if (packetLeft === 0 || this.#length + bytes.length >= capacity) {
      const whole = this.#length === 0 ? bytes : Buffer.concat([this.#buffer!.subarray(0, this.#length), bytes]);
      this.#buffer = undefined;
      this.#length = 0;
      return whole;
    }
    if (!this.#buffer) this.#buffer = Buffer.allocUnsafe(capacity);
    bytes.copy(this.#buffer, this.#length);
    this.#length += bytes.length;
    return undefined;
  }

  /** What is gathered, if anything (the stream ends: aedes gets the incomplete packet as before). */
  flush(): Buffer | undefined {
    if (this.#length === 0) return undefined;
    const rest = this.#buffer!.subarray(0, this.#length);
    this.#buffer = undefined;
    this.#length = 0;
    return rest;
  }
}
