/**
 * The gate's event journal (docs/architecture.md rule 2): every decision is written here, with the next
 * `seq`, before anything is published; rows leave only when the cloud's cumulative ack covers them.
 *
 * `seq` is persisted in `meta` (not derived from the table) so it is never reused, even when every
 * row has been pruned. The unacknowledged journal is always the contiguous range (ackedUpTo, lastSeq].
 *
 * Acknowledged rows stay for `keepAckedMs` (default 7 days) after the ack that covered them, then
 * go. That is what makes restoring the cloud from a backup safe: a restored cloud acknowledges
 * less than the gate already had, and `rewindAck` turns the rows since back into unacknowledged
 * ones, which the uplink sends again (docs/operations.md).
 *
 * A granted passage is appended at once as *pending* (`final = 0`) and finalised when the
 * turnstile confirms it or times out; only final rows are published, in seq order. A pending row
 * found at start-up belongs to a process that died mid-passage: it is finalised as `passed: false`.
 *
 * A grant's effects (pass use, exit quota, anti-passback) count from the moment it is journaled:
 * the append reserves them for the pending row (`ReplicaStore.reservePassage`), in the same
 * transaction, so the next scan is decided against them even while the person is still in the
 * turnstile. Finalising releases the reservation and, unless the passage timed out, records the
 * effects as confirmed — again in one transaction, so a use or an exit is never counted twice and
 * never lost in between. A timeout, and a passage interrupted by a restart, give them back.
 *
 * Durability (with a `WalSync`, i.e. `journal.synchronous: "full"`): a write commits to the WAL
 * without waiting for the disk — it already survives a crash of the process — and an fsync on the
 * thread pool follows at once (one for all writes made meanwhile: group commit). Rows are handed
 * to the uplink only once that fsync covered their latest write, so nothing is published that a
 * power cut could take back (docs/architecture.md rule 2), and the unlock never waits for the disk (docs/architecture.md rule 1). The price:
 * a power cut within the few milliseconds between a write and its fsync can lose that row — one
 * nobody outside the gate has seen yet.
 */
import type { EntryEvent } from '../shared/schemas/mqtt.ts';
import { type GateDatabase, MetaTable } from './gate-database.ts';
import type { PassageEffects, ReplicaStore } from './replica-store.ts';
import type { WalSync } from '../shared/wal-sync.ts';

const META = { lastSeq: 'journal.lastSeq', ackedUpTo: 'journal.ackedUpTo' } as const;

export type JournalEntry = Omit<EntryEvent, 'seq'>;

/** How long acknowledged rows are kept, in case the cloud is restored from a backup. */
const KEEP_ACKED_MS = 7 * 86_400_000;

export interface JournalOptions {
  /** Default `KEEP_ACKED_MS`; 0 prunes at the ack. */
  keepAckedMs?: number;
  now?: () => number;
}

export interface JournalDurability {
  wal: Pick<WalSync, 'sync' | 'close'>;
  /** Rows became durable (the uplink may publish them). */
  onDurable: () => void;
  /** An fsync failed; it is retried after `retryMs`, and nothing newer is published meanwhile. */
  onError: (error: Error) => void;
  retryMs?: number;
}

export class JournalStore {
  private readonly meta: MetaTable;
  private last: number;
  private acked: number;
  private readonly stmt: ReturnType<typeof prepareJournalStatements>;
  private readonly appendTx: (entry: JournalEntry, final: boolean, effects: PassageEffects | undefined) => EntryEvent;
  private readonly finalizeTx: (
    seq: number,
    passed: boolean | null,
    effects: PassageEffects | undefined,
  ) => EntryEvent | undefined;
  private readonly pruneTx: (upTo: number) => number;
  private readonly rewindTx: (upTo: number) => boolean;
  private readonly keepAckedMs: number;
  private readonly now: () => number;
  /** Every row with seq ≤ this is durable as it now reads (or pending, which is never published). */
  private durable: number;
  private syncing = false;
  private dirty = false;
  /** Lowest seq written while the current fsync runs (not covered by it). */
  private writtenDuringSync = Number.POSITIVE_INFINITY;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    db: GateDatabase,
    private readonly replica: ReplicaStore,
    private readonly durability?: JournalDurability,
    options: JournalOptions = {},
  ) {
    this.keepAckedMs = options.keepAckedMs ?? KEEP_ACKED_MS;
    this.now = options.now ?? Date.now;
    // When each ack arrived: acknowledged rows go `keepAckedMs` after the ack that covered them.
    db.exec('CREATE TABLE IF NOT EXISTS journal_acks (up_to INTEGER PRIMARY KEY, at INTEGER NOT NULL)');
    this.meta = new MetaTable(db);
    this.last = this.meta.getNumber(META.lastSeq) ?? 0;
    this.acked = this.meta.getNumber(META.ackedUpTo) ?? 0;
    // Rows left by an earlier process may still be in the page cache only: synced before they go out.
    this.durable = durability ? this.acked : Number.POSITIVE_INFINITY;
    this.dirty = durability !== undefined;
    this.stmt = prepareJournalStatements(db);

    this.appendTx = db.transaction((entry: JournalEntry, final: boolean, effects: PassageEffects | undefined) => {
      const seq = this.last + 1;
      const event = { ...entry, seq } as EntryEvent;
      this.stmt.insert.run(seq, JSON.stringify(event), final ? 1 : 0);
      this.meta.set(META.lastSeq, seq);
      if (effects && !final) this.replica.reservePassage(seq, effects, event.direction, event.ts);
      else if (effects && event.passed !== false) this.replica.recordPassage(effects, event.direction, event.ts);
      this.last = seq;
      return event;
    });

    this.finalizeTx = db.transaction(
      (seq: number, passed: boolean | null, effects: PassageEffects | undefined): EntryEvent | undefined => {
        const row = this.stmt.get.get(seq);
        if (!row || row.final === 1) return undefined;
        const event = { ...(JSON.parse(row.event) as EntryEvent), passed };
        this.stmt.update.run(JSON.stringify(event), seq);
        // The reservation made at append is what the passage counts as; `effects` only stands in
        // for a pending row journaled without any.
        const counted = this.replica.releasePassage(seq) ?? effects;
        if (counted && passed !== false) this.replica.recordPassage(counted, event.direction, event.ts);
        return event;
      },
    );

    this.pruneTx = db.transaction((upTo: number) => {
      const now = this.now();
      this.stmt.recordAck.run(upTo, now);
      const expired = this.stmt.expiredAck.get(now - this.keepAckedMs)?.upTo ?? 0;
      const deleted = expired > 0 ? this.stmt.prune.run(expired).changes : 0;
      if (expired > 0) this.stmt.forgetAcksBelow.run(expired);
      this.meta.set(META.ackedUpTo, upTo);
      this.acked = upTo;
      return deleted;
    });

    this.rewindTx = db.transaction((upTo: number) => {
      const first = this.stmt.firstKept.get()?.seq ?? null;
      // Every row after `upTo` must still be here to be sent again.
      if (first === null ? upTo < this.last : first > upTo + 1) return false;
      this.stmt.forgetAcksAbove.run(upTo);
      this.meta.set(META.ackedUpTo, upTo);
      this.acked = upTo;
      return true;
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
   * Appends with the next seq, synchronously (docs/architecture.md rule 1: no network on this path). The entry's effects
   * (pass use, exit quota, anti-passback) count in the same transaction: recorded for a final
   * entry, reserved until `finalize` for a pending one.
   */
  append(entry: JournalEntry, options: { final: boolean; effects?: PassageEffects }): EntryEvent {
    const event = this.rollbackSafe(() => this.appendTx(entry, options.final, options.effects));
    this.written(event.seq);
    return event;
  }

  /**
   * Completes a pending entry with the turnstile's outcome: its reserved effects are released and,
   * unless `passed` is false, recorded. `effects` count only for a row that reserved none. Returns
   * undefined if the row is unknown or already final.
   */
  finalize(seq: number, passed: boolean | null, effects?: PassageEffects): EntryEvent | undefined {
    const event = this.finalizeTx(seq, passed, effects);
    if (event) this.written(seq);
    return event;
  }

  /** Starts an fsync of everything written so far if one is due (at start-up: rows of an earlier process). */
  sync(): void {
    const { durability } = this;
    if (!durability || this.syncing || !this.dirty || this.closed) return;
    this.syncing = true;
    this.dirty = false;
    this.writtenDuringSync = Number.POSITIVE_INFINITY;
    const target = this.last;
    durability.wal.sync((error) => {
      this.syncing = false;
      if (this.closed) return;
      if (error) {
        this.dirty = true;
        durability.onError(error);
        this.retryTimer = setTimeout(() => this.sync(), durability.retryMs ?? 1_000);
        this.retryTimer.unref();
        return;
      }
      this.durable = Math.min(target, this.writtenDuringSync - 1);
      this.sync();
      durability.onDurable();
    });
  }

  /** Stops syncing (before the database closes); SQLite syncs what is left when it closes. */
  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.durability?.wal.close();
  }

  private written(seq: number): void {
    if (!this.durability) return;
    // A finalised row reads differently from what was synced: hold it (and what follows) back.
    if (seq <= this.durable) this.durable = seq - 1;
    if (this.syncing) this.writtenDuringSync = Math.min(this.writtenDuringSync, seq);
    this.dirty = true;
    this.sync();
  }

  /**
   * Final events after `afterSeq`, in order, stopping at the first pending one (publishing never
   * skips a seq) and at the first one not yet durable.
   */
  readFinal(afterSeq: number, limit: number): EntryEvent[] {
    const out: EntryEvent[] = [];
    if (afterSeq >= this.durable) return out;
    for (const row of this.stmt.range.all(afterSeq, limit)) {
      if (row.final !== 1 || row.seq > this.durable) break;
      out.push(JSON.parse(row.event) as EntryEvent);
    }
    return out;
  }

  /** The highest seq an ack may cover: pending rows were never sent, so an ack past them is bogus. */
  maxAckable(): number {
    const pending = this.stmt.firstPending.get()?.seq;
    return pending === undefined || pending === null ? this.last : pending - 1;
  }

  /**
   * The cloud stored every event with seq ≤ upTo: they are acknowledged now, and the rows of acks
   * older than `keepAckedMs` are deleted. Returns the number of rows deleted.
   */
  prune(upTo: number): number {
    return this.pruneTx(upTo);
  }

  /**
   * The cloud acknowledges less than before (restored from a backup): the events after `upTo`
   * become unacknowledged again, to be sent again. False, changing nothing, when some of them are
   * no longer kept (the backup is older than `keepAckedMs`).
   */
  rewindAck(upTo: number): boolean {
    return upTo < this.acked && this.rewindTx(upTo);
  }

  /**
   * At start-up: passages interrupted by a crash are finalised as not confirmed, which gives back
   * what they reserved (a use, an exit, a direction). Returns their seqs.
   */
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

/** The journal's statements: rows by seq, ranges to publish, pruning behind the acks. */
function prepareJournalStatements(db: GateDatabase) {
  return {
    insert: db.prepare<[number, string, number]>('INSERT INTO journal (seq, event, final) VALUES (?, ?, ?)'),
    get: db.prepare<[number], { event: string; final: number }>('SELECT event, final FROM journal WHERE seq = ?'),
    update: db.prepare<[string, number]>('UPDATE journal SET event = ?, final = 1 WHERE seq = ?'),
    range: db.prepare<[number, number], { seq: number; event: string; final: number }>(
      'SELECT seq, event, final FROM journal WHERE seq > ? ORDER BY seq LIMIT ?',
    ),
    firstPending: db.prepare<[], { seq: number }>('SELECT MIN(seq) AS seq FROM journal WHERE final = 0'),
    pending: db.prepare<[], { seq: number }>('SELECT seq FROM journal WHERE final = 0 ORDER BY seq'),
    prune: db.prepare<[number]>('DELETE FROM journal WHERE seq <= ?'),
    recordAck: db.prepare<[number, number]>(
      'INSERT INTO journal_acks (up_to, at) VALUES (?, ?) ON CONFLICT (up_to) DO UPDATE SET at = excluded.at',
    ),
    expiredAck: db.prepare<[number], { upTo: number | null }>(
      'SELECT MAX(up_to) AS upTo FROM journal_acks WHERE at <= ?',
    ),
    forgetAcksBelow: db.prepare<[number]>('DELETE FROM journal_acks WHERE up_to < ?'),
    forgetAcksAbove: db.prepare<[number]>('DELETE FROM journal_acks WHERE up_to > ?'),
    firstKept: db.prepare<[], { seq: number | null }>('SELECT MIN(seq) AS seq FROM journal'),
  };
}
