/**
 * Ingest's own counters, read from a running cloud's `/metrics` (loopback callers need no token):
 * how many commits and acks a phase cost, so a run can say how many passages shared a commit and
 * how many acks the gates and the broker carried per passage (bench/ingest.ts).
 */
export interface IngestCounters {
  /** Batches committed (`anxin_ingest_batch_size_count`). */
  commits: number;
  /** Passages in those batches (`anxin_ingest_batch_size_sum`). */
  passages: number;
  /** Cumulative acks published (`anxin_ingest_acks_total`). */
  acks: number;
}

function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  // Absent until the first observation.
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

export async function scrapeIngestCounters(cloudUrl: string): Promise<IngestCounters> {
  const response = await fetch(`${cloudUrl}/metrics`);
  const text = await response.text();
  return {
    commits: sample(text, 'anxin_ingest_batch_size_count'),
    passages: sample(text, 'anxin_ingest_batch_size_sum'),
    acks: sample(text, 'anxin_ingest_acks_total'),
  };
}

/** `412 commits of 121 passages on average; 0.42 acks per passage`, over the counters' difference. */
export function describeCommits(before: IngestCounters, after: IngestCounters): string {
  const commits = after.commits - before.commits;
  const passages = after.passages - before.passages;
  const acks = after.acks - before.acks;
  return `${commits} commits of ${(passages / commits).toFixed(1)} passages on average; ${(acks / passages).toFixed(3)} acks per passage`;
}
