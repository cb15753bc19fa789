/** Latency samples in nanoseconds (`process.hrtime.bigint()` differences) and their percentiles. */

export interface Distribution {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Collects durations; percentiles by nearest rank over the sorted samples. Values are reported in ms. */
export class Samples {
  private values: number[] = [];

  /** Adds one duration in nanoseconds. */
  addNs(ns: bigint | number): void {
    this.values.push(Number(ns));
  }

  /** Adds one duration in milliseconds. */
  addMs(ms: number): void {
    this.values.push(ms * 1e6);
  }

  get count(): number {
    return this.values.length;
  }

  /** Milliseconds. */
  distribution(): Distribution {
    const sorted = Float64Array.from(this.values).sort();
    const n = sorted.length;
    const at = (q: number) =>
      n === 0 ? Number.NaN : sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]! / 1e6;
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      count: n,
      p50: at(0.5),
      p95: at(0.95),
      p99: at(0.99),
      max: n === 0 ? Number.NaN : sorted[n - 1]! / 1e6,
      mean: n === 0 ? Number.NaN : sum / n / 1e6,
    };
  }
}

export function elapsedMs(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `condition()` holds, polling every `everyMs`; rejects after `timeoutMs` naming `what`. */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 5,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
