/**
 * Where the CPU of a phase went: the CPU seconds (user + system) each named process used while
 * `work` ran, the bench process itself (the simulated gates) included, beside the wall time. On a
 * machine of two cores shared by the gates, the broker and the cloud, a rate is capped by whichever
 * of them needs the cores: this says which (bench/ingest.ts prints it per phase).
 */
import os from 'node:os';
import { cpuSecondsOfPid, syscallsOfPid } from './machine.ts';

export interface CpuSplit {
  wallSeconds: number;
  /** CPU seconds per process name; `bench` is this process (the gate swarm). */
  cpu: Record<string, number>;
  /**
   * Write system calls per process name: how well each batches its socket writes (a PUBACK or a
   * publish per write costs a system call and, without Nagle, a TCP segment each).
   */
  writes: Record<string, number>;
}

export async function withCpuSplit<T>(
  pids: Readonly<Record<string, number | undefined>>,
  work: () => Promise<T>,
): Promise<{ result: T; split: CpuSplit }> {
  const before = new Map<string, { cpu: number; writes: number }>();
  const last = new Map<string, { cpu: number; writes: number }>();
  // Sampled as it runs too: a process that ends within `work` (mosquitto_sub) keeps its last reading.
  const sample = (into: Map<string, { cpu: number; writes: number }>) => {
    for (const [name, pid] of Object.entries(pids)) {
      const cpu = pid === undefined ? undefined : cpuSecondsOfPid(pid);
      const calls = pid === undefined ? undefined : syscallsOfPid(pid);
      if (cpu !== undefined) into.set(name, { cpu, writes: calls?.writes ?? Number.NaN });
    }
  };
  sample(before);
  const ownWritesBefore = syscallsOfPid('self')?.writes ?? Number.NaN;
  const timer = setInterval(() => sample(last), 100);
  const ownBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  let result: T;
  try {
    result = await work();
  } finally {
    clearInterval(timer);
  }
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const own = process.cpuUsage(ownBefore);
  sample(last);
  const cpu: Record<string, number> = { bench: (own.user + own.system) / 1e6 };
  const writes: Record<string, number> = { bench: (syscallsOfPid('self')?.writes ?? Number.NaN) - ownWritesBefore };
  for (const [name, start] of before) {
    const end = last.get(name) ?? start;
    cpu[name] = end.cpu - start.cpu;
    writes[name] = end.writes - start.writes;
  }
  return { result, split: { wallSeconds, cpu, writes } };
}

/**
 * `cloud 1.90 s (0.62 cores, 38.0 µs/msg), …; 1.69 of 2 cores busy over 3.1 s`. The CPU per message
 * holds on a loaded machine where rates do not: it is what to compare between runs.
 */
export function describeCpuSplit({ wallSeconds, cpu, writes }: CpuSplit, messages: number): string {
  const parts = Object.entries(cpu).map(
    ([name, s]) =>
      `${name} ${s.toFixed(2)} s (${(s / wallSeconds).toFixed(2)} cores, ${((s * 1e6) / messages).toFixed(1)} µs/msg, ${((writes[name] ?? Number.NaN) / messages).toFixed(2)} writes/msg)`,
  );
  const total = Object.values(cpu).reduce((a, b) => a + b, 0);
  const all = `${((total * 1e6) / messages).toFixed(1)} µs/msg in all`;
  return `${parts.join(', ')}; ${all}; ${(total / wallSeconds).toFixed(2)} of ${os.availableParallelism()} cores busy over ${wallSeconds.toFixed(1)} s`;
}
