/**
 * The resident side's background jobs (the release of returns, the reclaim of visitor
 * reservations): a job runs every `intervalMs`, never twice at once — a tick while it runs is
 * skipped, and `run()` waits for the run under way before it starts its own; a failure of a tick
 * is logged and the next tick tries again. The timer is unref'd and stops itself once the cloud
 * closed its database, so it never holds a process open nor touches a closed store.
 */
import type { Logger } from '../../shared/log.ts';

export interface PeriodicJob {
  /**
   * One run now, or right after the run under way (never beside it), so that it sees what was
   * done before the call; rejects with the job's error (tests, and a first run at start).
   */
  run(): Promise<number>;
  stop(): void;
}

export function startPeriodicJob(
  name: string,
  job: () => Promise<number>,
  deps: { side: { readonly open: boolean }; logger: Logger },
  intervalMs: number,
): PeriodicJob {
  let running: Promise<number> | undefined;
  /** The one way a run starts: only when none is under way. */
  const start = (): Promise<number> => {
    const current = job().finally(() => {
      if (running === current) running = undefined;
    });
    running = current;
    return current;
  };
  const tick = () => {
    if (!deps.side.open) {
      clearInterval(timer);
      return;
    }
    if (running) return;
    start().catch((err: unknown) => deps.logger.warn({ err }, `${name} failed`));
  };
  const run = async (): Promise<number> => {
    while (running) await running.catch(() => 0);
    return start();
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return { run, stop: () => clearInterval(timer) };
}
