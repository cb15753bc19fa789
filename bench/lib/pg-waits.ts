/**
 * Where the cloud's PostgreSQL connections spend a phase of a bench: `pg_stat_activity` sampled
 * every `everyMs` on a connection of its own, counting each non-idle backend of the cloud
 * (`application_name` anxin-cloud) by what it is doing — running (`CPU`), waiting for the client
 * inside a transaction (`client round trip`: the instance has the answer and has not sent the next
 * statement — its own CPU and the network), or waiting on a lock (`Lock:advisory` the per-gate
 * ingest locks, `Lock:transactionid` a row another transaction holds, `Lock:object` the commit of
 * a NOTIFY, `LWLock:…`). The shares say which of these a batch mostly waits for.
 */
import pg from 'pg';
import { formatNumber } from './report.ts';

const SAMPLE_SQL = `SELECT CASE
    WHEN state = 'idle in transaction' THEN 'client round trip'
    WHEN wait_event_type IS NULL THEN 'CPU'
    ELSE wait_event_type || ':' || wait_event END AS what, COUNT(*)::int AS n
  FROM pg_stat_activity
  WHERE application_name = 'anxin-cloud' AND state IS NOT NULL AND state <> 'idle' AND pid <> pg_backend_pid()
  GROUP BY 1`;

export interface WaitReport {
  samples: number;
  /** Backends in each state, averaged over the samples (1 = one backend all the time). */
  shares: Map<string, number>;
  /** The backend pid of the sampler (its postmaster is PostgreSQL's process group). */
  backendPid: number;
}

export class PgWaitSampler {
  private readonly counts = new Map<string, number>();
  private samples = 0;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  private constructor(
    private readonly client: pg.Client,
    readonly backendPid: number,
    private readonly everyMs: number,
  ) {}

  static async open(url: string, everyMs = 25): Promise<PgWaitSampler> {
    const client = new pg.Client({ connectionString: url, application_name: 'anxin-bench-sampler' });
    await client.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return new PgWaitSampler(client, rows[0]!.pid, everyMs);
  }

  start(): void {
    this.counts.clear();
    this.samples = 0;
    this.timer = setInterval(() => void this.sample(), this.everyMs);
  }

  stop(): WaitReport {
    clearInterval(this.timer);
    const shares = new Map<string, number>();
    for (const [what, n] of this.counts) shares.set(what, n / Math.max(1, this.samples));
    return { samples: this.samples, shares, backendPid: this.backendPid };
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.client.end();
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const { rows } = await this.client.query<{ what: string; n: number }>(SAMPLE_SQL);
      this.samples += 1;
      for (const r of rows) this.counts.set(r.what, (this.counts.get(r.what) ?? 0) + r.n);
    } catch {
      // A sample lost is a sample fewer; the figures do not depend on it.
    } finally {
      this.busy = false;
    }
  }
}

/** `backends busy: CPU 0.41, client round trip 0.62, Lock:advisory 0.30 (812 samples)`. */
export function describeWaits(report: WaitReport): string {
  const parts = [...report.shares]
    .sort((a, b) => b[1] - a[1])
    .filter(([, share]) => share >= 0.005)
    .map(([what, share]) => `${what} ${formatNumber(share)}`);
  return `cloud backends (mean count): ${parts.join(', ') || 'idle'} (${report.samples} samples)`;
}
