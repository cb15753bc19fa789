/**
 * A seeded PRNG (mulberry32) so every benchmark generates the same data set on every run and
 * machine, plus the few distributions the synthetic data needs.
 */
export type Random = () => number;

export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function randomInt(random: Random, below: number): number {
  return Math.floor(random() * below);
}

/** Standard normal by Box-Muller (one of the pair is enough here). */
export function randomNormal(random: Random, mean: number, sd: number): number {
  const u = Math.max(random(), 1e-12);
  return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/**
 * Cumulative weights of a Zipf-like law over `n` items (`1 / (rank + 1)^s`): a few gates are much
 * busier than the rest, as at a compound's main entrance.
 */
export function zipfTable(n: number, s = 0.8): Float64Array {
  const table = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += 1 / (i + 1) ** s;
    table[i] = sum;
  }
  for (let i = 0; i < n; i++) table[i] = table[i]! / sum;
  return table;
}

/** Draws an index from a cumulative table (binary search, O(log n)). */
export function pick(random: Random, cumulative: Float64Array): number {
  const x = random();
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
