import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type SessionEnd, type SnapshotSend, SnapshotFlow } from '../../../cloud/sync/snapshot-flow.ts';
import { SnapshotReadStopped } from '../../../cloud/sync/snapshot-parts.ts';
import { DEFAULT_CONNECTION_LIMITS } from '../../../broker/connection-guard.ts';
import { silentLogger } from '../../../shared/log.ts';
import { CONTRACT_MAX_PAYLOAD_BYTES } from '../../../shared/schemas/payload-limits.ts';
import type { SnapshotChunk } from '../../../shared/schemas/mqtt.ts';

/** Lets queued promise callbacks (the flow's publishes) run; timers stay faked. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

const payloadOf = (snapshotRev: number, part: number, parts: number): Buffer =>
  Buffer.from(JSON.stringify({ snapshotRev, part, parts, records: [] } satisfies SnapshotChunk));
/** Parts 1..9 of a rev below 10 all serialize to the same length. */
const PART_BYTES = payloadOf(5, 1, 9).length;
const decode = (payload: unknown) => JSON.parse((payload as Buffer).toString()) as SnapshotChunk;

/**
 * A session of `parts` parts, every part added at once (as a store read that is done); `started`
 * resolves once the first window is handed to MQTT. A resumed session adds nothing.
 */
function sendAll(flow: SnapshotFlow, gateId: string, rev: number, parts: number) {
  const send: SnapshotSend = flow.send(gateId, gateId, { compoundId: 'c-1', rev, parts });
  if (send.resumed) return send;
  const adds = Array.from({ length: parts }, (_, i) => send.add(payloadOf(rev, i + 1, parts)));
  return { ...send, started: adds[0] ?? Promise.resolve() };
}

describe('SnapshotFlow (window of unacknowledged snapshot parts)', () => {
  let sent: { topic: string; part: number; rev: number }[];
  let flow: SnapshotFlow;
  const parts = (topic = 'g-1') => sent.filter((s) => s.topic === topic).map((s) => s.part);

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    sent = [];
    flow = new SnapshotFlow({
      publish: async (topic, payload) => {
        const chunk = decode(payload);
        sent.push({ topic, part: chunk.part, rev: chunk.snapshotRev });
      },
      logger: silentLogger,
      maxInFlightBytes: 3 * PART_BYTES,
      paceMs: 1_000,
      giveUpMs: 10_000,
    });
  });
  afterEach(() => {
    flow.stop();
    vi.useRealTimers();
  });

  it('keeps at most the window unacknowledged and sends on as the gate acks, to the end', async () => {
    const { started, finished } = sendAll(flow, 'g-1', 5, 9);
    await started;
    expect(parts()).toEqual([1, 2, 3]);
    await settle();
    expect(parts()).toEqual([1, 2, 3]); // nothing more without an ack
    expect(flow.ack('g-1', 5, 1)).toBe(true);
    await settle();
    expect(parts()).toEqual([1, 2, 3, 4]);
    flow.ack('g-1', 5, 3); // acks may be coalesced: parts 1..3 staged
    await settle();
    expect(parts()).toEqual([1, 2, 3, 4, 5, 6]);
    // An acking gate is never pushed past its window, however long it takes (short of giving up).
    await vi.advanceTimersByTimeAsync(5_000);
    expect(parts()).toEqual([1, 2, 3, 4, 5, 6]);
    flow.ack('g-1', 5, 6);
    await settle();
    expect(parts()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let end: SessionEnd | undefined;
    void finished.then((e) => {
      end = e;
    });
    await settle();
    expect(end).toBeUndefined(); // still waiting for the last acks
    flow.ack('g-1', 5, 9);
    expect(await finished).toBe('sent');
    expect(flow.activeRev('g-1')).toBeUndefined();
  });

  it('an ack for parts never sent counts only what was sent: no part is skipped', async () => {
    const { started, finished } = sendAll(flow, 'g-1', 5, 6);
    await started;
    expect(parts()).toEqual([1, 2, 3]);
    flow.ack('g-1', 5, 6); // claims all six while only three went out
    await settle();
    expect(parts()).toEqual([1, 2, 3, 4, 5, 6]);
    flow.ack('g-1', 5, 6);
    expect(await finished).toBe('sent');
  });

  it('always keeps one part in flight, even one larger than the window', async () => {
    flow = new SnapshotFlow({
      publish: async (topic, payload) => {
        sent.push({ topic, part: decode(payload).part, rev: 5 });
      },
      logger: silentLogger,
      maxInFlightBytes: 1,
    });
    await sendAll(flow, 'g-1', 5, 3).started;
    expect(parts()).toEqual([1]);
    flow.ack('g-1', 5, 1);
    await settle();
    expect(parts()).toEqual([1, 2]);
  });

  it('paces a gate that never acks (an older agent) at one part per paceMs, and completes', async () => {
    const { started, finished } = sendAll(flow, 'g-1', 5, 6);
    await started;
    expect(parts()).toEqual([1, 2, 3]);
    await vi.advanceTimersByTimeAsync(999);
    expect(parts()).toEqual([1, 2, 3]);
    await vi.advanceTimersByTimeAsync(1);
    expect(parts()).toEqual([1, 2, 3, 4]);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(parts()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await finished).toBe('sent');
  });

  it('gives up on a gate that acked and then fell silent, without pushing more parts at it', async () => {
    const { started, finished } = sendAll(flow, 'g-1', 5, 9);
    await started;
    flow.ack('g-1', 5, 1);
    await settle();
    expect(parts()).toEqual([1, 2, 3, 4]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await finished).toBe('gave-up');
    expect(parts()).toEqual([1, 2, 3, 4]);
    expect(flow.ack('g-1', 5, 4)).toBe(false); // the session is gone
  });

  it('a gate asking again resumes from its first unacknowledged part; a newer snapshot replaces the session', async () => {
    const first = sendAll(flow, 'g-1', 5, 9);
    await first.started;
    flow.ack('g-1', 5, 2);
    await settle();
    expect(parts()).toEqual([1, 2, 3, 4, 5]);
    // Reconnected, asks again: parts 3..5 may be lost with the old connection; they go again.
    const again = sendAll(flow, 'g-1', 5, 9);
    await again.started;
    expect(parts()).toEqual([1, 2, 3, 4, 5, 3, 4, 5]);
    expect(again.finished).toBe(first.finished);
    // The compound moved on: a new snapshot rev replaces the session; acks of the old one are ignored.
    const newer = sendAll(flow, 'g-1', 6, 4);
    await newer.started;
    expect(await first.finished).toBe('replaced');
    expect(flow.activeRev('g-1')).toBe(6);
    expect(flow.ack('g-1', 5, 9)).toBe(false);
    expect(sent.filter((s) => s.rev === 6).map((s) => s.part)).toEqual([1, 2, 3]);
  });

  it('sends parts as the store reads them: a window open for a part not read yet waits for it', async () => {
    const send = flow.send('g-1', 'g-1', { compoundId: 'c-1', rev: 5, parts: 5 });
    await send.add(payloadOf(5, 1, 5));
    expect(parts()).toEqual([1]); // the window has room; part 2 is not read yet
    await send.add(payloadOf(5, 2, 5));
    expect(parts()).toEqual([1, 2]);
    flow.ack('g-1', 5, 2);
    await settle();
    for (const part of [3, 4, 5]) void send.add(payloadOf(5, part, 5));
    await settle();
    expect(parts()).toEqual([1, 2, 3, 4, 5]);
    flow.ack('g-1', 5, 5);
    expect(await send.finished).toBe('sent');
  });

  it('ends the session failed when its parts cannot be read, sending nothing more', async () => {
    const send = flow.send('g-1', 'g-1', { compoundId: 'c-1', rev: 5, parts: 5 });
    await send.add(payloadOf(5, 1, 5));
    send.fail(new Error('disk gone'));
    expect(await send.finished).toBe('failed');
    expect(flow.activeRev('g-1')).toBeUndefined();
    expect(flow.ack('g-1', 5, 1)).toBe(false);
    expect(parts()).toEqual([1]);
  });

  it('resumes a session only for the same compound: a gate now in another compound gets a new one', async () => {
    const first = flow.send('g-1', 'g-1', { compoundId: 'c-1', rev: 5, parts: 5 });
    await first.add(payloadOf(5, 1, 5));
    const other = flow.send('g-1', 'g-1', { compoundId: 'c-2', rev: 5, parts: 5 });
    expect(other.resumed).toBe(false);
    expect(await first.finished).toBe('replaced');
  });

  it('stops the read of a session that ended before its parts were all read', async () => {
    const first = flow.send('g-1', 'g-1', { compoundId: 'c-1', rev: 5, parts: 5 });
    await first.add(payloadOf(5, 1, 5));
    flow.send('g-1', 'g-1', { compoundId: 'c-1', rev: 6, parts: 5 });
    expect(() => first.add(payloadOf(5, 2, 5))).toThrow(SnapshotReadStopped);
  });

  it('keeps one session per gate: gates do not share a window', async () => {
    await sendAll(flow, 'g-1', 5, 9).started;
    await sendAll(flow, 'g-2', 5, 9).started;
    flow.ack('g-2', 5, 3);
    await settle();
    expect(parts('g-1')).toEqual([1, 2, 3]);
    expect(parts('g-2')).toEqual([1, 2, 3, 4, 5, 6]);
    expect(flow.ack('g-3', 5, 1)).toBe(false); // no session here (another instance's gate, say)
  });
});

/**
 * The default window, with parts of real sizes: what is sent and not acked (what the broker may hold
 * for the gate) stays under the broker's slow-reader limit even with parts at the gate's 1 MiB size
 * limit, and parts of 1000 residents (~400 KB) go several at a time, so the next ones are on their
 * way while the gate stages one (docs/cloud.md, "Snapshot flow control").
 */
describe('SnapshotFlow default window', () => {
  async function inFlightPeak(partBytes: number, parts: number) {
    const sizes = new Map<number, number>();
    const unacked = new Set<number>();
    let peakBytes = 0;
    let peakParts = 0;
    const flow = new SnapshotFlow({
      publish: async (_topic, payload) => {
        const bytes = payload as Buffer;
        const part = Number(/"part":(\d+)/.exec(bytes.subarray(0, 64).toString())![1]);
        sizes.set(part, bytes.length);
        unacked.add(part);
        peakParts = Math.max(peakParts, unacked.size);
        peakBytes = Math.max(
          peakBytes,
          [...unacked].reduce((sum, p) => sum + sizes.get(p)!, 0),
        );
      },
      logger: silentLogger,
    });
    const send = flow.send('g-1', 'g-1', { compoundId: 'c-1', rev: 5, parts });
    for (let part = 1; part <= parts; part++) {
      const head = Buffer.from(`{"snapshotRev":5,"part":${part},"parts":${parts},"records":[`);
      void send.add(Buffer.concat([head, Buffer.alloc(partBytes - head.length - 2, 0x20), Buffer.from(']}')]));
    }
    for (let part = 1; part <= parts; part++) {
      await settle();
      unacked.delete(part);
      flow.ack('g-1', 5, part); // the gate stages the parts in order, acking each
    }
    expect(await send.finished).toBe('sent');
    return { peakBytes, peakParts };
  }

  it('keeps the gate under the broker backlog limit with parts at the size limit', async () => {
    const { peakBytes } = await inFlightPeak(CONTRACT_MAX_PAYLOAD_BYTES, 12);
    expect(peakBytes).toBeLessThanOrEqual(DEFAULT_CONNECTION_LIMITS.maxQueuedBytes / 2);
  });

  it('has more than two parts of 1000 residents in flight', async () => {
    const { peakBytes, peakParts } = await inFlightPeak(400 * 1024, 30);
    expect(peakParts).toBeGreaterThan(2);
    expect(peakBytes).toBeLessThanOrEqual(DEFAULT_CONNECTION_LIMITS.maxQueuedBytes / 2);
  });
});
