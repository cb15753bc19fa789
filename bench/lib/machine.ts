/** The facts about the machine a reader needs to judge a figure (BENCHMARKS.md header). */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  ramGiB: number;
  node: string;
  loadavg: [number, number, number];
  date: string;
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) return line.split(':')[1]!.trim();
  } catch {}
  return os.cpus()[0]?.model ?? 'unknown';
}

export function machineInfo(): MachineInfo {
  const [l1, l5, l15] = os.loadavg();
  return {
    nproc: os.availableParallelism(),
    cpuModel: cpuModel(),
    ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    loadavg: [round2(l1 ?? 0), round2(l5 ?? 0), round2(l15 ?? 0)],
    date: new Date().toISOString(),
  };
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

export function describeMachine(m: MachineInfo): string {
  return `${m.nproc} × ${m.cpuModel}, ${m.ramGiB} GiB RAM, Node ${m.node}, load ${m.loadavg.join(' / ')}`;
}

/** Resident set size of another process from /proc (kB → MB), or undefined when it is gone. */
export function rssOfPid(pid: number): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    return line ? Number(line.replace(/\D+/g, '')) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where a process's resident memory is (MB), from /proc/<pid>/status and smaps: anonymous (heaps,
 * stacks), file-backed (the node binary, shared libraries, mapped files), and of the anonymous part
 * the brk heap (glibc's main malloc arena) and the other malloc arenas (threads').
 */
export function memoryOfPid(pid: number): { anon: number; file: number; brkHeap: number; arenas: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) =>
      Number(/\d+/.exec(status.split('\n').find((l) => l.startsWith(`${field}:`)) ?? '')?.[0] ?? 0);
    let brkHeap = 0;
    let arenas = 0;
    let mapping = '';
    let size = 0;
    for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
      const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (header) {
        mapping = header[1] ?? '';
        continue;
      }
      if (line.startsWith('Size:')) size = Number(line.replace(/\D+/g, ''));
      if (!line.startsWith('Rss:')) continue;
      const rss = Number(line.replace(/\D+/g, ''));
      if (mapping === '[heap]') brkHeap += rss;
      // glibc's thread arenas: anonymous 64 MiB-aligned regions of (up to) 64 MiB.
      else if (mapping === '' && size >= 65_536 - 4 && size <= 65_536) arenas += rss;
    }
    return { anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024, brkHeap: brkHeap / 1024, arenas: arenas / 1024 };
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/**
 * Read and write system calls a process has made (`/proc/PID/io`), or undefined once it is gone.
 * For this process (`'self'`) its threads' counts are summed instead: the process's own figure also
 * takes in every child it has reaped (a mosquitto_sub that ended within the phase).
 */
export function syscallsOfPid(pid: number | 'self'): { reads: number; writes: number } | undefined {
  const files =
    pid === 'self' ? readdirSync('/proc/self/task').map((tid) => `/proc/self/task/${tid}/io`) : [`/proc/${pid}/io`];
  let reads = 0;
  let writes = 0;
  try {
    for (const file of files) {
      const io = readFileSync(file, 'utf8');
      reads += Number(/^syscr: (\d+)$/m.exec(io)?.[1] ?? Number.NaN);
      writes += Number(/^syscw: (\d+)$/m.exec(io)?.[1] ?? Number.NaN);
    }
  } catch {
    return undefined;
  }
  return { reads, writes };
}

/** CPU time (user + system) a process has used so far, in seconds; undefined once it is gone. */
export function cpuSecondsOfPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count the fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return undefined;
  }
}
