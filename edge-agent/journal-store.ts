/**
 * The gate's event journal (ARCHITECTURE.md rule 2): every decision is written here, with the next
 * `seq`, before anything is published; rows leave only when the cloud's cumulative ack covers them.
 *
 * `seq` is persisted in `meta` (not derived from the table) so it is never reused, even when every
 * row has been pruned. The journal is always the contiguous range (ackedUpTo, lastSeq].
 *
 * A granted passage is appended at once as *pending* (`final = 0`) and finalised when the
 * turnstile confirms it or times out; only final rows are published, in seq order. A pending row
 * found at start-up belongs to a process that died mid-passage: it is finalised as `passed: false`.
 */
import type { EntryEvent } from '../shared/schemas/mqtt.ts';
import { type GateDatabase, MetaTable } from './gate-database.ts';
import type { PassageEffects, ReplicaStore } from './replica-store.ts';

const META = { lastSeq: 'journal.lastSeq', ackedUpTo: 'journal.ackedUpTo' } as const;

export type JournalEntry = Omit<EntryEvent, 'seq'>;

export class JournalStore {
  private readonly meta: MetaTable;
  private last: number;
  private acked: number;
  private readonly stmt;
  private readonly appendTx: (entry: JournalEntry, final: boolean, effects: PassageEffects | undefined) => EntryEvent;
  private readonly finalizeTx: (
    seq: number,
    passed: boolean | null,
    effects: PassageEffects | undefined,
  ) => EntryEvent | undefined;
  private readonly pruneTx: (upTo: number) => number;

  constructor(
    db: GateDatabase,
    private readonly replica: ReplicaStore,
  ) {
    this.meta = new MetaTable(db);
    this.last = this.meta.getNumber(META.lastSeq) ?? 0;
    this.acked = this.meta.getNumber(META.ackedUpTo) ?? 0;
    this.stmt = {
      insert: db.prepare<[number, string, number]>('INSERT INTO journal (seq, event, final) VALUES (?, ?, ?)'),
      get: db.prepare<[number], { event: string; final: number }>('SELECT event, final FROM journal WHERE seq = ?'),
      update: db.prepare<[string, number]>('UPDATE journal SET event = ?, final = 1 WHERE seq = ?'),
      range: db.prepare<[number, number], { seq: number; event: string; final: number }>(
        'SELECT seq, event, final FROM journal WHERE seq > ? ORDER BY seq LIMIT ?',
      ),
      firstPending: db.prepare<[], { seq: number }>('SELECT MIN(seq) AS seq FROM journal WHERE final = 0'),
      pending: db.prepare<[], { seq: number }>('SELECT seq FROM journal WHERE final = 0 ORDER BY seq'),
      prune: db.prepare<[number]>('DELETE FROM journal WHERE seq <= ?'),
    };

    this.appendTx = db.transaction((entry: JournalEntry, final: boolean, effects: PassageEffects | undefined) => {
      const seq = this.last + 1;
      const event = { ...entry, seq } as EntryEvent;
      this.stmt.insert.run(seq, JSON.stringify(event), final ? 1 : 0);
      this.meta.set(META.lastSeq, seq);
      if (final && effects && event.passed !== false) this.replica.recordPassage(effects, event.direction, event.ts);
      this.last = seq;
      return event;
    });

    this.finalizeTx = db.transaction(
      (seq: number, passed: boolean | null, effects: PassageEffects | undefined): EntryEvent | undefined => {
        const row = this.stmt.get.get(seq);
        if (!row || row.final === 1) return undefined;
        const event = { ...(JSON.parse(row.event) as EntryEvent), passed };
        this.stmt.update.run(JSON.stringify(event), seq);
        if (effects && passed !== false) this.replica.recordPassage(effects, event.direction, event.ts);
        return event;
      },
    );

    this.pruneTx = db.transaction((upTo: number) => {
      const deleted = this.stmt.prune.run(upTo).changes;
      this.meta.set(META.ackedUpTo, upTo);
      this.acked = upTo;
      return deleted;
    });
  }

  /** Highest seq ever assigned (0 before the first event). */
  lastSeq(): number {
    return this.last;
  }

  /** Highest seq the cloud has acknowledged (everything ≤ it is pruned). */
  ackedUpTo(): number {
    return this.acked;
  }

  /** Events journaled but not yet acknowledged. */
  depth(): number {
    return this.last - this.acked;
  }

  /**
   * Appends with the next seq, synchronously (rule 1: no network on this path). A final entry's
   * effects (pass use, exit quota, anti-passback) are recorded in the same transaction.
   */
  append(entry: JournalEntry, options: { final: boolean; effects?: PassageEffects }): EntryEvent {
    return this.rollbackSafe(() => this.appendTx(entry, options.final, options.effects));
  }

  /** Completes a pending entry with the turnstile's outcome; undefined if it is unknown or already final. */
  finalize(seq: number, passed: boolean | null, effects?: PassageEffects): EntryEvent | undefined {
    return this.finalizeTx(seq, passed, effects);
  }

  /** Final events after `afterSeq`, in order, stopping at the first pending one (publishing never skips a seq). */
  readFinal(afterSeq: number, limit: number): EntryEvent[] {
    const out: EntryEvent[] = [];
    for (const row of this.stmt.range.all(afterSeq, limit)) {
      if (row.final !== 1) break;
      out.push(JSON.parse(row.event) as EntryEvent);
    }
    return out;
  }

  /** The highest seq an ack may cover: pending rows were never sent, so an ack past them is bogus. */
  maxAckable(): number {
    const pending = this.stmt.firstPending.get()?.seq;
    return pending === undefined || pending === null ? this.last : pending - 1;
  }

  /** Drops every event with seq ≤ upTo (the cloud stored them). Returns the number of rows deleted. */
  prune(upTo: number): number {
    return this.pruneTx(upTo);
  }

  /** At start-up: passages interrupted by a crash are finalised as not confirmed. Returns their seqs. */
  finalizeInterrupted(): number[] {
    const seqs = this.stmt.pending.all().map((r) => r.seq);
    for (const seq of seqs) this.finalize(seq, false);
    return seqs;
  }

  private rollbackSafe<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      this.last = this.meta.getNumber(META.lastSeq) ?? 0;
      throw error;
    }
  }
}
