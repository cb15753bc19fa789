/**
 * Tables of the crisis supplies (docs/supplies.md), their own version table `supply_migrations`
 * (cloud/store/migration-runner.ts). TEXT / INTEGER / REAL only, like the store's.
 */
import type { Migration } from '../store/migration-runner.ts';

export const SUPPLY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'supply rounds, claims, holds, applicants, claim acks',
    sql: `
CREATE TABLE supply_rounds (
  round_id TEXT PRIMARY KEY,
  compound_id TEXT NOT NULL,
  name TEXT NOT NULL,
  items TEXT NOT NULL,
  stock TEXT NOT NULL,
  form TEXT NOT NULL,
  window_from INTEGER NOT NULL,
  window_to INTEGER NOT NULL,
  eligibility TEXT NOT NULL,
  status TEXT NOT NULL,
  providers TEXT NOT NULL,
  woken INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  closed_by TEXT,
  closed_at INTEGER,
  stock_updated_at INTEGER
);
CREATE INDEX supply_rounds_by_compound ON supply_rounds(compound_id, created_at);

CREATE TABLE supply_claims (
  claim_id TEXT PRIMARY KEY,
  round_id TEXT NOT NULL,
  compound_id TEXT NOT NULL,
  household_id TEXT,
  person_id TEXT,
  gate_id TEXT,
  seq INTEGER,
  ts INTEGER NOT NULL,
  method TEXT NOT NULL,
  outcome TEXT NOT NULL,
  refusal TEXT,
  decided_by TEXT NOT NULL,
  ask_id TEXT,
  guard TEXT,
  reason TEXT,
  standing TEXT NOT NULL,
  stored_at INTEGER NOT NULL
);
CREATE INDEX supply_claims_by_household ON supply_claims(round_id, household_id, standing);
CREATE INDEX supply_claims_by_round ON supply_claims(round_id, ts);

CREATE TABLE supply_holds (
  round_id TEXT NOT NULL,
  household_id TEXT NOT NULL,
  gate_id TEXT NOT NULL,
  ask_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (round_id, household_id)
);

CREATE TABLE supply_applicants (
  round_id TEXT NOT NULL,
  household_id TEXT NOT NULL,
  applied_at INTEGER NOT NULL,
  applied_by TEXT NOT NULL,
  PRIMARY KEY (round_id, household_id)
);

CREATE TABLE supply_claim_marks (gate_id TEXT PRIMARY KEY, up_to INTEGER NOT NULL);
CREATE TABLE supply_counter (id INTEGER PRIMARY KEY CHECK (id = 1), next INTEGER NOT NULL);
INSERT INTO supply_counter (id, next) VALUES (1, 1);
`,
  },
  {
    version: 2,
    description: 'one accepted claim per household and round, enforced by the database; stored seqs per gate',
    // Version 1's supply service never stored two accepted claims for one household (it checked first, in
    // one process); the index makes it the database's rule, as on PostgreSQL (pg-supply-store.ts).
    sql: `
CREATE UNIQUE INDEX supply_claims_one_accepted ON supply_claims(round_id, household_id) WHERE standing = 'accepted';
CREATE INDEX supply_claims_by_gate ON supply_claims(gate_id, seq) WHERE gate_id IS NOT NULL;
`,
  },
];
