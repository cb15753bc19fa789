import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type SessionEnd, SnapshotFlow } from '../../../cloud/sync/snapshot-flow.ts';
import { silentLogger } from '../../../shared/log.ts';
import type { SnapshotChunk } from '../../../shared/schemas/mqtt.ts';

/** Lets queued promise callbacks (the flow's publishes) run; timers stay faked. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

const chunksOf = (snapshotRev: number, parts: number): SnapshotChunk[] =>
  Array.from({ length: parts }, (_, i) => ({ snapshotRev, part: i + 1, parts, records: [] }));
/** Parts 1..9 of a rev below 10 all serialize to the same length. */
const PART_BYTES = Buffer.byteLength(JSON.stringify(chunksOf(5, 9)[0]));

describe('SnapshotFlow (window of unacknowledged snapshot parts)', () => {
  let sent: { topic: string; part: number; rev: number }[];
  let flow: SnapshotFlow;
  const parts = (topic = 'g-1') => sent.filter((s) => s.topic === topic).map((s) => s.part);

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    sent = [];
    flow = new SnapshotFlow({
      publish: async (topic, payload) => {
        const chunk = payload as SnapshotChunk;
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
    const { started, finished } = flow.send('g-1', 'g-1', chunksOf(5, 9));
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
    const { started, finished } = flow.send('g-1', 'g-1', chunksOf(5, 6));
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
        sent.push({ topic, part: (payload as SnapshotChunk).part, rev: 5 });
      },
      logger: silentLogger,
      maxInFlightBytes: 1,
    });
    await flow.send('g-1', 'g-1', chunksOf(5, 3)).started;
    expect(parts()).toEqual([1]);
    flow.ack('g-1', 5, 1);
    await settle();
    expect(parts()).toEqual([1, 2]);
  });

  it('paces a gate that never acks (an older agent) at one part per paceMs, and completes', async () => {
    const { started, finished } = flow.send('g-1', 'g-1', chunksOf(5, 6));
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
    const { started, finished } = flow.send('g-1', 'g-1', chunksOf(5, 9));
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
    const first = flow.send('g-1', 'g-1', chunksOf(5, 9));
    await first.started;
    flow.ack('g-1', 5, 2);
    await settle();
    expect(parts()).toEqual([1, 2, 3, 4, 5]);
    // Reconnected, asks again: parts 3..5 may be lost with the old connection; they go again.
    const again = flow.send('g-1', 'g-1', chunksOf(5, 9));
    await again.started;
    expect(parts()).toEqual([1, 2, 3, 4, 5, 3, 4, 5]);
    expect(again.finished).toBe(first.finished);
    // The compound moved on: a new snapshot rev replaces the session; acks of the old one are ignored.
    const newer = flow.send('g-1', 'g-1', chunksOf(6, 4));
    await newer.started;
    expect(await first.finished).toBe('replaced');
    expect(flow.activeRev('g-1')).toBe(6);
    expect(flow.ack('g-1', 5, 9)).toBe(false);
    expect(sent.filter((s) => s.rev === 6).map((s) => s.part)).toEqual([1, 2, 3]);
  });

  it('keeps one session per gate: gates do not share a window', async () => {
    await flow.send('g-1', 'g-1', chunksOf(5, 9)).started;
    await flow.send('g-2', 'g-2', chunksOf(5, 9)).started;
    flow.ack('g-2', 5, 3);
    await settle();
    expect(parts('g-1')).toEqual([1, 2, 3]);
    expect(parts('g-2')).toEqual([1, 2, 3, 4, 5, 6]);
    expect(flow.ack('g-3', 5, 1)).toBe(false); // no session here (another instance's gate, say)
  });
});
