/**
 * Events on PostgreSQL: ingest, the cumulative ack marks, the events list and retention.
 *
 * Ingest writes a batch in one transaction with one multi-row INSERT (`unnest` of one array per
 * column: a fixed, prepared statement whatever the batch size). `(gateId, seq)` is the passage's
 * key; `events` is partitioned by month, and PostgreSQL's unique indexes on a partitioned table
 * must hold the partition key, so the index is `(gate_id, seq, ts)` — a resent copy (same ts)
 * conflicts there, and waits for a copy another transaction is storing — and the key itself is
 * settled under an advisory lock per stored `(gate, seq)` every cloud instance takes, held to the
 * COMMIT (the gates of a batch that carry the most seqs, a drain's, are locked whole instead,
 * `sharedGateLocks`): taken right after the batch's rows are written (in the same statement),
 * and under it the next statement sees a copy of that seq committed before with another ts: the
 * batch takes its own copy out again (`clashes`) and goes on with the rest. Batches of
 * different seqs of the same gates — a gate's messages alternating between instances — do not
 * wait on each other. After the COMMIT the marks are moved in the database from committed rows
 * (one statement, pg-acks.ts), never from one instance's memory, and only forward, so any
 * instance may take any gate's batch (docs/architecture.md rule 2). The caller acks only after
 * `insertEvents` resolves, i.e. after the COMMIT and the marks.
 */
import { addEventConditions, type EventIndexKey } from '../store-filters.ts';
import type pg from 'pg';
import { encodeCursor } from '../cursor.ts';
import { EVENT_COLUMN_COUNT, EVENT_COLUMNS, writeEventValues } from '../event-columns.ts';
import { hookFor, type IngestHook, type PgIngestHook } from '../ingest-hook.ts';
import type { EventPage, EventQuery, InsertEventsResult, RefusedSeq, SeqClash, StoredEvent } from '../store.ts';
import { ackedUpTo, advanceAcks } from './pg-acks.ts';
import { type EventPartitions, listPartitions } from './pg-partitions.ts';
import { run, statement, transaction } from './pg-pool.ts';
import { type EventRow, eventOfRow } from '../store-rows.ts';
import { PgWhere } from './pg-rows.ts';

/** One array per column, in EVENT_COLUMNS order. */
type Columns = [
  ...[string[], number[], string[], number[], string[], string[], string[], string[]],
  ...[(string | null)[], (string | null)[], (string | null)[], string[], string[], (boolean | null)[]],
  ...[(string | null)[], number[], number[], (string | null)[]],
];

/**
 * The batch in one statement, before its gate locks: its refused seqs (as answered) and its new
 * events (`RETURNING` the stored keys) — a copy already committed is skipped by `NOT EXISTS`, one
 * being stored by another transaction right now waits on the `(gate_id, seq, ts)` unique index
 * and is skipped when that commits — and then, once both are written (the `WHERE` reads them
 * whole first), the batch's locks (`$23`, `$24`: each gate shared with its new seqs, or
 * exclusive; sorted). The next statement thus sees every batch of these gates committed before
 * this one got its locks (`settle`).
 *
 * The rows are numbered (`id`, the events' order among equal times) in the batch's order, as on
 * SQLite, but written in `(gate_id, seq)` order — and the refused seqs too: two batches resending
 * each other's passages (a gate's resend reaching the other instance) wait on each other's index
 * entries in one order, never in a cycle.
 */
type InsertBatchParams = [...Columns, string[], number[], string[], number[], string[], boolean[]];
const insertBatch = statement<InsertBatchParams, { gate_id: string; seq: number }>(
  'insert_batch',
  `WITH refused AS (
     INSERT INTO refused_seqs (gate_id, seq, reason, refused_at)
     SELECT * FROM unnest($19::text[], $20::int8[], $21::text[], $22::int8[]) ORDER BY 1, 2 ON CONFLICT DO NOTHING
     RETURNING 1),
   stored AS (
     INSERT INTO events (id, ${EVENT_COLUMNS})
     SELECT id, ${EVENT_COLUMNS} FROM (
       SELECT nextval('events_id_seq') AS id, ${EVENT_COLUMNS} FROM (
         SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::int8[], $5::text[], $6::text[],
           $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bool[],
           $15::text[], $16::float8[], $17::int8[], $18::text[]) WITH ORDINALITY AS r(${EVENT_COLUMNS}, ord)
         WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.gate_id = r.gate_id AND e.seq = r.seq)
         ORDER BY ord) AS in_batch_order) AS numbered
     ORDER BY gate_id, seq
     ON CONFLICT DO NOTHING
     RETURNING gate_id, seq, ts),
   gate_locks AS (SELECT * FROM unnest($23::text[], $24::bool[]) AS g(gate_id, shared)),
   locked AS (
     SELECT CASE WHEN shared THEN pg_advisory_xact_lock_shared(k) ELSE pg_advisory_xact_lock(k) END FROM (
       SELECT k, shared FROM (
         SELECT hashtextextended('ingest:' || g.gate_id, 0) AS k, g.shared FROM gate_locks g
         UNION ALL
         SELECT hashtextextended('ingest-seq:' || s.gate_id, s.seq), false
         FROM stored s JOIN gate_locks g ON g.gate_id = s.gate_id WHERE g.shared) AS keys
       ORDER BY k) AS sorted
     WHERE (SELECT COUNT(*) FROM stored) + (SELECT COUNT(*) FROM refused) >= 0)
   SELECT gate_id, seq FROM stored WHERE (SELECT COUNT(*) FROM locked) >= 0`,
);
/**
 * Under the batch's locks, with a snapshot taken after them: any stored key (`$1`–`$3`) whose
 * `(gate_id, seq)` another transaction committed with another `ts` meanwhile — a gate that sent
 * two passages under one seq, through two instances at once (a 'clash'). Whoever took the key's
 * lock first has committed (or rolled back) before this reads, and no one can commit another copy
 * while this batch holds the lock, so the copy seen here is the one that stays: the batch deletes
 * its own (`dropClashed`) and commits the rest. It used to roll back and write the whole batch
 * again, at most three times — but each try could meet another batch's copy of another of its
 * seqs, so with many batches of the same gates at once (two instances after a reconnect moved
 * gates between them) a batch could lose three times in a row and fail.
 */
const clashes = statement<[string[], number[], number[]], { gate_id: string; seq: number; stored_ts: number }>(
  'batch_clashes',
  `SELECT k.gate_id, k.seq, e.ts AS stored_ts FROM unnest($1::text[], $2::int8[], $3::int8[]) AS k(gate_id, seq, ts)
   JOIN LATERAL (SELECT e.ts FROM events e WHERE e.gate_id = k.gate_id AND e.seq = k.seq AND e.ts <> k.ts LIMIT 1) e
   ON true`,
);
/** The stored ts of keys (`$1`, `$2`) the batch skipped as committed already: a copy, or a clash. */
const storedTsOf = statement<[string[], number[]], { gate_id: string; seq: number; ts: number }>(
  'batch_stored_ts',
  `SELECT e.gate_id, e.seq, e.ts FROM unnest($1::text[], $2::int8[]) AS k(gate_id, seq)
   JOIN events e ON e.gate_id = k.gate_id AND e.seq = k.seq`,
);
/** This batch's own rows of the clashed keys (`$1`–`$3`: gate, seq and its ts), under their locks. */
const dropClashed = statement<[string[], number[], number[]]>(
  'batch_drop_clashed',
  `DELETE FROM events e USING unnest($1::text[], $2::int8[], $3::int8[]) AS k(gate_id, seq, ts)
   WHERE e.gate_id = k.gate_id AND e.seq = k.seq AND e.ts = k.ts`,
);
const purgeRefused = statement<[number, number]>(
  'purge_refused',
  `DELETE FROM refused_seqs WHERE (gate_id, seq) IN
     (SELECT gate_id, seq FROM refused_seqs WHERE refused_at < $1 ORDER BY refused_at LIMIT $2)`,
);

/**
 * A batch locks at most this many `(gate, seq)` keys: each gate's new rows under a lock each (and
 * the gate shared), except the gates with the most rows, which it locks alone, exclusively — as
 * many of them as it takes to stay within this (`sharedGateLocks`). A drain's batch (hundreds of
 * seqs per gate) thus locks its gates, a live batch (a few seqs per gate) mostly seqs, however
 * large: two instances' live batches of the same gates wait only on the few gates that carry the
 * most seqs, where one batch past this size used to lock all its gates exclusively and make the
 * other instance's batches wait for it. Each transaction's locks stay within PostgreSQL's lock
 * table (`max_locks_per_transaction` × connections: 64 × 100 by default, room for eight
 * instances' batches of 512 seqs over 200 gates each), and the two kinds exclude each other on
 * the gate lock (so do instances of the version before, which lock gates).
 */
export const MAX_SEQ_LOCKS = 512;

/**
 * Per gate of `gates`, whether the batch locks it shared (and each of its new seqs) rather than
 * exclusively: the gates with the most candidates are locked exclusively until the rest hold at
 * most `MAX_SEQ_LOCKS` candidates.
 */
export function sharedGateLocks(candidates: readonly StoredEvent[], gates: readonly string[]): boolean[] {
  const count = new Map<string, number>();
  for (const e of candidates) count.set(e.gateId, (count.get(e.gateId) ?? 0) + 1);
  const exclusive = new Set<string>();
  let seqLocks = candidates.length;
  for (const [gateId, n] of [...count].sort((a, b) => b[1] - a[1])) {
    if (seqLocks <= MAX_SEQ_LOCKS) break;
    exclusive.add(gateId);
    seqLocks -= n;
  }
  return gates.map((g) => !exclusive.has(g));
}

const key = (gateId: string, seq: number) => `${gateId}\u0000${seq}`;
/** What the events indexes lead with: a compound, a gate or a person (pg-migrations.ts). */
const INDEXED: readonly EventIndexKey[] = ['compoundId', 'gateId', 'personId'];

interface Plan {
  /** The first occurrence of each (gateId, seq) of the batch, in batch order. */
  candidates: StoredEvent[];
  /** Every seq of the batch per gate, new or duplicate: either way it is stored once this commits. */
  seqsOfGate: Map<string, number[]>;
  compoundOfGate: Map<string, string>;
  /** Copies within the batch of a seq already in it with another ts (the first one is the candidate). */
  clashes: SeqClash[];
}

function planBatch(events: readonly StoredEvent[], refused: readonly RefusedSeq[]): Plan {
  const seen = new Map<string, number>();
  const clashes: SeqClash[] = [];
  const candidates: StoredEvent[] = [];
  const seqsOfGate = new Map<string, number[]>();
  const compoundOfGate = new Map<string, string>();
  // Refused seqs are answered too: the mark steps over them.
  for (const r of refused) {
    const seqs = seqsOfGate.get(r.gateId);
    if (seqs) seqs.push(r.seq);
    else seqsOfGate.set(r.gateId, [r.seq]);
  }
  for (const e of events) {
    compoundOfGate.set(e.gateId, e.compoundId);
    const seqs = seqsOfGate.get(e.gateId);
    if (seqs) seqs.push(e.seq);
    else seqsOfGate.set(e.gateId, [e.seq]);
    const k = key(e.gateId, e.seq);
    const firstTs = seen.get(k);
    if (firstTs !== undefined) {
      if (firstTs !== e.ts) clashes.push({ gateId: e.gateId, seq: e.seq, storedTs: firstTs, droppedTs: e.ts });
      continue;
    }
    seen.set(k, e.ts);
    candidates.push(e);
  }
  return { candidates, seqsOfGate, compoundOfGate, clashes };
}

const asIs = (b: boolean) => b;

/** The batch's values column by column (`unnest` takes one array per column). */
function columnsOf(events: readonly StoredEvent[]): Columns {
  const c = Array.from({ length: EVENT_COLUMN_COUNT }, () => new Array<unknown>(events.length));
  const row = new Array<unknown>(EVENT_COLUMN_COUNT);
  events.forEach((e, i) => {
    writeEventValues(row, e, asIs);
    for (let k = 0; k < EVENT_COLUMN_COUNT; k++) c[k]![i] = row[k];
  });
  return c as unknown as Columns;
}

/** Attempts at a batch that met a missing partition (rare: another instance's retention dropped it). */
const MAX_ATTEMPTS = 3;

/** A row whose month has no partition (another instance's retention dropped it meanwhile). */
function isMissingPartition(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return e.code === '23514' && /no partition/.test(e.message ?? '');
}

/**
 * The batch's candidates skipped as committed already (only when some were: resends) whose
 * stored copy has another ts — a clash met after the fact rather than under the locks.
 */
async function skippedClashes(client: pg.PoolClient, skipped: readonly StoredEvent[]): Promise<SeqClash[]> {
  const { rows } = await run(client, storedTsOf, [skipped.map((e) => e.gateId), skipped.map((e) => e.seq)]);
  const storedTs = new Map(rows.map((r) => [key(r.gate_id, r.seq), r.ts]));
  const clashes: SeqClash[] = [];
  for (const e of skipped) {
    const ts = storedTs.get(key(e.gateId, e.seq));
    if (ts !== undefined && ts !== e.ts) clashes.push({ gateId: e.gateId, seq: e.seq, storedTs: ts, droppedTs: e.ts });
  }
  return clashes;
}

/**
 * Deletes this batch's copies of the clashed keys (another copy was committed first); returns the
 * rest, and each clash (both ts) for the caller to log and count — never dropped silently.
 */
async function dropClashedRows(
  client: pg.PoolClient,
  inserted: readonly StoredEvent[],
  clashed: readonly { gate_id: string; seq: number; stored_ts: number }[],
): Promise<{ kept: StoredEvent[]; clashes: SeqClash[] }> {
  const storedTs = new Map(clashed.map((r) => [key(r.gate_id, r.seq), r.stored_ts]));
  const mine = inserted.filter((e) => storedTs.has(key(e.gateId, e.seq)));
  const { rowCount } = await run(client, dropClashed, [
    mine.map((e) => e.gateId),
    mine.map((e) => e.seq),
    mine.map((e) => e.ts),
  ]);
  if (rowCount !== mine.length) throw new Error(`events: ${rowCount} of ${mine.length} clashed rows deleted`);
  const clashes = mine.map((e) => ({
    gateId: e.gateId,
    seq: e.seq,
    storedTs: storedTs.get(key(e.gateId, e.seq)) ?? 0,
    droppedTs: e.ts,
  }));
  return { kept: inserted.filter((e) => !storedTs.has(key(e.gateId, e.seq))), clashes };
}

export class PgEvents {
  constructor(
    private readonly pool: pg.Pool,
    private readonly partitions: EventPartitions,
  ) {}

  async insert(
    events: readonly StoredEvent[],
    hook?: IngestHook,
    refused: readonly RefusedSeq[] = [],
  ): Promise<InsertEventsResult> {
    const pgHook = hookFor(hook, 'postgres');
    if (events.length === 0 && refused.length === 0) return { inserted: [], acks: new Map() };
    await this.partitions.ensure(events.map((e) => e.ts));
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.insertOnce(events, pgHook, refused);
      } catch (error) {
        if (!isMissingPartition(error) || attempt >= MAX_ATTEMPTS) throw error;
        this.partitions.forget();
        await this.partitions.ensure(events.map((e) => e.ts));
      }
    }
  }

  /**
   * One transaction: the batch written (refused seqs, new events) and only then its locks taken,
   * in one statement; under them the clash check (a copy committed first with another ts stays,
   * this batch's is deleted), the hooks (what they write was prepared before), COMMIT. Then, outside it, the marks moved over what is committed (`advanceAcks`).
   * The locks are per stored `(gate, seq)` (and each gate's shared), so two instances storing
   * different seqs of the same gates — a gate's messages alternating between them — never wait
   * on each other; only two copies of one seq do, and the second then sees the first.
   */
  private async insertOnce(
    events: readonly StoredEvent[],
    hook: PgIngestHook | undefined,
    refused: readonly RefusedSeq[],
  ): Promise<InsertEventsResult> {
    const plan = planBatch(events, refused);
    const gates = [...plan.seqsOfGate.keys()];
    const compoundOf = (gateId: string) => plan.compoundOfGate.get(gateId) ?? '';
    const params: InsertBatchParams = [
      ...columnsOf(plan.candidates),
      refused.map((r) => r.gateId),
      refused.map((r) => r.seq),
      refused.map((r) => r.reason),
      refused.map((r) => r.refusedAt),
      gates,
      sharedGateLocks(plan.candidates, gates),
    ];
    // The hooks' reads and work for every candidate before the transaction.
    if (hook?.prepare && plan.candidates.length > 0) await hook.prepare(plan.candidates, compoundOf, this.pool);
    let clashed: SeqClash[] = plan.clashes;
    const inserted = await transaction(this.pool, async (client) => {
      const { rows } = await run(client, insertBatch, params);
      const stored = new Set(rows.map((r) => key(r.gate_id, r.seq)));
      // Every candidate new (the usual case): the very array the hooks prepared for.
      let inserted = plan.candidates;
      if (stored.size !== plan.candidates.length) {
        inserted = plan.candidates.filter((e) => stored.has(key(e.gateId, e.seq)));
        const skipped = plan.candidates.filter((e) => !stored.has(key(e.gateId, e.seq)));
        clashed = [...clashed, ...(await skippedClashes(client, skipped))];
      }
      const clash = await run(client, clashes, [
        inserted.map((e) => e.gateId),
        inserted.map((e) => e.seq),
        inserted.map((e) => e.ts),
      ]);
      if (clash.rows.length > 0) {
        const dropped = await dropClashedRows(client, inserted, clash.rows);
        inserted = dropped.kept;
        clashed = [...clashed, ...dropped.clashes];
      }
      // Last before the COMMIT: the hooks' counters are rows every instance updates (the
      // statistics of a busy hour), so their row locks are held as briefly as the batch allows.
      if (hook && inserted.length > 0) await hook.onStored(inserted, compoundOf, client);
      return inserted;
    });
    hook?.committed?.();
    // The batch is stored whatever happens next: a mark that cannot be moved now (the database
    // gone between the two) is moved by the gate's resend, whose copies are skipped; the batch
    // is still reported stored, so what follows a store (`onStored`) runs once for it, and the
    // failure goes to the caller (`ackError`), which logs and counts it and acks nothing. The
    // marks: one statement, whatever the gates (pg-acks.ts).
    const clashInfo = clashed.length > 0 ? { clashes: clashed } : {};
    try {
      const { marks, readAt } = await advanceAcks(this.pool, plan.seqsOfGate);
      return { inserted, acks: marks, ...clashInfo, ...(readAt === undefined ? {} : { acksReadAt: readAt }) };
    } catch (ackError) {
      return { inserted, acks: new Map(), ...clashInfo, ackError };
    }
  }

  async ackedUpTo(gateId: string): Promise<number> {
    return ackedUpTo(this.pool, gateId);
  }

  async query(query: EventQuery): Promise<EventPage> {
    const where = new PgWhere();
    const { narrowed } = addEventConditions(where, query, INDEXED);
    const limit = query.limit + 1;
    const rows = narrowed ? await this.eventRows(where, limit) : await this.eventRowsOfAllCompounds(where, limit);
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      events: page.map(eventOfRow),
      nextCursor: rows.length > query.limit && last ? encodeCursor([Number(last.ts), Number(last.id)]) : null,
    };
  }

  private async eventRows(where: PgWhere, limit: number): Promise<EventRow[]> {
    const sql = `SELECT * FROM events ${where.sql()} ORDER BY ts DESC, id DESC LIMIT $${where.args.length + 1}`;
    return (await this.pool.query(sql, [...where.args, limit])).rows;
  }

  /**
   * Newest first across every compound without an index on ts alone: the first `limit` rows of each
   * compound present in `events` (a loose index scan over `events_by_compound_ts` finds them), merged.
   */
  private async eventRowsOfAllCompounds(where: PgWhere, limit: number): Promise<EventRow[]> {
    const conditions = where.sql(2).replace(/^WHERE /, 'AND ');
    const sql = `WITH RECURSIVE c AS (
        (SELECT compound_id FROM events ORDER BY compound_id LIMIT 1)
        UNION ALL
        SELECT (SELECT compound_id FROM events WHERE compound_id > c.compound_id ORDER BY compound_id LIMIT 1)
        FROM c WHERE c.compound_id IS NOT NULL)
      SELECT e.* FROM c CROSS JOIN LATERAL (
        SELECT * FROM events WHERE compound_id = c.compound_id ${conditions} ORDER BY ts DESC, id DESC LIMIT $1) e
      ORDER BY e.ts DESC, e.id DESC LIMIT $1`;
    return (await this.pool.query(sql, [limit, ...where.args])).rows;
  }

  /**
   * Retention: drops the month partitions wholly older than `before` (whatever their size: a drop
   * costs the same for ten rows or ten million), then deletes at most what is left of `limit` rows
   * older than `before` from the month that straddles it, found over the BRIN index on ts.
   */
  async purge(before: number, limit: number): Promise<number> {
    let deleted = await this.partitions.dropOlderThan(before);
    for (const p of await listPartitions(this.pool)) {
      if (p.from >= before || deleted >= limit) break;
      // Per partition: a ctid names a row only within its own table. The name is one we made (pg-partitions.ts).
      const { rowCount } = await this.pool.query(
        `DELETE FROM ONLY ${p.name} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ONLY ${p.name} WHERE ts < $1 LIMIT $2))`,
        [before, limit - deleted],
      );
      deleted += rowCount ?? 0;
    }
    return deleted + (await run(this.pool, purgeRefused, [before, limit])).rowCount;
  }
}
