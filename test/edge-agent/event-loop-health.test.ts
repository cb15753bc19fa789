/**
 * The gate's event-loop monitor (docs/edge-agent.md "Health"): a frozen loop shows in its p99 at
 * once, and above the threshold the gate calls itself degraded. The freeze is a real busy-wait.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EventLoopHealth } from '../../edge-agent/event-loop-health.ts';

function freeze(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

const ticks = (n: number) =>
  new Promise<void>((resolve) => {
    let left = n;
    const next = () => (--left <= 0 ? resolve() : setTimeout(next, 12));
    setTimeout(next, 12);
  });

let health: EventLoopHealth | undefined;
afterEach(() => {
  health?.stop();
  health = undefined;
});

describe('EventLoopHealth', () => {
  it('reports a stall in its p99 and says degraded above the threshold', async () => {
    health = new EventLoopHealth({ resolutionMs: 10, degradedP99Ms: 100 });
    health.start();
    // Stalls of 250 ms among few samples: they are in the top percent.
    for (let i = 0; i < 3; i++) {
      await ticks(2);
      freeze(250);
    }
    await ticks(3);
    const window = health.snapshot();
    expect(window.maxMs).toBeGreaterThanOrEqual(200);
    expect(window.p99Ms).toBeGreaterThanOrEqual(100);
    expect(health.degraded).toBe(true);
  });

  it('is zero before any sample and never negative', () => {
    health = new EventLoopHealth();
    expect(health.snapshot()).toEqual({ p50Ms: 0, p99Ms: 0, maxMs: 0 });
    expect(health.degraded).toBe(false);
  });
});
