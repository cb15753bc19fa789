/**
 * One correction to aedes' session store: a QoS 1 message that was already sent to a persistent
 * session and is sent again when the session reconnects carries DUP 1, as MQTT 3.1.1 requires
 * ([MQTT-3.3.1-1], §4.4). aedes re-sends the stored packet as it was (DUP 0). A stored packet that
 * already has a packet id was sent before; one queued while the client was offline has none yet
 * and goes out with DUP 0, being its first delivery. (test/broker/mqtt-conformance.integration.test.ts checks
 * both against aedes and Mosquitto.)
 */
import type { Readable } from 'node:stream';

interface StoredPacket {
  messageId?: number;
  dup?: boolean;
}

/** The part of an aedes persistence this touches (`aedes.persistence`, set once the broker listens). */
export interface OutgoingStore {
  outgoingStream(client: unknown): Readable;
}

/** Wraps the store's `outgoingStream` in place so re-sent packets carry DUP 1. */
export function markRedeliveries(store: OutgoingStore): void {
  const outgoingStream = store.outgoingStream.bind(store);
  store.outgoingStream = (client) =>
    outgoingStream(client).map((packet: StoredPacket) =>
      packet.messageId === undefined
        ? packet
        : Object.assign(Object.create(Object.getPrototypeOf(packet) as object) as object, packet, { dup: true }),
    );
}
