/**
 * A distribution point's claim journal (docs/supplies.md, "Once per household"): every claim the
 * point decided — handed out or refused — is written here with the next `seq` (its own sequence,
 * persisted, never reused) before it is sent, and leaves only when the cloud's cumulative
 * `claims/ack {upTo}` covers it: the same store-and-forward as the passage journal
 * (docs/architecture.md rule 2), in the same SQLite file.
 *
 * A handed-out claim is also recorded in the point's supply replica in the same transaction, so the
 * next swipe of the household — at this point, online or not — is refused.
 *
 * Durability: with a WAL sync (`journal.synchronous: "full"`), rows are handed to the uplink only
 * once an fsync after their commit returned, so the cloud never holds a claim a power cut could
 * take back from the point (and its seq with it).
 */
import type { ClaimRecord } from '../../shared/schemas/supply.ts';
import type { WalSync } from '../../shared/wal-sync.ts';
import { type GateDatabase, MetaTable } from '../gate-database.ts';
import type { SupplyReplica } from './supply-replica.ts';

const META = { lastSeq: 'claims.lastSeq', ackedUpTo: 'claims.ackedUpTo' } as const;
const SCHEMA = 'CREATE TABLE IF NOT EXISTS claim_journal (seq INTEGER PRIMARY KEY, record TEXT NOT NULL)';

export type ClaimEntry = Omit<ClaimRecord, 'seq'>;

export class ClaimJournalStore {
  private readonly meta: MetaTable;
  private last: number;
  private acked: number;
  /** Every row with seq ≤ this is on stable storage. */
  private durable: number;
  private syncing = false;
  private dirty = false;
  private readonly stmt;
  private readonly appendTx: (entry: ClaimEntry) => ClaimRecord;
  private readonly pruneTx: (upTo: number) => void;
  /** Rows became durable: the uplink may send them. */
  onDurable: () => void = () => {};

  constructor(
    db: GateDatabase,
    private readonly supply: SupplyReplica,
    private readonly wal?: Pick<WalSync, 'sync'>,
  ) {
    db.exec(SCHEMA);
    this.meta = new MetaTable(db);
    this.last = this.meta.getNumber(META.lastSeq) ?? 0;
    this.acked = this.meta.getNumber(META.ackedUpTo) ?? 0;
    this.durable = wal ? this.acked : Number.POSITIVE_INFINITY;
    this.stmt = {
      insert: db.prepare<[number, string]>('INSERT INTO claim_journal (seq, record) VALUES (?, ?)'),
      range: db.prepare<[number, number, number], { record: string }>(
        'SELECT record FROM claim_journal WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?',
      ),
      prune: db.prepare<[number]>('DELETE FROM claim_journal WHERE seq <= ?'),
    };
    this.appendTx = db.transaction((entry: ClaimEntry) => {
      const seq = this.last + 1;
      const record = { ...entry, seq } as ClaimRecord;
      this.stmt.insert.run(seq, JSON.stringify(record));
      this.meta.set(META.lastSeq, seq);
      if (record.outcome === 'handed-out' && record.householdId) {
        this.supply.recordOwn(record.roundId, record.householdId, `${record.gateId}:${seq}`, record.ts);
      }
      return record;
    });
    this.pruneTx = db.transaction((upTo: number) => {
      this.stmt.prune.run(upTo);
      this.meta.set(META.ackedUpTo, upTo);
    });
    if (wal && this.last > this.acked) {
      this.dirty = true;
      this.sync();
    }
  }

  /** Appends with the next seq (synchronous: the swipe's decision is recorded before anything is sent). */
  append(entry: ClaimEntry): ClaimRecord {
    let record: ClaimRecord;
    try {
      record = this.appendTx(entry);
    } catch (error) {
      this.last = this.meta.getNumber(META.lastSeq) ?? 0;
      throw error;
    }
    this.last = record.seq;
    this.dirty = true;
    this.sync();
    return record;
  }

  lastSeq(): number {
    return this.last;
  }

  ackedUpTo(): number {
    return this.acked;
  }

  depth(): number {
    return this.last - this.acked;
  }

  /** Durable, unacknowledged records after `afterSeq`, in order. */
  read(afterSeq: number, limit: number): ClaimRecord[] {
    const upTo = Math.min(this.last, this.durable);
    if (afterSeq >= upTo) return [];
    return this.stmt.range.all(afterSeq, upTo, limit).map((r) => JSON.parse(r.record) as ClaimRecord);
  }

  /** The cloud stored every claim with seq ≤ upTo. False (ignored) for an old ack or one past what exists. */
  prune(upTo: number): boolean {
    if (upTo <= this.acked || upTo > this.last) return false;
    this.pruneTx(upTo);
    this.acked = upTo;
    return true;
  }

  private sync(): void {
    const { wal } = this;
    if (!wal || this.syncing || !this.dirty) return;
    this.syncing = true;
    this.dirty = false;
    const target = this.last;
    wal.sync((error) => {
      this.syncing = false;
      if (error) {
        this.dirty = true;
        setTimeout(() => this.sync(), 1_000).unref();
        return;
      }
      this.durable = Math.max(this.durable, target);
      this.sync();
      this.onDurable();
    });
  }
}
