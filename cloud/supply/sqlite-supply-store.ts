/**
 * The supply store on SQLite (supply-store.ts): the `supply_*` tables of supply-migrations.ts on the
 * cloud's connection, versioned in `supply_migrations`. Every decision is one synchronous
 * transaction — the connection's single writer serialises them — and the unique index on accepted
 * claims is the rule, as on PostgreSQL.
 */
import type { Database } from 'better-sqlite3';
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { ClaimRecord, ClaimStanding } from '../../shared/schemas/supply.ts';
import { runMigrations } from '../store/migration-runner.ts';
import { SqliteChangeLog } from '../store/sqlite/change-log.ts';
import type { ChangeBatch } from '../store/store.ts';
import type {
  AskInput,
  ClaimListRow,
  CloudClaimInput,
  Decide,
  FirstClaim,
  HouseholdFacts,
  Refusal,
  RoundRow,
  SnapshotRows,
  StoredRecords,
  SupplyStore,
} from './supply-store.ts';
import { SUPPLY_MIGRATIONS } from './supply-migrations.ts';
import {
  claimChange,
  cloudClaimRow,
  claimOfRow,
  claimValues,
  firstClaimOfRow,
  roundChange,
  roundOfRow,
  roundValues,
  rowOfRecord,
  walkMark,
} from './supply-rows.ts';
import { prepareStatements } from './supply-statements.ts';

type Raw = Record<string, unknown>;

export class SqliteSupplyStore implements SupplyStore {
  private readonly s: ReturnType<typeof prepareStatements>;
  private readonly changeLog: SqliteChangeLog;

  constructor(private readonly db: Database) {
    runMigrations(db, 'supply_migrations', SUPPLY_MIGRATIONS);
    this.s = prepareStatements(db);
    this.changeLog = new SqliteChangeLog(db);
  }

  private tx<T>(body: () => T): T {
    return this.db.transaction(body)();
  }

  private roundSync(roundId: string): RoundRow | undefined {
    const r = this.s.round.get(roundId) as Raw | undefined;
    return r ? roundOfRow(r) : undefined;
  }

  private acceptedSync(roundId: string, householdId: string): FirstClaim | undefined {
    const r = this.s.accepted.get(roundId, householdId) as Raw | undefined;
    return r ? firstClaimOfRow(r) : undefined;
  }

  private factsOf(roundId: string, householdId: string): HouseholdFacts {
    const hold = this.s.hold.get(roundId, householdId) as Raw | undefined;
    const round = this.roundSync(roundId);
    return {
      round,
      householdKnown: round !== undefined && this.s.householdKnown.get(round.compoundId, householdId) !== undefined,
      applied: this.s.applied.get(roundId, householdId) !== undefined,
      accepted: this.acceptedSync(roundId, householdId),
      hold: hold ? { gateId: String(hold.gate_id), askId: String(hold.ask_id), at: Number(hold.at) } : undefined,
    };
  }

  async awakeFacts(compoundId: string): Promise<{ mode: string; openRounds: number }> {
    const mode = (this.s.mode.get(compoundId) as Raw | undefined)?.mode;
    return { mode: String(mode ?? 'normal'), openRounds: Number((this.s.openCount.get(compoundId) as Raw).n) };
  }

  async round(roundId: string): Promise<RoundRow | undefined> {
    return this.roundSync(roundId);
  }

  async rounds(compoundId: string | undefined, limit: number): Promise<RoundRow[]> {
    const rows = compoundId === undefined ? this.s.allRounds.all(limit) : this.s.roundsOf.all(compoundId, limit);
    return (rows as Raw[]).map(roundOfRow);
  }

  async progress(round: RoundRow) {
    const standings = Object.fromEntries(
      (this.s.standings.all(round.roundId) as Raw[]).map((s) => [String(s.standing), Number(s.n)]),
    ) as Partial<Record<ClaimStanding, number>>;
    const households =
      round.eligibility === 'applicants'
        ? (this.s.applicants.get(round.roundId) as Raw).n
        : (this.s.households.get(round.compoundId) as Raw).n;
    return { standings, households: Number(households) };
  }

  async householdKnown(compoundId: string, householdId: string): Promise<boolean> {
    return this.s.householdKnown.get(compoundId, householdId) !== undefined;
  }

  async hasApplied(roundId: string, householdId: string): Promise<boolean> {
    return this.s.applied.get(roundId, householdId) !== undefined;
  }

  async householdOf(compoundId: string, personId: string): Promise<string | undefined> {
    const row = this.s.personHousehold.get(compoundId, personId) as Raw | undefined;
    return row?.household_id ? String(row.household_id) : undefined;
  }

  async acceptedClaim(roundId: string, householdId: string): Promise<FirstClaim | undefined> {
    return this.acceptedSync(roundId, householdId);
  }

  async claims(roundId: string, limit: number): Promise<ClaimListRow[]> {
    return (this.s.claimsOf.all(roundId, limit) as Raw[]).map(claimOfRow);
  }

  async gateName(gateId: string): Promise<string | undefined> {
    const name = (this.s.gateName.get(gateId) as Raw | undefined)?.name;
    return name === undefined || name === null ? undefined : String(name);
  }

  async forSnapshot(compoundId: string, since: number): Promise<SnapshotRows> {
    return this.tx(() => ({
      rounds: (this.s.roundsForSnapshot.all(compoundId, since) as Raw[]).map(roundOfRow),
      applicants: (this.s.applicantsOfCompound.all(compoundId, since) as Raw[]).map((r) => ({
        roundId: String(r.round_id),
        householdId: String(r.household_id),
      })),
      accepted: (this.s.acceptedOfCompound.all(compoundId, since) as Raw[]).map((r) => ({
        roundId: String(r.round_id),
        householdId: String(r.household_id),
        claimId: String(r.claim_id),
        ts: Number(r.ts),
      })),
    }));
  }

  async createRound(round: RoundRow): Promise<ChangeBatch> {
    return this.tx(() => {
      this.s.insertRound.run(...roundValues(round));
      return this.changeLog.append(round.compoundId, [roundChange(round)]);
    });
  }

  async setStock(roundId: string, stock: Record<string, number>, at: number): Promise<void> {
    this.s.setStock.run(JSON.stringify(stock), at, roundId);
  }

  async closeRound(roundId: string, by: string, at: number): Promise<ChangeBatch | undefined> {
    return this.tx(() => {
      if (this.s.close.run(by, at, roundId).changes === 0) return undefined;
      const round = this.roundSync(roundId);
      return round ? this.changeLog.append(round.compoundId, [roundChange(round)]) : undefined;
    });
  }

  async apply(round: RoundRow, householdId: string, by: string, at: number): Promise<ChangeBatch | undefined> {
    return this.tx(() => {
      if (this.s.apply.run(round.roundId, householdId, at, by).changes === 0) return undefined;
      return this.changeLog.append(round.compoundId, [{ op: 'supply.apply', roundId: round.roundId, householdId }]);
    });
  }

  async ask(ask: AskInput, decide: Decide): Promise<Refusal | undefined> {
    return this.tx(() => {
      const refusal = decide(this.factsOf(ask.roundId, ask.householdId));
      if (!refusal) this.s.putHold.run(ask.roundId, ask.householdId, ask.gateId, ask.askId, ask.at);
      return refusal;
    });
  }

  async recordCloudClaim(
    claim: CloudClaimInput,
    decide: Decide,
  ): Promise<{ refused: Refusal } | { claimId: string; batch: ChangeBatch }> {
    return this.tx(() => {
      const refused = decide(this.factsOf(claim.roundId, claim.householdId));
      if (refused) return { refused };
      const round = this.roundSync(claim.roundId) as RoundRow;
      const row = cloudClaimRow(claim, round.compoundId, Number((this.s.nextId.get() as Raw).n));
      if (this.s.insertClaimIfFirst.run(...claimValues(row)).changes === 0) {
        return { refused: { refusal: 'already-claimed' as const } };
      }
      const change = claimChange({ ...row, householdId: claim.householdId });
      return { claimId: row.claimId, batch: this.changeLog.append(round.compoundId, [change]) };
    });
  }

  async storeRecords(
    gateId: string,
    compoundId: string,
    records: readonly ClaimRecord[],
    at: number,
  ): Promise<StoredRecords> {
    return this.tx(() => {
      const out: StoredRecords = { upTo: 0, stored: 0, duplicates: 0, foreign: [], doubles: [], batch: undefined };
      const relayed: Change[] = [];
      for (const record of records) {
        if (record.gateId !== gateId) continue;
        if (this.s.claimExists.get(`${gateId}:${record.seq}`) !== undefined) {
          out.duplicates += 1;
          continue;
        }
        this.storeRecord(record, compoundId, at, out, relayed);
        out.stored += 1;
      }
      const mark = Number((this.s.mark.get(gateId) as Raw | undefined)?.up_to ?? 0);
      const seqs = (this.s.storedSeqsAfter.all(gateId, mark) as Raw[]).map((r) => Number(r.seq));
      out.upTo = walkMark(mark, seqs);
      this.s.setMark.run(gateId, out.upTo);
      if (relayed.length > 0) out.batch = this.changeLog.append(compoundId, relayed);
      return out;
    });
  }

  /** One new record: stored as accepted, double or refused; the household's holds released. */
  private storeRecord(record: ClaimRecord, compoundId: string, at: number, out: StoredRecords, relayed: Change[]) {
    const { row, foreign } = rowOfRecord(record, compoundId, this.roundSync(record.roundId), at);
    if (foreign) {
      out.foreign.push(record);
      this.s.insertClaim.run(...claimValues(row));
      return;
    }
    const householdId = row.householdId;
    if (row.standing === 'accepted' && householdId !== null) {
      if (this.s.insertClaimIfFirst.run(...claimValues(row)).changes === 1) {
        relayed.push(claimChange({ ...row, householdId }));
      } else {
        const first = this.acceptedSync(row.roundId, householdId) as FirstClaim;
        this.s.insertClaim.run(...claimValues({ ...row, standing: 'double' }));
        out.doubles.push({ record, first });
      }
      this.s.dropHoldsOf.run(row.roundId, householdId);
      return;
    }
    if (row.askId !== null && householdId !== null) this.s.dropHold.run(row.roundId, householdId, row.askId);
    this.s.insertClaim.run(...claimValues(row));
  }
}
