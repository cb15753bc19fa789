/**
 * What a distribution point knows about the compound's supplies (docs/supplies.md), in the gate's
 * SQLite file beside the replica: the rounds, every accepted claim the cloud relayed
 * (`supply.claim`), this point's own hand-outs, and the applicants. A point decides from it alone
 * when it is cut off, so a household that claimed anywhere before the cut is refused here too.
 *
 * Fed by the replica (replica-store.ts) inside the transaction that applies a delta or swaps a
 * snapshot; a snapshot replaces the rounds, applicants and relayed claims, and keeps this point's
 * own hand-outs (the cloud may not have them yet).
 */
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { RoundRecord } from '../../shared/schemas/supply.ts';
import type { GateDatabase } from '../gate-database.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS supply_rounds (round_id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS supply_claims (
  round_id TEXT NOT NULL, household_id TEXT NOT NULL, claim_id TEXT NOT NULL, at INTEGER NOT NULL,
  own INTEGER NOT NULL, PRIMARY KEY (round_id, household_id, claim_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS supply_applicants (
  round_id TEXT NOT NULL, household_id TEXT NOT NULL, PRIMARY KEY (round_id, household_id)) WITHOUT ROWID;
`;

export type SupplyChange = Extract<Change, { op: 'supply.round' | 'supply.claim' | 'supply.apply' }>;

export function isSupplyChange(change: Change): change is SupplyChange {
  return change.op === 'supply.round' || change.op === 'supply.claim' || change.op === 'supply.apply';
}

export class SupplyReplica {
  private readonly stmt;
  /** The rounds, parsed once per change (a handful): the swipe path reads them from memory. */
  private rounds: RoundRecord[] = [];

  constructor(db: GateDatabase) {
    db.exec(SCHEMA);
    this.stmt = {
      upsertRound: db.prepare<[string, string]>(
        'INSERT INTO supply_rounds (round_id, record) VALUES (?, ?) ON CONFLICT (round_id) DO UPDATE SET record = excluded.record',
      ),
      rounds: db.prepare<[], { record: string }>('SELECT record FROM supply_rounds'),
      addClaim: db.prepare<[string, string, string, number, number]>(
        'INSERT OR IGNORE INTO supply_claims (round_id, household_id, claim_id, at, own) VALUES (?, ?, ?, ?, ?)',
      ),
      claimOf: db.prepare<[string, string], { claim_id: string; at: number }>(
        'SELECT claim_id, at FROM supply_claims WHERE round_id = ? AND household_id = ? ORDER BY at LIMIT 1',
      ),
      apply: db.prepare<[string, string]>(
        'INSERT OR IGNORE INTO supply_applicants (round_id, household_id) VALUES (?, ?)',
      ),
      applied: db.prepare<[string, string], { one: number }>(
        'SELECT 1 AS one FROM supply_applicants WHERE round_id = ? AND household_id = ?',
      ),
      // A guard's lookup, not the swipe path: a scan of the replica is fine (≈ 50 ms at 100 k persons).
      members: db.prepare<[string], { person_id: string; masked: string }>(
        "SELECT person_id, json_extract(record, '$.maskedName') AS masked FROM persons WHERE json_extract(record, '$.householdId') = ? AND json_extract(record, '$.active') = 1 LIMIT 20",
      ),
      clear: [
        'DELETE FROM supply_rounds',
        'DELETE FROM supply_applicants',
        'DELETE FROM supply_claims WHERE own = 0',
      ].map((sql) => db.prepare(sql)),
    };
    this.reload();
  }

  /** One relayed change (inside the replica's transaction). */
  apply(change: SupplyChange): void {
    switch (change.op) {
      case 'supply.round':
        this.stmt.upsertRound.run(change.round.roundId, JSON.stringify(change.round));
        this.reload();
        return;
      case 'supply.claim':
        this.stmt.addClaim.run(change.roundId, change.householdId, change.claimId, change.ts, 0);
        return;
      case 'supply.apply':
        this.stmt.apply.run(change.roundId, change.householdId);
        return;
    }
  }

  /** A snapshot replaces what the cloud sent; this point's own hand-outs stay. */
  clearForSnapshot(): void {
    for (const clear of this.stmt.clear) clear.run();
    this.rounds = [];
  }

  /** This point handed out (inside the claim journal's transaction). */
  recordOwn(roundId: string, householdId: string, claimId: string, at: number): void {
    this.stmt.addClaim.run(roundId, householdId, claimId, at, 1);
  }

  /** The round a point hands out for now: open, its window holding `now`; the newest if several. */
  currentRound(now: number): RoundRecord | undefined {
    let best: RoundRecord | undefined;
    for (const round of this.rounds) {
      if (round.status !== 'open' || round.form !== 'pickup') continue;
      if (now < round.window.from || now > round.window.to) continue;
      if (!best || round.window.from > best.window.from) best = round;
    }
    return best;
  }

  /** Any pickup round open now or later (to tell "outside the window" from "nothing running"). */
  nextRound(now: number): RoundRecord | undefined {
    return this.rounds
      .filter((r) => r.status === 'open' && r.form === 'pickup' && r.window.to >= now)
      .sort((a, b) => a.window.from - b.window.from)[0];
  }

  round(roundId: string): RoundRecord | undefined {
    return this.rounds.find((r) => r.roundId === roundId);
  }

  claimOf(roundId: string, householdId: string): { claimId: string; at: number } | undefined {
    const row = this.stmt.claimOf.get(roundId, householdId);
    return row ? { claimId: row.claim_id, at: row.at } : undefined;
  }

  /** The active members of a household, masked (the guard's list for a claim without a card). */
  members(householdId: string): { personId: string; maskedName: string }[] {
    return this.stmt.members.all(householdId).map((r) => ({ personId: r.person_id, maskedName: r.masked }));
  }

  hasApplied(roundId: string, householdId: string): boolean {
    return this.stmt.applied.get(roundId, householdId) !== undefined;
  }

  /** Re-reads the rounds (after a change or a snapshot swap). */
  reload(): void {
    this.rounds = this.stmt.rounds.all().map((r) => JSON.parse(r.record) as RoundRecord);
  }
}
