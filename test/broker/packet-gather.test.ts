/**
 * Pieces of an incomplete packet are joined before aedes sees them (broker/packet-gather.ts): aedes'
 * parser keeps every Buffer of a packet until it is complete, so a PUBLISH sent as 1-byte TCP
 * segments made it hold one Buffer per byte. On generated streams cut anywhere, down to single
 * bytes, every byte passes in order and aedes gets a bounded number of Buffers; over real TCP on
 * 127.0.0.1, a guarded connection read the way aedes reads gets a PUBLISH trickled a byte per
 * segment as a handful of Buffers, not thousands.
 */
import { createServer, connect as connectTcp, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_CONNECTION_LIMITS, GuardedConnection } from '../../broker/connection-guard.ts';
import { InboundPings } from '../../broker/mqtt-framing.ts';
import { GATHER_BYTES, PacketGather } from '../../broker/packet-gather.ts';

function publish(size: number, id: number): Buffer {
  return mqttPacket.generate({
    cmd: 'publish',
    topic: 'gates/g1/events',
    qos: 1,
    messageId: id,
    dup: false,
    retain: false,
    payload: Buffer.alloc(size, id % 251),
  });
}

const packet = fc.oneof(
  fc
    .record({
      size: fc.oneof(fc.nat(40), fc.integer({ min: 100, max: 40_000 })),
      id: fc.integer({ min: 1, max: 65_535 }),
    })
    .map(({ size, id }) => publish(size, id)),
  fc.integer({ min: 1, max: 65_535 }).map((id) => mqttPacket.generate({ cmd: 'puback', messageId: id })),
);

/** The stream in pieces of the given sizes, repeated (1 cuts it into single bytes). */
function pieces(stream: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < stream.length; i++) {
    const size = sizes[i % sizes.length]!;
    out.push(stream.subarray(at, at + size));
    at += size;
  }
  return out;
}

describe('PacketGather', () => {
  it('passes every byte in order, as a bounded number of Buffers however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(packet, { minLength: 1, maxLength: 12 }),
        fc.array(fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 70_000 })), { minLength: 1, maxLength: 8 }),
        (packets, sizes) => {
          const stream = Buffer.concat(packets);
          const framer = new InboundPings();
          const gather = new PacketGather();
          const handed: Buffer[] = [];
          for (const piece of pieces(stream, sizes)) {
            const { rest } = framer.take(piece, true);
            const whole = rest.length > 0 ? gather.add(rest, framer.packetLeft) : undefined;
            if (whole) handed.push(whole);
          }
          const tail = gather.flush();
          if (tail) handed.push(tail);
          expect(Buffer.concat(handed).equals(stream)).toBe(true);
          // At most two Buffers per packet (its start may ride with the end of the one before) and
          // one per GATHER_BYTES of it — cut into single bytes, the stream was thousands of pieces.
          const bound = 2 * packets.length + Math.ceil(stream.length / GATHER_BYTES);
          expect(handed.length).toBeLessThanOrEqual(bound);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('a PUBLISH trickled a byte per TCP segment (real TCP, 127.0.0.1)', () => {
  let server: Server | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('reaches the reader as a handful of Buffers, not one per byte, and whole', async () => {
    const received: Buffer[] = [];
    let guard: GuardedConnection | undefined;
    server = createServer((socket) => {
      sockets.push(socket);
      guard = new GuardedConnection(socket, DEFAULT_CONNECTION_LIMITS, { onRefused() {}, onSettled() {} });
      guard.admit();
      // Read the way aedes reads: paused mode, everything there is on each 'readable'.
      guard.on('readable', () => {
        for (let chunk = guard!.read(); chunk !== null; chunk = guard!.read()) received.push(chunk as Buffer);
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const client = await new Promise<Socket>((resolve) => {
      const socket = connectTcp({ port, host: '127.0.0.1' }, () => resolve(socket));
    });
    sockets.push(client);
    client.setNoDelay(true);
    const packet = publish(64 * 1024, 7);
    const TRICKLED = 3000;
    for (let i = 0; i < TRICKLED; i++) {
      await new Promise<void>((resolve) => client.write(packet.subarray(i, i + 1), () => resolve()));
      // The guard reads each byte on its own before the next is sent.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(received.length, 'Buffers handed on while the packet is incomplete').toBeLessThanOrEqual(
      Math.ceil(TRICKLED / GATHER_BYTES),
    );
    client.write(packet.subarray(TRICKLED));
    await vi.waitFor(() => expect(Buffer.concat(received).length).toBe(packet.length), {
      timeout: 30_000,
      interval: 10,
    });
    expect(Buffer.concat(received).equals(packet)).toBe(true);
    expect(received.length).toBeLessThanOrEqual(8);
  });
});
