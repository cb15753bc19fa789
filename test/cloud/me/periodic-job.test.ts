/**
 * The resident side's periodic job (cloud/me/periodic-job.ts): never two runs at once, whether a
 * tick or `run()` starts them — `run()` waits for the run under way and then runs itself; a failed
 * tick is logged and the next one runs; a closed side stops the timer.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startPeriodicJob } from '../../../cloud/me/periodic-job.ts';
import { silentLogger } from '../../../shared/log.ts';

describe('startPeriodicJob', () => {
  let active = 0;
  let most = 0;
  let runs: (() => void)[] = [];
  let failNext = false;
  const job = () =>
    new Promise<number>((resolve, reject) => {
      active += 1;
      most = Math.max(most, active);
      runs.push(() => {
        active -= 1;
        if (failNext) {
          failNext = false;
          reject(new Error('database busy'));
        } else resolve(runs.length);
      });
    });
  const side = { open: true };

  beforeEach(() => {
    vi.useFakeTimers();
    active = 0;
    most = 0;
    runs = [];
    side.open = true;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('run() beside a tick under way waits for it, then runs once more: never two at once', async () => {
    const periodic = startPeriodicJob('test job', job, { side, logger: silentLogger }, 1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toHaveLength(1);
    const first = periodic.run();
    const second = periodic.run();
    await vi.advanceTimersByTimeAsync(0);
    // Neither started beside the tick's run.
    expect(runs).toHaveLength(1);
    runs[0]!();
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toHaveLength(2);
    // A tick while run() runs is skipped.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toHaveLength(2);
    runs[1]!();
    expect(await first).toBe(2);
    await vi.advanceTimersByTimeAsync(0);
    expect(runs).toHaveLength(3);
    runs[2]!();
    expect(await second).toBe(3);
    expect(most).toBe(1);
    periodic.stop();
  });

  it('logs a failed tick and runs again at the next; run() rejects with its own failure', async () => {
    const warned: unknown[] = [];
    const logger = { ...silentLogger, warn: (obj: unknown) => warned.push(obj) } as unknown as typeof silentLogger;
    const periodic = startPeriodicJob('test job', job, { side, logger }, 1_000);
    failNext = true;
    await vi.advanceTimersByTimeAsync(1_000);
    runs[0]!();
    await vi.advanceTimersByTimeAsync(0);
    expect(warned).toEqual([{ err: expect.objectContaining({ message: 'database busy' }) }]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toHaveLength(2);
    runs[1]!();
    failNext = true;
    const failing = periodic.run();
    await vi.advanceTimersByTimeAsync(0);
    runs[2]!();
    await expect(failing).rejects.toThrow('database busy');
    // Once the side is closed the timer stops itself.
    side.open = false;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(runs).toHaveLength(3);
    periodic.stop();
  });
});
