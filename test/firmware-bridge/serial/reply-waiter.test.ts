import { afterEach, describe, expect, it, vi } from 'vitest';
import { ReplyCancelledError, ReplyTimeoutError } from '../../../firmware-bridge/serial/errors.ts';
import { ReplyWaiter } from '../../../firmware-bridge/serial/reply-waiter.ts';

interface Reply {
  kind: string;
  seq: number;
}

describe('ReplyWaiter', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves the waiter whose predicate matches and leaves the others waiting', async () => {
    const waiter = new ReplyWaiter<Reply>();
    const ack = waiter.waitFor((r) => r.kind === 'ack', 1_000, 'ACK');
    const status = waiter.waitFor((r) => r.kind === 'status', 1_000, 'status reply');
    expect(waiter.offer({ kind: 'status', seq: 1 })).toBe(true);
    await expect(status).resolves.toEqual({ kind: 'status', seq: 1 });
    expect(waiter.pending).toBe(1);
    expect(waiter.offer({ kind: 'ack', seq: 2 })).toBe(true);
    await expect(ack).resolves.toEqual({ kind: 'ack', seq: 2 });
    expect(waiter.pending).toBe(0);
  });

  it('gives a message to the oldest matching waiter only, and reports unmatched messages', async () => {
    const waiter = new ReplyWaiter<Reply>();
    const first = waiter.waitFor((r) => r.kind === 'ack', 1_000, 'first ACK');
    const second = waiter.waitFor((r) => r.kind === 'ack', 1_000, 'second ACK');
    expect(waiter.offer({ kind: 'nak', seq: 0 })).toBe(false);
    waiter.offer({ kind: 'ack', seq: 1 });
    waiter.offer({ kind: 'ack', seq: 2 });
    await expect(first).resolves.toMatchObject({ seq: 1 });
    await expect(second).resolves.toMatchObject({ seq: 2 });
  });

  it('treats a throwing predicate as no match', async () => {
    const waiter = new ReplyWaiter<Reply>();
    const wait = waiter.waitFor(
      (r) => {
        if (r.seq === 0) throw new Error('boom');
        return true;
      },
      1_000,
      'reply',
    );
    expect(waiter.offer({ kind: 'x', seq: 0 })).toBe(false);
    expect(waiter.offer({ kind: 'x', seq: 1 })).toBe(true);
    await expect(wait).resolves.toMatchObject({ seq: 1 });
  });

  it('times out with a named ReplyTimeoutError after exactly the timeout', async () => {
    vi.useFakeTimers();
    const waiter = new ReplyWaiter<Reply>();
    const wait = waiter.waitFor((r) => r.kind === 'ack', 250, 'ACK to osdp_OUT');
    const outcome = wait.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await vi.advanceTimersByTimeAsync(249);
    expect(waiter.pending).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    const err = await outcome;
    expect(err).toBeInstanceOf(ReplyTimeoutError);
    expect(err).toMatchObject({ code: 'reply-timeout', what: 'ACK to osdp_OUT', timeoutMs: 250 });
    expect((err as Error).message).toContain('ACK to osdp_OUT');
    expect(waiter.pending).toBe(0);
    expect(waiter.offer({ kind: 'ack', seq: 1 })).toBe(false);
  });

  it('clears the timer of a resolved wait', async () => {
    vi.useFakeTimers();
    const waiter = new ReplyWaiter<Reply>();
    const wait = waiter.waitFor(() => true, 100, 'reply');
    waiter.offer({ kind: 'ack', seq: 1 });
    await wait;
    expect(vi.getTimerCount()).toBe(0);
  });

  it('cancels every pending wait with the given error', async () => {
    vi.useFakeTimers();
    const waiter = new ReplyWaiter<Reply>();
    const one = waiter.waitFor(() => true, 100, 'one');
    const two = waiter.waitFor(() => true, 100, 'two');
    const closed = new ReplyCancelledError('port closed');
    waiter.cancelAll(closed);
    await expect(one).rejects.toBe(closed);
    await expect(two).rejects.toBe(closed);
    expect(waiter.pending).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('accepts injected timers', async () => {
    const scheduled: Array<{ fn: () => void; ms: number }> = [];
    const waiter = new ReplyWaiter<Reply>({
      setTimeout: (fn, ms) => scheduled.push({ fn, ms }),
      clearTimeout: () => {},
    });
    const wait = waiter.waitFor(() => true, 42, 'reply');
    expect(scheduled.map((s) => s.ms)).toEqual([42]);
    scheduled[0]!.fn();
    await expect(wait).rejects.toBeInstanceOf(ReplyTimeoutError);
  });

  it('rejects a nonsensical timeout', () => {
    const waiter = new ReplyWaiter<Reply>();
    expect(() => waiter.waitFor(() => true, -1, 'reply')).toThrow(TypeError);
  });
});
