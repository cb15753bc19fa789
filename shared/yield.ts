/**
 * Long work on the event loop done in slices (docs/security.md, "Heavy work"): `await
 * yieldToEventLoop()` between slices lets timers, sockets and other requests run.
 *
 * The slices of every caller share one queue, and the loop gives them **one waiter per turn**: a
 * pump on `setImmediate` resumes the oldest waiter and schedules itself for the next turn, so
 * between turns the loop polls I/O (a `/healthz` request, an MQTT packet). Twenty searches yielding
 * together then cost a waiting request one turn's slices, not twenty waiters' — plain
 * `setImmediate` would run all twenty queued continuations in one check phase before polling.
 * Within its turn the resumed waiter goes on for up to `TURN_BUDGET_MS` (a yield inside the
 * budget continues at once), so a loaded machine does not pay a loop turn per small slice.
 */
export const TURN_BUDGET_MS = 4;
const waiting: (() => void)[] = [];
let pumping = false;
let turnStartedAt = Number.NEGATIVE_INFINITY;

function pump(): void {
  turnStartedAt = performance.now();
  const next = waiting.shift();
  if (waiting.length > 0) setImmediate(pump);
  else pumping = false;
  next?.();
}

export function yieldToEventLoop(): Promise<void> {
  if (performance.now() - turnStartedAt < TURN_BUDGET_MS) return Promise.resolve();
  return new Promise((resolve) => {
    waiting.push(resolve);
    if (!pumping) {
      pumping = true;
      setImmediate(pump);
    }
  });
}

/** Calls `yieldToEventLoop()` once every `every` calls of `tick()`: a cheap check inside a row loop. */
export class SliceClock {
  private count = 0;
  constructor(private readonly every: number) {}

  tick(): Promise<void> | undefined {
    this.count += 1;
    if (this.count < this.every) return undefined;
    this.count = 0;
    return yieldToEventLoop();
  }
}
