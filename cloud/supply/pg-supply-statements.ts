/**
 * The supply tables on PostgreSQL (pg-supply-store.ts), versioned in `supply_migrations` like
 * SQLite's (supply-migrations.ts, whose version 2 is part of version 1 here), and their typed,
 * prepared statements. Identifiers `COLLATE "C"`, times `bigint`, JSON as `text`, as the store's
 * (cloud/store/postgres/pg-migrations.ts). Cloud claim numbers come from a sequence.
 */
import type { Migration } from '../store/migration-runner.ts';
import { statement } from '../store/postgres/pg-pool.ts';

const ID = 'text COLLATE "C"';

export const PG_SUPPLY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'supply rounds, claims (one accepted per household and round), holds, applicants, claim acks',
    sql: `
CREATE TABLE supply_rounds (
  round_id ${ID} PRIMARY KEY,
  compound_id ${ID} NOT NULL,
  name text NOT NULL,
  items text NOT NULL,
  stock text NOT NULL,
  form text NOT NULL,
  window_from bigint NOT NULL,
  window_to bigint NOT NULL,
  eligibility text NOT NULL,
  status text NOT NULL CHECK (status IN ('open', 'closed')),
  providers text NOT NULL,
  woken boolean NOT NULL,
  created_by text NOT NULL,
  created_at bigint NOT NULL,
  closed_by text,
  closed_at bigint,
  stock_updated_at bigint
);
CREATE INDEX supply_rounds_by_compound ON supply_rounds(compound_id, created_at);

CREATE TABLE supply_claims (
  claim_id ${ID} PRIMARY KEY,
  round_id ${ID} NOT NULL,
  compound_id ${ID} NOT NULL,
  household_id ${ID},
  person_id ${ID},
  gate_id ${ID},
  seq bigint,
  ts bigint NOT NULL,
  method text NOT NULL,
  outcome text NOT NULL,
  refusal text,
  decided_by text NOT NULL,
  ask_id text,
  guard text,
  reason text,
  standing text NOT NULL CHECK (standing IN ('accepted', 'refused', 'double')),
  stored_at bigint NOT NULL
);
CREATE UNIQUE INDEX supply_claims_one_accepted ON supply_claims(round_id, household_id) WHERE standing = 'accepted';
CREATE INDEX supply_claims_by_round ON supply_claims(round_id, ts);
CREATE INDEX supply_claims_by_gate ON supply_claims(gate_id, seq) WHERE gate_id IS NOT NULL;
CREATE INDEX supply_claims_accepted_by_compound ON supply_claims(compound_id) WHERE standing = 'accepted';

CREATE TABLE supply_holds (
  round_id ${ID} NOT NULL,
  household_id ${ID} NOT NULL,
  gate_id ${ID} NOT NULL,
  ask_id text NOT NULL,
  at bigint NOT NULL,
  PRIMARY KEY (round_id, household_id)
);

CREATE TABLE supply_applicants (
  round_id ${ID} NOT NULL,
  household_id ${ID} NOT NULL,
  applied_at bigint NOT NULL,
  applied_by text NOT NULL,
  PRIMARY KEY (round_id, household_id)
);

CREATE TABLE supply_claim_marks (gate_id ${ID} PRIMARY KEY, up_to bigint NOT NULL);
CREATE SEQUENCE supply_cloud_claims;
`,
  },
];

type Raw = Record<string, unknown>;
type ClaimParams = readonly [
  string,
  string,
  string,
  string | null,
  string | null,
  string | null,
  number | null,
  number,
  string,
  string,
  string | null,
  string,
  string | null,
  string | null,
  string | null,
  string,
  number,
];

const CLAIM_COLUMNS = `claim_id, round_id, compound_id, household_id, person_id, gate_id, seq, ts, method,
  outcome, refusal, decided_by, ask_id, guard, reason, standing, stored_at`;
const CLAIM_VALUES = '$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17';
const SNAPSHOT_ROUNDS = "r.compound_id = $1 AND (r.status = 'open' OR r.closed_at >= $2)";

export const S = {
  mode: statement<[string], { mode: string }>('supply_mode', 'SELECT mode FROM compounds WHERE id = $1'),
  openCount: statement<[string], { n: number }>(
    'supply_open_count',
    "SELECT COUNT(*)::int AS n FROM supply_rounds WHERE compound_id = $1 AND status = 'open'",
  ),
  insertRound: statement<
    readonly [string, string, string, string, string, string, number, number, string, string, number, string, number]
  >(
    'supply_insert_round',
    `INSERT INTO supply_rounds (round_id, compound_id, name, items, stock, form, window_from, window_to,
       eligibility, status, providers, woken, created_by, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open', $10, $11::int::boolean, $12, $13)`,
  ),
  round: statement<[string], Raw>('supply_round', 'SELECT * FROM supply_rounds WHERE round_id = $1'),
  roundsOf: statement<[string, number], Raw>(
    'supply_rounds_of',
    'SELECT * FROM supply_rounds WHERE compound_id = $1 ORDER BY created_at DESC LIMIT $2',
  ),
  allRounds: statement<[number], Raw>(
    'supply_all_rounds',
    'SELECT * FROM supply_rounds ORDER BY created_at DESC LIMIT $1',
  ),
  setStock: statement<[string, number, string]>(
    'supply_set_stock',
    'UPDATE supply_rounds SET stock = $1, stock_updated_at = $2 WHERE round_id = $3',
  ),
  close: statement<[string, number, string], Raw>(
    'supply_close',
    `UPDATE supply_rounds SET status = 'closed', closed_by = $1, closed_at = $2
     WHERE round_id = $3 AND status = 'open' RETURNING *`,
  ),
  households: statement<[string], { n: number }>(
    'supply_households',
    'SELECT COUNT(DISTINCT household_id)::int AS n FROM residents WHERE compound_id = $1 AND household_id IS NOT NULL AND active',
  ),
  householdKnown: statement<[string, string], { one: number }>(
    'supply_household_known',
    'SELECT 1 AS one FROM residents WHERE compound_id = $1 AND household_id = $2 LIMIT 1',
  ),
  personHousehold: statement<[string, string], { household_id: string | null }>(
    'supply_person_household',
    'SELECT household_id FROM residents WHERE compound_id = $1 AND person_id = $2',
  ),
  applicants: statement<[string], { n: number }>(
    'supply_applicants',
    'SELECT COUNT(*)::int AS n FROM supply_applicants WHERE round_id = $1',
  ),
  applied: statement<[string, string], { one: number }>(
    'supply_applied',
    'SELECT 1 AS one FROM supply_applicants WHERE round_id = $1 AND household_id = $2',
  ),
  apply: statement<[string, string, number, string]>(
    'supply_apply',
    `INSERT INTO supply_applicants (round_id, household_id, applied_at, applied_by) VALUES ($1, $2, $3, $4)
     ON CONFLICT (round_id, household_id) DO NOTHING`,
  ),
  standings: statement<[string], { standing: string; n: number }>(
    'supply_standings',
    'SELECT standing, COUNT(*)::int AS n FROM supply_claims WHERE round_id = $1 GROUP BY standing',
  ),
  accepted: statement<[string, string], Raw>(
    'supply_accepted',
    "SELECT claim_id, gate_id, ts FROM supply_claims WHERE round_id = $1 AND household_id = $2 AND standing = 'accepted'",
  ),
  claimExists: statement<[string], { one: number }>(
    'supply_claim_exists',
    'SELECT 1 AS one FROM supply_claims WHERE claim_id = $1',
  ),
  insertClaim: statement<ClaimParams>(
    'supply_insert_claim',
    `INSERT INTO supply_claims (${CLAIM_COLUMNS}) VALUES (${CLAIM_VALUES})`,
  ),
  // An accepted claim: nothing is written when the household has one (supply_claims_one_accepted).
  insertClaimIfFirst: statement<ClaimParams>(
    'supply_insert_claim_if_first',
    `INSERT INTO supply_claims (${CLAIM_COLUMNS}) VALUES (${CLAIM_VALUES})
     ON CONFLICT (round_id, household_id) WHERE standing = 'accepted' DO NOTHING`,
  ),
  claimsOf: statement<[string, number], Raw>(
    'supply_claims_of',
    `SELECT c.*, r.masked_name FROM supply_claims c
         LEFT JOIN residents r ON r.person_id = c.person_id AND r.compound_id = c.compound_id
     WHERE c.round_id = $1 ORDER BY c.ts, c.claim_id LIMIT $2`,
  ),
  acceptedOfCompound: statement<[string, number], Raw>(
    'supply_accepted_of_compound',
    `SELECT c.round_id, c.household_id, c.claim_id, c.ts FROM supply_claims c JOIN supply_rounds r ON r.round_id = c.round_id
     WHERE c.compound_id = $1 AND c.standing = 'accepted' AND (r.status = 'open' OR r.closed_at >= $2)`,
  ),
  applicantsOfCompound: statement<[string, number], Raw>(
    'supply_applicants_of_compound',
    `SELECT a.round_id, a.household_id FROM supply_applicants a JOIN supply_rounds r ON r.round_id = a.round_id
     WHERE ${SNAPSHOT_ROUNDS}`,
  ),
  roundsForSnapshot: statement<[string, number], Raw>(
    'supply_rounds_for_snapshot',
    `SELECT * FROM supply_rounds r WHERE ${SNAPSHOT_ROUNDS}`,
  ),
  hold: statement<[string, string], { gate_id: string; ask_id: string; at: number }>(
    'supply_hold',
    'SELECT gate_id, ask_id, at FROM supply_holds WHERE round_id = $1 AND household_id = $2',
  ),
  putHold: statement<[string, string, string, string, number]>(
    'supply_put_hold',
    `INSERT INTO supply_holds (round_id, household_id, gate_id, ask_id, at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (round_id, household_id) DO UPDATE SET gate_id = excluded.gate_id, ask_id = excluded.ask_id, at = excluded.at`,
  ),
  dropHold: statement<[string, string, string]>(
    'supply_drop_hold',
    'DELETE FROM supply_holds WHERE round_id = $1 AND household_id = $2 AND ask_id = $3',
  ),
  dropHoldsOf: statement<[string, string]>(
    'supply_drop_holds_of',
    'DELETE FROM supply_holds WHERE round_id = $1 AND household_id = $2',
  ),
  mark: statement<[string], { up_to: number }>(
    'supply_mark',
    'SELECT up_to FROM supply_claim_marks WHERE gate_id = $1',
  ),
  setMark: statement<[string, number]>(
    'supply_set_mark',
    `INSERT INTO supply_claim_marks (gate_id, up_to) VALUES ($1, $2)
     ON CONFLICT (gate_id) DO UPDATE SET up_to = excluded.up_to`,
  ),
  storedSeqsAfter: statement<[string, number], { seq: number }>(
    'supply_stored_seqs_after',
    'SELECT seq FROM supply_claims WHERE gate_id = $1 AND seq > $2 ORDER BY seq LIMIT 1000',
  ),
  nextId: statement<[], { n: number }>('supply_next_id', "SELECT nextval('supply_cloud_claims') AS n"),
  gateName: statement<[string], { name: string }>('supply_gate_name', 'SELECT name FROM gates WHERE id = $1'),
};
