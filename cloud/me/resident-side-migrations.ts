/**
 * The resident side's tables on SQLite (sqlite-resident-side-store.ts), versioned in
 * `resident_side_migrations`. A migration is never edited once released.
 */
import type { Migration } from '../store/migration-runner.ts';

export const RESIDENT_SIDE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'activation codes, resident accounts, visitors, return registrations, policies',
    sql: `
CREATE TABLE activation_codes (
  code_id TEXT PRIMARY KEY,
  code_hash TEXT NOT NULL UNIQUE,
  person_id TEXT NOT NULL,
  compound_id TEXT NOT NULL,
  issued_by TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER,
  revoked_at INTEGER,
  revoked_by TEXT
);
CREATE INDEX activation_codes_by_person ON activation_codes(person_id);
CREATE INDEX activation_codes_by_compound ON activation_codes(compound_id, issued_at);
CREATE TABLE resident_accounts (
  person_id TEXT PRIMARY KEY,
  login TEXT NOT NULL UNIQUE,
  compound_id TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  activated_at INTEGER NOT NULL,
  code_id TEXT NOT NULL
);
CREATE TABLE visitor_invites (
  invite_id TEXT PRIMARY KEY,
  compound_id TEXT NOT NULL,
  household_id TEXT NOT NULL,
  invited_by TEXT NOT NULL,
  visitor_person_id TEXT NOT NULL,
  pass_id TEXT NOT NULL,
  link_hash TEXT NOT NULL UNIQUE,
  masked_name TEXT NOT NULL,
  phone_tail TEXT NOT NULL,
  visit_date TEXT NOT NULL,
  uses INTEGER NOT NULL,
  valid_from INTEGER NOT NULL,
  valid_to INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX visitor_invites_by_household ON visitor_invites(compound_id, household_id, created_at);
CREATE TABLE return_registrations (
  return_id TEXT PRIMARY KEY,
  compound_id TEXT NOT NULL,
  household_id TEXT,
  registered_by TEXT NOT NULL,
  origin TEXT NOT NULL,
  return_date TEXT NOT NULL,
  transport TEXT NOT NULL,
  transport_detail TEXT,
  created_at INTEGER NOT NULL,
  yellow_until INTEGER,
  status TEXT NOT NULL,
  reviewed_by TEXT,
  reviewed_at INTEGER,
  review_note TEXT
);
CREATE INDEX return_registrations_by_compound ON return_registrations(compound_id, status, created_at);
CREATE TABLE return_members (
  return_id TEXT NOT NULL,
  person_id TEXT NOT NULL,
  previous_colour TEXT NOT NULL,
  set_ts INTEGER,
  restored_at INTEGER,
  PRIMARY KEY (return_id, person_id)
);
CREATE TABLE resident_policies (
  compound_id TEXT PRIMARY KEY,
  policy TEXT NOT NULL,
  updated_by TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
`,
  },
  {
    version: 2,
    description: 'visitor invitations pending until their pass is made (reservations hidden, reclaimed)',
    // A reservation of the first version (pass id '') is one whose request never finished: abandoned.
    sql: `
ALTER TABLE visitor_invites ADD COLUMN pending_until INTEGER;
UPDATE visitor_invites SET pending_until = 0 WHERE pass_id = '';
CREATE INDEX visitor_invites_pending ON visitor_invites(pending_until) WHERE pending_until IS NOT NULL;
`,
  },
];
