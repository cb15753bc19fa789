/**
 * The supply store on PostgreSQL (supply-store.ts), for several cloud instances on one database:
 *
 * - once per household per round is the unique index `supply_claims_one_accepted`, written with
 *   `ON CONFLICT … DO NOTHING`: the loser of a race is stored as a `double` (a point's record) or
 *   refused (a claim made in the cloud), whichever instance handles it;
 * - an ask or a cloud claim takes a transaction-level advisory lock on its household, reads the
 *   facts, lets the supply service decide and writes — two instances answering two points' asks for one
 *   household grant one;
 * - a point's records are stored under a lock on the gate (and its households', all in one sorted
 *   call, so no two transactions wait on each other in a cycle), and the gate's ack mark is read
 *   from and written to `supply_claim_marks` in that transaction;
 * - the changes for the points are appended to the compound's log in the same transaction
 *   (cloud/store/postgres/pg-registry.ts `appendChanges`).
 */
import type pg from 'pg';
import type { Change } from '../../shared/schemas/mqtt.ts';
import type { ClaimRecord, ClaimStanding } from '../../shared/schemas/supply.ts';
import { migratedOnFirstUse } from '../store/postgres/pg-migrated.ts';
import { lockKeys, one, type Queryable, run, transaction } from '../store/postgres/pg-pool.ts';
import { appendChanges } from '../store/postgres/pg-registry.ts';
import type { ChangeBatch } from '../store/store.ts';
import { PG_SUPPLY_MIGRATIONS, S } from './pg-supply-statements.ts';
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
import {
  claimChange,
  claimOfRow,
  claimValues,
  cloudClaimRow,
  firstClaimOfRow,
  roundChange,
  roundOfRow,
  roundValues,
  rowOfRecord,
  walkMark,
} from './supply-rows.ts';

const householdKey = (roundId: string, householdId: string) => `supply:${roundId}:${householdId}`;
const gateKey = (gateId: string) => `supply-gate:${gateId}`;

async function roundIn(db: Queryable, roundId: string): Promise<RoundRow | undefined> {
  const row = await one(db, S.round, [roundId]);
  return row ? roundOfRow(row) : undefined;
}

async function acceptedIn(db: Queryable, roundId: string, householdId: string): Promise<FirstClaim | undefined> {
  const row = await one(db, S.accepted, [roundId, householdId]);
  return row ? firstClaimOfRow(row) : undefined;
}

/** The household's facts, read after its lock was taken. */
async function factsIn(db: Queryable, roundId: string, householdId: string): Promise<HouseholdFacts> {
  await run(db, lockKeys, [[householdKey(roundId, householdId)]]);
  const hold = await one(db, S.hold, [roundId, householdId]);
  const round = await roundIn(db, roundId);
  return {
    round,
    householdKnown:
      round !== undefined && (await one(db, S.householdKnown, [round.compoundId, householdId])) !== undefined,
    applied: (await one(db, S.applied, [roundId, householdId])) !== undefined,
    accepted: await acceptedIn(db, roundId, householdId),
    hold: hold ? { gateId: hold.gate_id, askId: hold.ask_id, at: Number(hold.at) } : undefined,
  };
}

export class PgSupplyStore implements SupplyStore {
  private readonly ready: () => Promise<pg.Pool>;

  constructor(pool: pg.Pool) {
    this.ready = migratedOnFirstUse(pool, 'supply_migrations', PG_SUPPLY_MIGRATIONS);
  }

  async awakeFacts(compoundId: string): Promise<{ mode: string; openRounds: number }> {
    const pool = await this.ready();
    const mode = (await one(pool, S.mode, [compoundId]))?.mode ?? 'normal';
    return { mode, openRounds: Number((await one(pool, S.openCount, [compoundId]))?.n ?? 0) };
  }

  async round(roundId: string): Promise<RoundRow | undefined> {
    return roundIn(await this.ready(), roundId);
  }

  async rounds(compoundId: string | undefined, limit: number): Promise<RoundRow[]> {
    const pool = await this.ready();
    const { rows } =
      compoundId === undefined
        ? await run(pool, S.allRounds, [limit])
        : await run(pool, S.roundsOf, [compoundId, limit]);
    return rows.map(roundOfRow);
  }

  async progress(round: RoundRow) {
    const pool = await this.ready();
    const { rows } = await run(pool, S.standings, [round.roundId]);
    const standings = Object.fromEntries(rows.map((s) => [s.standing, Number(s.n)])) as Partial<
      Record<ClaimStanding, number>
    >;
    const households =
      round.eligibility === 'applicants'
        ? await one(pool, S.applicants, [round.roundId])
        : await one(pool, S.households, [round.compoundId]);
    return { standings, households: Number(households?.n ?? 0) };
  }

  async householdKnown(compoundId: string, householdId: string): Promise<boolean> {
    return (await one(await this.ready(), S.householdKnown, [compoundId, householdId])) !== undefined;
  }

  async hasApplied(roundId: string, householdId: string): Promise<boolean> {
    return (await one(await this.ready(), S.applied, [roundId, householdId])) !== undefined;
  }

  async householdOf(compoundId: string, personId: string): Promise<string | undefined> {
    return (await one(await this.ready(), S.personHousehold, [compoundId, personId]))?.household_id ?? undefined;
  }

  async acceptedClaim(roundId: string, householdId: string): Promise<FirstClaim | undefined> {
    return acceptedIn(await this.ready(), roundId, householdId);
  }

  async claims(roundId: string, limit: number): Promise<ClaimListRow[]> {
    return (await run(await this.ready(), S.claimsOf, [roundId, limit])).rows.map(claimOfRow);
  }

  async gateName(gateId: string): Promise<string | undefined> {
    return (await one(await this.ready(), S.gateName, [gateId]))?.name;
  }

  async forSnapshot(compoundId: string, since: number): Promise<SnapshotRows> {
    return transaction(
      await this.ready(),
      async (client) => ({
        rounds: (await run(client, S.roundsForSnapshot, [compoundId, since])).rows.map(roundOfRow),
        applicants: (await run(client, S.applicantsOfCompound, [compoundId, since])).rows.map((r) => ({
          roundId: String(r.round_id),
          householdId: String(r.household_id),
        })),
        accepted: (await run(client, S.acceptedOfCompound, [compoundId, since])).rows.map((r) => ({
          roundId: String(r.round_id),
          householdId: String(r.household_id),
          claimId: String(r.claim_id),
          ts: Number(r.ts),
        })),
      }),
      'repeatable read read only',
    );
  }

  async createRound(round: RoundRow): Promise<ChangeBatch> {
    return transaction(await this.ready(), async (client) => {
      await run(client, S.insertRound, roundValues(round));
      return appendChanges(client, round.compoundId, [roundChange(round)]);
    });
  }

  async setStock(roundId: string, stock: Record<string, number>, at: number): Promise<void> {
    await run(await this.ready(), S.setStock, [JSON.stringify(stock), at, roundId]);
  }

  async closeRound(roundId: string, by: string, at: number): Promise<ChangeBatch | undefined> {
    return transaction(await this.ready(), async (client) => {
      const closed = await one(client, S.close, [by, at, roundId]);
      if (!closed) return undefined;
      const round = roundOfRow(closed);
      return appendChanges(client, round.compoundId, [roundChange(round)]);
    });
  }

  async apply(round: RoundRow, householdId: string, by: string, at: number): Promise<ChangeBatch | undefined> {
    return transaction(await this.ready(), async (client) => {
      if ((await run(client, S.apply, [round.roundId, householdId, at, by])).rowCount === 0) return undefined;
      return appendChanges(client, round.compoundId, [{ op: 'supply.apply', roundId: round.roundId, householdId }]);
    });
  }

  async ask(ask: AskInput, decide: Decide): Promise<Refusal | undefined> {
    return transaction(await this.ready(), async (client) => {
      const refusal = decide(await factsIn(client, ask.roundId, ask.householdId));
      if (!refusal) await run(client, S.putHold, [ask.roundId, ask.householdId, ask.gateId, ask.askId, ask.at]);
      return refusal;
    });
  }

  async recordCloudClaim(
    claim: CloudClaimInput,
    decide: Decide,
  ): Promise<{ refused: Refusal } | { claimId: string; batch: ChangeBatch }> {
    return transaction(await this.ready(), async (client) => {
      const facts = await factsIn(client, claim.roundId, claim.householdId);
      const refused = decide(facts);
      if (refused || !facts.round) return { refused: refused ?? { refusal: 'round-closed' as const } };
      const row = cloudClaimRow(claim, facts.round.compoundId, Number((await one(client, S.nextId, []))?.n));
      if ((await run(client, S.insertClaimIfFirst, claimValues(row))).rowCount === 0) {
        return { refused: { refusal: 'already-claimed' as const } };
      }
      const change = claimChange({ ...row, householdId: claim.householdId });
      return { claimId: row.claimId, batch: await appendChanges(client, facts.round.compoundId, [change]) };
    });
  }

  async storeRecords(
    gateId: string,
    compoundId: string,
    records: readonly ClaimRecord[],
    at: number,
  ): Promise<StoredRecords> {
    const own = records.filter((r) => r.gateId === gateId);
    const keys = [
      gateKey(gateId),
      ...own.flatMap((r) => (r.householdId ? [householdKey(r.roundId, r.householdId)] : [])),
    ];
    return transaction(await this.ready(), async (client) => {
      await run(client, lockKeys, [[...new Set(keys)]]);
      const out: StoredRecords = { upTo: 0, stored: 0, duplicates: 0, foreign: [], doubles: [], batch: undefined };
      const relayed: Change[] = [];
      for (const record of own) {
        if ((await one(client, S.claimExists, [`${gateId}:${record.seq}`])) !== undefined) {
          out.duplicates += 1;
          continue;
        }
        await storeRecord(client, record, compoundId, at, out, relayed);
        out.stored += 1;
      }
      const mark = Number((await one(client, S.mark, [gateId]))?.up_to ?? 0);
      const seqs = (await run(client, S.storedSeqsAfter, [gateId, mark])).rows.map((r) => Number(r.seq));
      out.upTo = walkMark(mark, seqs);
      await run(client, S.setMark, [gateId, out.upTo]);
      if (relayed.length > 0) out.batch = await appendChanges(client, compoundId, relayed);
      return out;
    });
  }
}

/** One new record: stored as accepted, double or refused; the household's holds released. */
async function storeRecord(
  client: Queryable,
  record: ClaimRecord,
  compoundId: string,
  at: number,
  out: StoredRecords,
  relayed: Change[],
): Promise<void> {
  const { row, foreign } = rowOfRecord(record, compoundId, await roundIn(client, record.roundId), at);
  if (foreign) {
    out.foreign.push(record);
    await run(client, S.insertClaim, claimValues(row));
    return;
  }
  const householdId = row.householdId;
  if (row.standing === 'accepted' && householdId !== null) {
    if ((await run(client, S.insertClaimIfFirst, claimValues(row))).rowCount === 1) {
      relayed.push(claimChange({ ...row, householdId }));
    } else {
      const first = (await acceptedIn(client, row.roundId, householdId)) as FirstClaim;
      await run(client, S.insertClaim, claimValues({ ...row, standing: 'double' }));
      out.doubles.push({ record, first });
    }
    await run(client, S.dropHoldsOf, [row.roundId, householdId]);
    return;
  }
  if (row.askId !== null && householdId !== null) await run(client, S.dropHold, [row.roundId, householdId, row.askId]);
  await run(client, S.insertClaim, claimValues(row));
}
