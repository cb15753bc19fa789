/**
 * aedes' message emitter (mqemitter) must never release a backlog in one synchronous chain
 * (docs/deploy.md, "Limits per connection").
 *
 * aedes delivers at most 100 messages at once (its `concurrency`) and queues the rest in its
 * emitter. When a message is done, mqemitter starts the next queued one from inside that
 * completion (`released` → `_do` → fastparallel). Deliveries to a subscriber finish on a later
 * turn (aedes defers them with `setImmediate`), but a message that matches **no** subscriber
 * finishes at once, inside the call that started it, which releases the next one, and so on:
 * one stack frame group per queued message. A backlog of a few thousand such messages —
 * a gate ignoring its uplink window while the cloud is held back (aedes still reads it), then the
 * cloud gone, so nobody matches — threw `RangeError: Maximum call stack size exceeded` out of
 * the socket's event handler: uncaught, the broker process died
 * (test/broker/backlog-release.test.ts).
 *
 * One listener here matches every topic. While messages wait in the emitter's queue it finishes
 * on the next turn (`setImmediate`), so no message finishes inside the release of the one before:
 * the chain is cut, one frame group deep, and the queue still runs in its order. While nothing
 * waits — the normal path — it finishes at once: no timer, no allocation per message.
 */
import type { Aedes, AedesPublishPacket } from 'aedes';

/** The part of mqemitter this relies on: how many messages wait in its queue. */
interface QueuedEmitter {
  readonly length: number;
}

export const EVERY_TOPIC = '#';

/** Registers the listener on `broker`'s emitter; resolves once it is in place. */
export function cutReleaseChains(broker: Aedes): Promise<void> {
  const emitter = (broker as unknown as { mq: QueuedEmitter }).mq;
  const listener = (_packet: AedesPublishPacket, done: () => void) => {
    if (emitter.length > 0) setImmediate(done);
    else done();
  };
  return new Promise((resolve) => broker.subscribe(EVERY_TOPIC, listener, resolve));
}
