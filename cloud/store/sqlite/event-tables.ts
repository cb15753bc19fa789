/**
 * Events and ingest on SQLite: the `events` table (exactly once per `(gate_id, seq)`), the seqs
 * ingest refused (`refused_seqs`: answered, never stored), each gate's cumulative ack mark
 * (`gate_acks`, docs/architecture.md rule 2) over both, newest-first pages, and the retention of
 * old events and refused seqs.
 */
import { addEventConditions, type EventIndexKey } from '../store-filters.ts';
import type { Database, Statement } from 'better-sqlite3';
import { encodeCursor } from '../cursor.ts';
import { EVENT_COLUMN_COUNT, EVENT_COLUMNS, writeEventValues } from '../event-columns.ts';
import { hookFor, type IngestHook, runSqliteHook } from '../ingest-hook.ts';
import type { EventPage, EventQuery, InsertEventsResult, RefusedSeq, SeqClash, StoredEvent } from '../store.ts';
import { type EventRow, eventOfRow } from '../store-rows.ts';
import { EventGates } from './event-gates.ts';
import { flag, WhereClause } from './rows.ts';

/** Rows read per step while the ack mark moves over seqs stored earlier (a gap just filled). */
const ACK_SCAN_PAGE = 1000;
/**
 * What the events indexes lead with here: a gate (`events_by_gate_ts`) or a person. A compound
 * alone has no index of its own (store migration 8): its page merges its gates'.
 */
const INDEXED: readonly EventIndexKey[] = ['gateId', 'personId'];

/** A gate of the batch being stored: one map look-up per passage (none when the gate repeats). */
interface GateOfBatch {
  gateId: string;
  /** Of its last passage in the batch: what the ingest hook is told. */
  compoundId: string;
  /** Every seq of the batch, new or duplicate, stored or refused: either way it is answered now. */
  seqs: number[];
  /** The compound `event_gates` was last told of for this gate in this batch. */
  storedIn: string | undefined;
}

function gateOfBatch(gates: Map<string, GateOfBatch>, gateId: string): GateOfBatch {
  let gate = gates.get(gateId);
  if (!gate) {
    gate = { gateId, compoundId: '', seqs: [], storedIn: undefined };
    gates.set(gateId, gate);
  }
  return gate;
}

export class SqliteEventTables {
  /** Positional parameters bound from one reused array: no object per row (the hot path of ingest). */
  private readonly insertEvent: Statement<unknown[]>;
  private readonly getAck: Statement<[string], { up_to: number }>;
  private readonly setAck: Statement<[string, number]>;
  private readonly seqsAfter: Statement<[string, number, number], { seq: number }>;
  private readonly hasSeq: Statement<[string, number], 1>;
  private readonly tsOfSeq: Statement<[string, number], number>;
  private readonly insertRefused: Statement<[string, number, string, number]>;
  private readonly refusedSeqsAfter: Statement<[string, number, number], { seq: number }>;
  private readonly hasRefusedSeq: Statement<[string, number], 1>;
  private readonly purgeRefused: Statement<[number, number]>;
  /** A loose index scan: the next gate id present in events, one index seek each. */
  private readonly nextEventGate: Statement<[string], string>;
  /** Which gates hold passages of which compound: what a compound's list merges. */
  private readonly eventGates: EventGates;
  private readonly purgeGateEvents: Statement<[string, number, number]>;

  /** The parameters of `insertEvent`, overwritten for each row (better-sqlite3 copies them on bind). */
  private readonly eventRow: unknown[] = new Array(EVENT_COLUMN_COUNT).fill(null);

  /**
   * The events-list statements, by SQL: a merged list runs one per gate. One per combination of
   * filters at most (a few dozen), so the map stays small.
   */
  private readonly pageStatements = new Map<string, Statement<unknown[], EventRow>>();

  /** Committed ack marks, so a batch need not read them back (the store is their only writer). */
  private readonly ackMarks = new Map<string, number>();

  constructor(private readonly db: Database) {
    this.insertEvent = db.prepare(`INSERT INTO events (${EVENT_COLUMNS})
      VALUES (${new Array(EVENT_COLUMN_COUNT).fill('?').join(', ')}) ON CONFLICT (gate_id, seq) DO NOTHING`);
    this.tsOfSeq = db.prepare<[string, number], number>('SELECT ts FROM events WHERE gate_id = ? AND seq = ?').pluck();
    this.getAck = db.prepare('SELECT up_to FROM gate_acks WHERE gate_id = ?');
    this.setAck = db.prepare(
      'INSERT INTO gate_acks (gate_id, up_to) VALUES (?, ?) ON CONFLICT (gate_id) DO UPDATE SET up_to = excluded.up_to',
    );
    this.seqsAfter = db.prepare('SELECT seq FROM events WHERE gate_id = ? AND seq > ? ORDER BY seq LIMIT ?');
    this.hasSeq = db.prepare<[string, number], 1>('SELECT 1 FROM events WHERE gate_id = ? AND seq = ?').pluck();
    this.insertRefused = db.prepare(
      'INSERT OR IGNORE INTO refused_seqs (gate_id, seq, reason, refused_at) VALUES (?, ?, ?, ?)',
    );
    this.refusedSeqsAfter = db.prepare(
      'SELECT seq FROM refused_seqs WHERE gate_id = ? AND seq > ? ORDER BY seq LIMIT ?',
    );
    this.hasRefusedSeq = db
      .prepare<[string, number], 1>('SELECT 1 FROM refused_seqs WHERE gate_id = ? AND seq = ?')
      .pluck();
    this.purgeRefused = db.prepare(`DELETE FROM refused_seqs WHERE (gate_id, seq) IN
      (SELECT gate_id, seq FROM refused_seqs WHERE refused_at < ? ORDER BY refused_at LIMIT ?)`);
    this.nextEventGate = db
      .prepare<[string], string>('SELECT gate_id FROM events WHERE gate_id > ? ORDER BY gate_id LIMIT 1')
      .pluck();
    this.eventGates = new EventGates(db);
    this.purgeGateEvents = db.prepare(
      'DELETE FROM events WHERE id IN (SELECT id FROM events WHERE gate_id = ? AND ts < ? ORDER BY ts LIMIT ?)',
    );
  }

  /** Stores the batch in one transaction (see `EventStore.insertEvents`); synchronous. */
  insert(
    events: readonly StoredEvent[],
    anyHook: IngestHook | undefined,
    refused: readonly RefusedSeq[],
  ): InsertEventsResult {
    const hook = hookFor(anyHook, 'sqlite');
    const result = this.db.transaction((): InsertEventsResult => {
      this.eventGates.begin();
      const inserted: StoredEvent[] = [];
      const clashes: SeqClash[] = [];
      const gates = new Map<string, GateOfBatch>();
      let gate: GateOfBatch | undefined;
      for (const e of events) {
        if (gate?.gateId !== e.gateId) gate = gateOfBatch(gates, e.gateId);
        gate.compoundId = e.compoundId;
        gate.seqs.push(e.seq);
        if (this.insertOne(e)) {
          inserted.push(e);
          if (gate.storedIn !== e.compoundId) {
            this.eventGates.stored(e.gateId, e.compoundId);
            gate.storedIn = e.compoundId;
          }
        } else {
          const clash = this.clashOf(e);
          if (clash) clashes.push(clash);
        }
      }
      if (hook && inserted.length > 0) {
        runSqliteHook(hook, inserted, (gateId) => gates.get(gateId)?.compoundId ?? '', this.db);
      }
      // Refused: only the seq is kept, so the cumulative mark can step over it.
      for (const r of refused) {
        this.insertRefused.run(r.gateId, r.seq, r.reason, r.refusedAt);
        gateOfBatch(gates, r.gateId).seqs.push(r.seq);
      }
      const acks = new Map<string, number>();
      for (const [gateId, { seqs }] of gates) acks.set(gateId, this.advanceAck(gateId, seqs));
      return clashes.length > 0 ? { inserted, acks, clashes } : { inserted, acks };
    })();
    // Only once committed: a rolled-back batch leaves the cached marks as they were.
    for (const [gateId, mark] of result.acks) this.ackMarks.set(gateId, mark);
    this.eventGates.committed();
    hook?.committed?.();
    return result;
  }

  /** A copy not stored whose seq is stored with another ts (PostgreSQL: pg-events.ts `clashes`). */
  private clashOf(e: StoredEvent): SeqClash | undefined {
    const storedTs = this.tsOfSeq.get(e.gateId, e.seq);
    return storedTs === undefined || storedTs === e.ts
      ? undefined
      : { gateId: e.gateId, seq: e.seq, storedTs, droppedTs: e.ts };
  }

  /** Inserts one event; false when `(gateId, seq)` was already stored. */
  private insertOne(e: StoredEvent): boolean {
    return this.insertEvent.run(writeEventValues(this.eventRow, e, flag)).changes === 1;
  }

  /**
   * Moves the gate's cumulative mark (docs/architecture.md rule 2) over contiguous stored or refused
   * seqs: first over this batch's own seqs (no query), then, if the next seq was already stored or
   * refused (a gap just filled), over both tables page by page. O(batch) in the usual case: two
   * probes and one write per gate and batch.
   */
  private advanceAck(gateId: string, batchSeqs: number[]): number {
    const before = this.ackMarks.get(gateId) ?? this.getAck.get(gateId)?.up_to ?? 0;
    let mark = before;
    batchSeqs.sort((a, b) => a - b);
    for (const seq of batchSeqs) {
      if (seq === mark + 1) mark = seq;
      else if (seq > mark + 1) break;
    }
    const answered = (seq: number) =>
      this.hasSeq.get(gateId, seq) !== undefined || this.hasRefusedSeq.get(gateId, seq) !== undefined;
    if (answered(mark + 1)) {
      for (;;) {
        const stored = this.seqsAfter.all(gateId, mark, ACK_SCAN_PAGE).map((r) => r.seq);
        const refused = this.refusedSeqsAfter.all(gateId, mark, ACK_SCAN_PAGE).map((r) => r.seq);
        // A full page may hide seqs beyond its last one: walk no further than what both pages cover.
        let bound = Number.POSITIVE_INFINITY;
        if (stored.length === ACK_SCAN_PAGE) bound = Math.min(bound, stored[ACK_SCAN_PAGE - 1]!);
        if (refused.length === ACK_SCAN_PAGE) bound = Math.min(bound, refused[ACK_SCAN_PAGE - 1]!);
        const seqs = [...new Set([...stored, ...refused])].sort((a, b) => a - b);
        let contiguous = true;
        for (const seq of seqs) {
          if (seq > bound) break;
          if (seq !== mark + 1) {
            contiguous = false;
            break;
          }
          mark = seq;
        }
        if (!contiguous || bound === Number.POSITIVE_INFINITY) break;
      }
    }
    if (mark !== before) this.setAck.run(gateId, mark);
    return mark;
  }

  ackedUpTo(gateId: string): number {
    return this.getAck.get(gateId)?.up_to ?? 0;
  }

  query(query: EventQuery): EventPage {
    const where = new WhereClause();
    const { narrowed } = addEventConditions(where, query, INDEXED);
    const rows = narrowed
      ? this.eventRows(where, query.limit + 1)
      : this.eventRowsOfGates(where, query.limit + 1, query.compoundId);
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return {
      events: page.map(eventOfRow),
      nextCursor: rows.length > query.limit && last ? encodeCursor([Number(last.ts), Number(last.id)]) : null,
    };
  }

  private eventRows(where: WhereClause, limit: number): EventRow[] {
    const sql = `SELECT * FROM events ${where.sql()} ORDER BY ts DESC, id DESC LIMIT ?`;
    let statement = this.pageStatements.get(sql);
    if (!statement) {
      statement = this.db.prepare<unknown[], EventRow>(sql);
      this.pageStatements.set(sql, statement);
    }
    return statement.all(...where.args, limit);
  }

  /**
   * Newest first across the compound's gates (every gate without `compoundId`), with neither an
   * index on ts alone nor one per compound: the first `limit` rows of each gate over
   * `events_by_gate_ts`, merged. The newest `limit` overall are among them.
   */
  private eventRowsOfGates(where: WhereClause, limit: number, compoundId: string | undefined): EventRow[] {
    const rows: EventRow[] = [];
    if (compoundId !== undefined) {
      for (const gateId of this.eventGates.gatesOf(compoundId)) {
        rows.push(...this.eventRows(where.with('gate_id = ?', gateId), limit));
      }
    } else {
      let gateId = this.nextEventGate.get('');
      while (gateId !== undefined) {
        rows.push(...this.eventRows(where.with('gate_id = ?', gateId), limit));
        gateId = this.nextEventGate.get(gateId);
      }
    }
    rows.sort((a, b) => Number(b.ts) - Number(a.ts) || Number(b.id) - Number(a.id));
    return rows.slice(0, limit);
  }

  /**
   * Deletes up to `limit` events older than `before`, gate by gate over `events_by_gate_ts` (there
   * is no index on ts alone: it would cost every insert). Every gate present in the table is
   * visited, registered or not, so nothing escapes retention. Call inside a transaction.
   */
  purge(before: number, limit: number): number {
    let deleted = 0;
    let gateId = this.nextEventGate.get('');
    while (gateId !== undefined && deleted < limit) {
      deleted += this.purgeGateEvents.run(gateId, before, limit - deleted).changes;
      gateId = this.nextEventGate.get(gateId);
    }
    return deleted + this.purgeRefused.run(before, limit).changes;
  }
}
