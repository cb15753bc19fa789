/**
 * The gates' cumulative ack marks on PostgreSQL (docs/architecture.md rule 2), moved after an
 * ingest batch's COMMIT by one statement: read from the database, never from one instance's memory.
 *
 * For each gate of the batch the statement reads the mark, moves it over the batch's own answered
 * seqs (passed as runs of consecutive seqs: all committed now, by this batch or by the one it waited
 * for), and — when the next seq is answered too (a gap filled, or another instance's batch of the
 * same gate, the usual case with a gate's messages alternating between instances) — walks on over
 * the committed seqs of `events` and `refused_seqs`, a page at a time; then it writes the marks
 * that moved, only forward (`GREATEST`), in gate order. A mark covers only seqs some statement saw
 * committed, and of two instances' batches of one gate, the one whose statement runs last started
 * after both commits and sees both.
 *
 * One round trip for every gate of the batch: this was three plus one per gate that had to walk
 * (a read, a write with a probe, a page of seqs per gate, a write), and with two instances most
 * gates of a live batch walked — the cost grew with the instances (BENCHMARKS.md, "Scale-out on
 * PostgreSQL"). A gate whose walk filled a page is walked again by the next statement (rare: more
 * than `ACK_WALK_PAGE` seqs answered beyond its batch).
 */
import { type Queryable, run, statement } from './pg-pool.ts';

/** Seqs read per gate and statement when a mark walks beyond the batch's own seqs. */
export const ACK_WALK_PAGE = 1000;

type AdvanceParams = [gates: string[], runGates: string[], runFrom: number[], runTo: number[], page: number];

/**
 * `$1` the gates; `$2`–`$4` the batch's runs of consecutive answered seqs per gate (disjoint, not
 * adjacent: each run is maximal); `$5` the page. Answers every gate's mark and whether its walk
 * filled the page (`more`: call again for it).
 *
 * - `mark0`: the mark as stored (0 for a gate never acked).
 * - `mark1`: moved over the batch's own run that holds `mark0 + 1`, if one does (the runs are
 *   maximal, so the last run starting at or before `mark0 + 1` is the only candidate).
 * - `mark2`: only if `mark1 + 1` is answered (an index probe in each table), the first page of
 *   answered seqs after `mark1`, numbered: the seqs that are `mark1 + their rank` are the
 *   contiguous ones, and the greatest of them is the mark. Each table's page is the first
 *   `$5` of its seqs, so a run that is shorter than the page stopped at a real gap.
 */
const advance = statement<AdvanceParams, { gate_id: string; mark: number; more: boolean; at: number }>(
  'advance_acks',
  `WITH marks1 AS MATERIALIZED (
     SELECT DISTINCT ON (g.gate_id) g.gate_id, COALESCE(a.up_to, 0) AS mark0,
       GREATEST(COALESCE(a.up_to, 0), COALESCE(r.hi, 0)) AS mark1
     FROM unnest($1::text[]) AS g(gate_id)
     LEFT JOIN gate_acks a ON a.gate_id = g.gate_id
     LEFT JOIN unnest($2::text[], $3::int8[], $4::int8[]) AS r(gate_id, lo, hi)
       ON r.gate_id = g.gate_id AND r.lo <= COALESCE(a.up_to, 0) + 1
     ORDER BY g.gate_id, r.lo DESC NULLS LAST),
   marks2 AS MATERIALIZED (
     SELECT m.gate_id, m.mark0, m.mark1, CASE
       WHEN (SELECT true FROM events e WHERE e.gate_id = m.gate_id AND e.seq = m.mark1 + 1 LIMIT 1)
         OR (SELECT true FROM refused_seqs f WHERE f.gate_id = m.gate_id AND f.seq = m.mark1 + 1)
       THEN (SELECT MAX(s.seq) FROM (
           SELECT d.seq, row_number() OVER (ORDER BY d.seq) AS rank FROM (
             SELECT DISTINCT u.seq FROM (
               (SELECT e.seq FROM events e WHERE e.gate_id = m.gate_id AND e.seq > m.mark1 ORDER BY e.seq LIMIT $5)
               UNION ALL
               (SELECT f.seq FROM refused_seqs f WHERE f.gate_id = m.gate_id AND f.seq > m.mark1
                ORDER BY f.seq LIMIT $5)) AS u) AS d) AS s
         WHERE s.seq = m.mark1 + s.rank)
       ELSE m.mark1 END AS mark2
     FROM marks1 m),
   written AS (
     INSERT INTO gate_acks (gate_id, up_to)
     SELECT gate_id, mark2 FROM marks2 WHERE mark2 > mark0 ORDER BY gate_id
     ON CONFLICT (gate_id) DO UPDATE SET up_to = GREATEST(gate_acks.up_to, excluded.up_to))
   SELECT gate_id, mark2 AS mark, mark2 - mark1 >= $5 AS more,
     (extract(epoch FROM statement_timestamp()) * 1000)::int8 AS at FROM marks2`,
);

const getAck = statement<[string], { up_to: number }>('get_ack', 'SELECT up_to FROM gate_acks WHERE gate_id = $1');

/** Each gate's seqs as maximal runs of consecutive seqs, in three arrays (gate, first, last). */
export function runsOf(seqsOfGate: ReadonlyMap<string, readonly number[]>): [string[], number[], number[]] {
  const gates: string[] = [];
  const from: number[] = [];
  const to: number[] = [];
  for (const [gateId, seqs] of seqsOfGate) {
    const sorted = [...seqs].sort((a, b) => a - b);
    let lo = sorted[0]!;
    let hi = lo;
    for (const seq of sorted) {
      if (seq <= hi + 1) {
        hi = Math.max(hi, seq);
        continue;
      }
      gates.push(gateId);
      from.push(lo);
      to.push(hi);
      lo = hi = seq;
    }
    gates.push(gateId);
    from.push(lo);
    to.push(hi);
  }
  return [gates, from, to];
}

/**
 * After a batch's COMMIT (outside any transaction, so that each statement sees every commit
 * before it): moves the marks of the batch's gates and returns each one's mark, with when the
 * last statement read them on the database's clock (`readAt`, ms). A statement that starts later
 * sees every commit an earlier one saw, so its marks are no lower: stamped with `readAt`, two
 * instances' acks of one gate never show a lower mark as the newer one, whatever order they are
 * published in (a gate takes a lower, newer ack for a cloud restored from a backup and resends,
 * edge-agent/uplink.ts).
 */
export async function advanceAcks(
  db: Queryable,
  seqsOfGate: ReadonlyMap<string, readonly number[]>,
  page = ACK_WALK_PAGE,
): Promise<{ marks: Map<string, number>; readAt: number | undefined }> {
  const marks = new Map<string, number>();
  let readAt: number | undefined;
  let gates = [...seqsOfGate.keys()];
  let runs = runsOf(seqsOfGate);
  while (gates.length > 0) {
    const { rows } = await run(db, advance, [gates, ...runs, page]);
    gates = [];
    for (const r of rows) {
      readAt = r.at;
      marks.set(r.gate_id, r.mark);
      if (r.more) gates.push(r.gate_id);
    }
    // The walk goes on from the marks just written; the batch's runs are behind them.
    runs = [[], [], []];
  }
  return { marks, readAt };
}

export async function ackedUpTo(db: Queryable, gateId: string): Promise<number> {
  return (await run(db, getAck, [gateId])).rows[0]?.up_to ?? 0;
}
