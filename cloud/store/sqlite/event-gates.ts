/**
 * Which gates hold passages of which compound (`event_gates`, store migration 8): what a compound's
 * events list merges now that `events` has no per-compound index (event-tables.ts). Ingest writes a
 * pair the first time it occurs, in the batch's transaction; the pairs already in the table are
 * remembered, so a batch of known pairs costs one map look-up per passage and no statement.
 * A pair is remembered only once its transaction committed: a rolled-back batch leaves nothing
 * believed written that is not. Another connection's stale memory only costs an ignored insert.
 */
import type { Database, Statement } from 'better-sqlite3';

export class EventGates {
  private readonly insert: Statement<[string, string]>;
  private readonly gatesOfCompound: Statement<[string], string>;
  /** Committed pairs: gate → its compounds (one, unless a gate's passages name several). */
  private readonly known = new Map<string, string[]>();
  /** Pairs the transaction running now wrote. */
  private readonly pending: [string, string][] = [];

  constructor(db: Database) {
    this.insert = db.prepare('INSERT OR IGNORE INTO event_gates (compound_id, gate_id) VALUES (?, ?)');
    this.gatesOfCompound = db
      .prepare<[string], string>('SELECT gate_id FROM event_gates WHERE compound_id = ? ORDER BY gate_id')
      .pluck();
    const rows = db.prepare('SELECT compound_id, gate_id FROM event_gates').all() as {
      compound_id: string;
      gate_id: string;
    }[];
    for (const r of rows) this.remember(r.gate_id, r.compound_id);
  }

  /** Starts a transaction's work: what an earlier one wrote and did not commit is forgotten. */
  begin(): void {
    this.pending.length = 0;
  }

  /** Notes that a passage of `gateId` in `compoundId` was stored; inside the ingest transaction. */
  stored(gateId: string, compoundId: string): void {
    const compounds = this.known.get(gateId);
    if (compounds !== undefined && (compounds[0] === compoundId || compounds.includes(compoundId))) return;
    for (const [g, c] of this.pending) if (g === gateId && c === compoundId) return;
    this.insert.run(compoundId, gateId);
    this.pending.push([gateId, compoundId]);
  }

  /** The transaction committed: its pairs are in the table. */
  committed(): void {
    for (const [gateId, compoundId] of this.pending) this.remember(gateId, compoundId);
    this.pending.length = 0;
  }

  /** Every gate with passages of the compound (read from the table: exact whatever this memory holds). */
  gatesOf(compoundId: string): string[] {
    return this.gatesOfCompound.all(compoundId);
  }

  private remember(gateId: string, compoundId: string): void {
    const compounds = this.known.get(gateId);
    if (!compounds) this.known.set(gateId, [compoundId]);
    else if (!compounds.includes(compoundId)) compounds.push(compoundId);
  }
}
