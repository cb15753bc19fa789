/**
 * CPU per process group over a phase of a bench, from /proc (Linux): what explains a throughput
 * figure on a shared machine — e.g. two cloud instances, PostgreSQL, Mosquitto and the bench's gate
 * swarm on two cores. A group's pids are listed at the start and the end of the phase (PostgreSQL's
 * backends come and go with connections); a pid's CPU is counted from the start (or from 0 for a
 * pid born during the phase) to the end; a pid that exited meanwhile is not counted. The machine's
 * busy time (/proc/stat) is counted too: what no group explains is someone else's.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { formatNumber } from './report.ts';

export interface CpuGroup {
  name: string;
  /** The group's pids now (may change during the phase). */
  pids(): number[];
}

export interface CpuShare {
  name: string;
  /** CPU seconds per wall second (1 = one core busy). */
  cores: number;
}

export interface CpuReport {
  seconds: number;
  groups: CpuShare[];
  /** Every core's busy time (/proc/stat), in cores. */
  machine: number;
  nproc: number;
}

let ticksPerSecond: number | undefined;
function hz(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** utime + stime and ppid of a pid, or undefined once it is gone. */
function statOf(pid: number): { ticks: number; ppid: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/** A pid and its direct children (PostgreSQL's postmaster and its backends). */
export function withChildren(pid: number): number[] {
  const pids = [pid];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (statOf(Number(name))?.ppid === pid) pids.push(Number(name));
  }
  return pids;
}

/** The parent of a pid (a backend's postmaster), or undefined. */
export function parentOf(pid: number): number | undefined {
  return statOf(pid)?.ppid;
}

function machineBusyTicks(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …: busy = all but idle and iowait.
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  return total - (cpu[3] ?? 0) - (cpu[4] ?? 0);
}

export class CpuMeter {
  private readonly before = new Map<number, number>();
  private machineBefore = 0;
  private startedAt = 0;

  constructor(private readonly groups: readonly CpuGroup[]) {}

  start(): void {
    this.before.clear();
    for (const group of this.groups)
      for (const pid of group.pids()) {
        const s = statOf(pid);
        if (s) this.before.set(pid, s.ticks);
      }
    this.machineBefore = machineBusyTicks();
    this.startedAt = performance.now();
  }

  stop(): CpuReport {
    const seconds = (performance.now() - this.startedAt) / 1000;
    const perTick = 1 / hz() / seconds;
    const groups = this.groups.map((group) => {
      let ticks = 0;
      for (const pid of new Set(group.pids())) {
        const s = statOf(pid);
        if (s) ticks += s.ticks - (this.before.get(pid) ?? 0);
      }
      return { name: group.name, cores: ticks * perTick };
    });
    return { seconds, groups, machine: (machineBusyTicks() - this.machineBefore) * perTick, nproc: os.cpus().length };
  }
}

/** `instance 1 0.61, instance 2 0.58, postgres 0.52, … ; machine 1.97 of 2 cores (others 0.05)`. */
export function describeCpu(report: CpuReport): string {
  const parts = report.groups.map((g) => `${g.name} ${formatNumber(g.cores)}`);
  const explained = report.groups.reduce((sum, g) => sum + g.cores, 0);
  const others = Math.max(0, report.machine - explained);
  return `CPU in cores: ${parts.join(', ')}; machine ${formatNumber(report.machine)} of ${report.nproc} busy (others ${formatNumber(others)})`;
}
