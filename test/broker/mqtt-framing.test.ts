/**
 * The guard's framing of a client's inbound bytes (broker/mqtt-framing.ts): on generated streams of
 * packets — PINGREQs among publishes whose lengths take one to three bytes and whose bodies are
 * full of 0xC0 0x00 and PUBLISH-like bytes — cut at arbitrary points, every PINGREQ and nothing else
 * is taken out, every PUBLISH is counted once (broker/unfinished-publishes.ts), and the rest reaches
 * aedes byte for byte in order. Without cutting, the stream passes unchanged.
 */
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { InboundPings } from '../../broker/mqtt-framing.ts';

const PINGREQ = Buffer.from([0xc0, 0x00]);
/** A body that looks like PINGREQs and QoS 1 PUBLISH headers: only framing can tell. */
const DECOY = Buffer.from([0xc0, 0x00, 0x32, 0x02]);

const packet = fc.oneof(
  fc.constant(PINGREQ),
  fc
    .record({
      size: fc.oneof(fc.nat(40), fc.integer({ min: 100, max: 20_000 })),
      id: fc.integer({ min: 1, max: 65_535 }),
    })
    .map(({ size, id }) =>
      mqttPacket.generate({
        cmd: 'publish',
        topic: 'gates/g1/events',
        qos: 1,
        messageId: id,
        dup: false,
        retain: false,
        // Bodies made of PINGREQs and PUBLISH headers: only framing, not a byte search, can tell them apart.
        payload: Buffer.alloc(size, DECOY),
      }),
    ),
  fc.integer({ min: 1, max: 65_535 }).map((id) => mqttPacket.generate({ cmd: 'puback', messageId: id })),
);

/** The stream cut at the given points (fractions of its length). */
function cut(stream: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => Math.floor(p * stream.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const to of [...at, stream.length]) {
    if (to > from) chunks.push(stream.subarray(from, to));
    from = Math.max(from, to);
  }
  return chunks;
}

describe('InboundPings', () => {
  it('takes out exactly the PINGREQs, however the stream is cut, and passes the rest in order', () => {
    fc.assert(
      fc.property(
        fc.array(packet, { minLength: 1, maxLength: 30 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
        (packets, points) => {
          const stream = Buffer.concat(packets);
          const framer = new InboundPings();
          let pings = 0;
          let publishes = 0;
          const rest: Buffer[] = [];
          for (const chunk of cut(stream, points)) {
            const taken = framer.take(chunk, true);
            pings += taken.pings;
            publishes += taken.publishes;
            rest.push(taken.rest);
          }
          expect(pings).toBe(packets.filter((p) => p === PINGREQ).length);
          expect(publishes).toBe(packets.filter((p) => p[0] === 0x32).length);
          expect(Buffer.concat(rest).equals(Buffer.concat(packets.filter((p) => p !== PINGREQ)))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('passes everything unchanged while not cutting (before CONNACK), and stays in step after', () => {
    const framer = new InboundPings();
    const connect = mqttPacket.generate({ cmd: 'connect', clientId: 'g1', keepalive: 30 } as mqttPacket.IConnectPacket);
    const before = Buffer.concat([connect, PINGREQ]);
    expect(framer.take(before, false)).toEqual({ rest: before, pings: 0, publishes: 0 });
    const publish = mqttPacket.generate({
      cmd: 'publish',
      topic: 't',
      payload: PINGREQ,
      qos: 0,
      dup: false,
      retain: false,
    });
    const after = framer.take(Buffer.concat([publish, PINGREQ]), true);
    expect(after.pings).toBe(1);
    expect(after.publishes).toBe(1);
    expect(after.rest.equals(publish)).toBe(true);
  });

  it('says when a fixed header announces more than the largest packet, and frames no further', () => {
    const framer = new InboundPings(1024);
    const fits = mqttPacket.generate({
      cmd: 'publish',
      topic: 't',
      payload: Buffer.alloc(1000),
      qos: 0,
      dup: false,
      retain: false,
    });
    expect(framer.take(fits, true).rest.equals(fits)).toBe(true);
    expect(framer.tooLarge).toBe(false);
    const over = mqttPacket.generate({
      cmd: 'publish',
      topic: 't',
      payload: Buffer.alloc(1020),
      qos: 0,
      dup: false,
      retain: false,
    });
    framer.take(over.subarray(0, 3), true);
    expect(framer.tooLarge).toBe(true);
    expect(framer.take(PINGREQ, true)).toEqual({ rest: PINGREQ, pings: 0, publishes: 0 });
  });

  it('after a malformed length, frames no more and passes everything on for aedes to refuse', () => {
    const framer = new InboundPings();
    const malformed = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(framer.take(malformed, true)).toEqual({ rest: malformed, pings: 0, publishes: 0 });
    expect(framer.take(PINGREQ, true)).toEqual({ rest: PINGREQ, pings: 0, publishes: 0 });
  });
});
