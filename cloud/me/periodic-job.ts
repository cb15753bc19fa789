/**
 * The resident side's background jobs (the release of returns, the reclaim of visitor
 * reservations): a job runs every `intervalMs`, never twice at once; a failure is logged and the
 * next tick tries again. The timer is unref'd and stops itself once the cloud closed its database,
 * so it never holds a process open nor touches a closed store.
 */
import type { Logger } from '../../shared/log.ts';

export interface PeriodicJob {
  /** One run now (tests, and the first run at start if the caller wants it). */
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
  const tick = () => {
    if (!deps.side.open) {
      clearInterval(timer);
      return;
    }
    if (running) return;
    running = job()
      .catch((err: unknown) => {
        deps.logger.warn({ err }, `${name} failed`);
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return { run: job, stop: () => clearInterval(timer) };
}
