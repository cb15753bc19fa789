/**
 * Scheduling classes for the scan → unlock bench: the same ones the gate's systemd unit sets
 * (deploy/systemd/anxin-edge@.service: `CPUSchedulingPolicy=fifo`, `CPUSchedulingPriority=`), applied
 * with `chrt` to every thread of a running process (`-a`), so Node's worker and libuv threads share
 * the main thread's class.
 */
import { spawnSync } from 'node:child_process';

export interface SchedulingClass {
  policy: 'fifo' | 'rr' | 'other';
  /** 1–99 for fifo/rr; 0 for other. */
  priority: number;
}

/** chrt's flag for a policy. */
const FLAG = { fifo: '-f', rr: '-r', other: '-o' } as const;

/** Sets the class on every thread of each process; throws with chrt's message when refused (no CAP_SYS_NICE). */
export function setScheduling(pids: readonly number[], cls: SchedulingClass): void {
  for (const pid of pids) {
    const r = spawnSync('chrt', ['-a', FLAG[cls.policy], '-p', String(cls.priority), String(pid)], {
      encoding: 'utf8',
    });
    if (r.error || r.status !== 0) {
      throw new Error(`chrt ${cls.policy} ${cls.priority} on pid ${pid}: ${r.error?.message ?? r.stderr.trim()}`);
    }
  }
}

/** The policy and priority of a process's main thread as chrt reports them, e.g. "SCHED_FIFO 20". */
export function describeScheduling(pid: number): string {
  const r = spawnSync('chrt', ['-p', String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) return 'unknown';
  const policy = /policy: (\S+)/.exec(r.stdout)?.[1] ?? '?';
  const priority = /priority: (\d+)/.exec(r.stdout)?.[1] ?? '?';
  return `${policy} ${priority}`;
}
