/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the
 * text exposition format 0.0.4. Enough for `/metrics` without another dependency.
 */
type Labels = Record<string, string>;

const NEEDS_ESCAPE = /[\\\n"]/;
const escapeLabel = (v: string) =>
  NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : v;

/** Counted on ingest's hot path (a few per message): one label needs no sort. */
function labelKey(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  if (keys.length === 1) return `${keys[0]}="${escapeLabel(labels[keys[0]!]!)}"`;
  keys.sort();
  return keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(',');
}

const braces = (key: string) => (key ? `{${key}}` : '');

interface Metric {
  render(): string;
}

abstract class Labelled implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: string,
  ) {}
  abstract samples(): string[];
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.samples()].join('\n');
  }
}

export class Counter extends Labelled {
  private readonly values = new Map<string, number>();
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  samples(): string[] {
    return [...this.values].map(([k, v]) => `${this.name}${braces(k)} ${v}`);
  }
}

class Gauge extends Labelled {
  private readonly values = new Map<string, number>();
  constructor(name: string, help: string) {
    super(name, help, 'gauge');
  }
  set(value: number, labels: Labels = {}): void {
    this.values.set(labelKey(labels), value);
  }
  delete(labels: Labels): void {
    this.values.delete(labelKey(labels));
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  samples(): string[] {
    return [...this.values].map(([k, v]) => `${this.name}${braces(k)} ${v}`);
  }
}

class Histogram extends Labelled {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
  ) {
    super(name, help, 'histogram');
  }
  observe(value: number, labels: Labels = {}): void {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= this.buckets[i]!) s.counts[i]! += 1;
    }
    s.sum += value;
    s.count += 1;
  }
  count(labels: Labels = {}): number {
    return this.series.get(labelKey(labels))?.count ?? 0;
  }
  samples(): string[] {
    const out: string[] = [];
    for (const [key, s] of this.series) {
      const sep = key ? `${key},` : '';
      for (let i = 0; i < this.buckets.length; i++) {
        out.push(`${this.name}_bucket{${sep}le="${this.buckets[i]}"} ${s.counts[i]}`);
      }
      out.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      out.push(`${this.name}_sum${braces(key)} ${s.sum}`);
      out.push(`${this.name}_count${braces(key)} ${s.count}`);
    }
    return out;
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];
  private readonly collectors: (() => void)[] = [];

  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string): Gauge {
    return this.add(new Gauge(name, help));
  }
  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }
  /** A callback run before each render, to refresh gauges from their source. */
  onCollect(collect: () => void): void {
    this.collectors.push(collect);
  }
  render(): string {
    for (const collect of this.collectors) collect();
    return `${this.metrics.map((m) => m.render()).join('\n')}\n`;
  }
  private add<M extends Metric>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }
}
