/**
 * The resident side's tables on PostgreSQL (pg-resident-side-store.ts), versioned in
 * `resident_side_migrations` like SQLite's (resident-side-migrations.ts), and their statements.
 * Identifiers `COLLATE "C"`, times `bigint`, the policy as JSON `text`, as the store's
 * (cloud/store/postgres/pg-migrations.ts).
 */
import type { Migration } from '../store/migration-runner.ts';
import { statement } from '../store/postgres/pg-pool.ts';
import type { Raw } from './resident-side-rows.ts';

const ID = 'text COLLATE "C"';

export const PG_RESIDENT_SIDE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'activation codes, resident accounts, visitors, return registrations, policies',
    sql: `
CREATE TABLE activation_codes (
  code_id ${ID} PRIMARY KEY,
  code_hash text NOT NULL UNIQUE,
  person_id ${ID} NOT NULL,
  compound_id ${ID} NOT NULL,
  issued_by text NOT NULL,
  issued_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  used_at bigint,
  revoked_at bigint,
  revoked_by text
);
CREATE INDEX activation_codes_by_person ON activation_codes(person_id);
CREATE INDEX activation_codes_by_compound ON activation_codes(compound_id, issued_at);
CREATE TABLE resident_accounts (
  person_id ${ID} PRIMARY KEY,
  login text NOT NULL UNIQUE,
  compound_id ${ID} NOT NULL,
  password_hash text NOT NULL,
  activated_at bigint NOT NULL,
  code_id ${ID} NOT NULL
);
CREATE INDEX resident_accounts_by_compound ON resident_accounts(compound_id);
CREATE TABLE visitor_invites (
  invite_id ${ID} PRIMARY KEY,
  compound_id ${ID} NOT NULL,
  household_id ${ID} NOT NULL,
  invited_by text NOT NULL,
  visitor_person_id ${ID} NOT NULL,
  pass_id ${ID} NOT NULL,
  link_hash text NOT NULL UNIQUE,
  masked_name text NOT NULL,
  phone_tail text NOT NULL,
  visit_date text NOT NULL,
  uses integer NOT NULL,
  valid_from bigint NOT NULL,
  valid_to bigint NOT NULL,
  created_at bigint NOT NULL,
  revoked_at bigint
);
CREATE INDEX visitor_invites_by_household ON visitor_invites(compound_id, household_id, created_at);
CREATE INDEX visitor_invites_by_visitor ON visitor_invites(visitor_person_id);
CREATE TABLE return_registrations (
  return_id ${ID} PRIMARY KEY,
  compound_id ${ID} NOT NULL,
  household_id ${ID},
  registered_by text NOT NULL,
  origin text NOT NULL,
  return_date text NOT NULL,
  transport text NOT NULL,
  transport_detail text,
  created_at bigint NOT NULL,
  yellow_until bigint,
  status text NOT NULL,
  reviewed_by text,
  reviewed_at bigint,
  review_note text
);
CREATE INDEX return_registrations_by_compound ON return_registrations(compound_id, status, created_at);
CREATE INDEX return_registrations_due ON return_registrations(yellow_until) WHERE status = 'pending';
CREATE TABLE return_members (
  return_id ${ID} NOT NULL REFERENCES return_registrations(return_id) ON DELETE CASCADE,
  person_id ${ID} NOT NULL,
  previous_colour text NOT NULL,
  set_ts bigint,
  restored_at bigint,
  PRIMARY KEY (return_id, person_id)
);
CREATE TABLE resident_policies (
  compound_id ${ID} PRIMARY KEY,
  policy text NOT NULL,
  updated_by text NOT NULL,
  updated_at bigint NOT NULL
);
`,
  },
  {
    version: 2,
    description: 'visitor invitations pending until their pass is made (reservations hidden, reclaimed)',
    // A reservation of the first version (pass id '') is one whose request never finished: abandoned.
    sql: `
ALTER TABLE visitor_invites ADD COLUMN pending_until bigint;
UPDATE visitor_invites SET pending_until = 0 WHERE pass_id = '';
CREATE INDEX visitor_invites_pending ON visitor_invites(pending_until) WHERE pending_until IS NOT NULL;
`,
  },
];

type S = string;
type N = number;
type Nul<T> = T | null;

export const Q = {
  insertCode: statement<[S, S, S, S, S, N, N]>(
    'rs_insert_code',
    `INSERT INTO activation_codes (code_id, code_hash, person_id, compound_id, issued_by, issued_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
  ),
  codeByHash: statement<[S], Raw>('rs_code_by_hash', 'SELECT * FROM activation_codes WHERE code_hash = $1'),
  codeById: statement<[S], Raw>('rs_code_by_id', 'SELECT * FROM activation_codes WHERE code_id = $1'),
  revokeOpenOf: statement<[N, S, S]>(
    'rs_revoke_open_of',
    `UPDATE activation_codes SET revoked_at = $1, revoked_by = $2
     WHERE person_id = $3 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1`,
  ),
  revokeCode: statement<[N, S, S]>(
    'rs_revoke_code',
    'UPDATE activation_codes SET revoked_at = $1, revoked_by = $2 WHERE code_id = $3 AND used_at IS NULL AND revoked_at IS NULL',
  ),
  useCode: statement<[N, S]>(
    'rs_use_code',
    `UPDATE activation_codes SET used_at = $1
     WHERE code_id = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1`,
  ),
  codesOfCompound: statement<[S, S, N, Nul<S>], Raw>(
    'rs_codes_of_compound',
    `SELECT * FROM activation_codes WHERE compound_id = $1
     AND ($2::text = 'all' OR (used_at IS NULL AND revoked_at IS NULL AND expires_at > $3))
     AND ($4::text IS NULL OR person_id = $4::text)
     ORDER BY issued_at DESC, code_id LIMIT 2000`,
  ),
  accountByPerson: statement<[S], Raw>('rs_account_by_person', 'SELECT * FROM resident_accounts WHERE person_id = $1'),
  accountByLogin: statement<[S], Raw>('rs_account_by_login', 'SELECT * FROM resident_accounts WHERE login = $1'),
  upsertAccount: statement<[S, S, S, S, N, S]>(
    'rs_upsert_account',
    `INSERT INTO resident_accounts (person_id, login, compound_id, password_hash, activated_at, code_id)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (person_id) DO UPDATE SET login = excluded.login, compound_id = excluded.compound_id,
       password_hash = excluded.password_hash, activated_at = excluded.activated_at, code_id = excluded.code_id`,
  ),
  setPassword: statement<[S, S]>(
    'rs_set_password',
    'UPDATE resident_accounts SET password_hash = $1 WHERE person_id = $2',
  ),
  activatedAmong: statement<[S], { person_id: string }>(
    'rs_activated_among',
    'SELECT person_id FROM resident_accounts WHERE compound_id = $1',
  ),
  reserveInvite: statement<readonly [S, S, S, S, S, S, S, S, S, S, N, N, N, N, N]>(
    'rs_reserve_invite',
    `INSERT INTO visitor_invites (invite_id, compound_id, household_id, invited_by, visitor_person_id, pass_id,
       link_hash, masked_name, phone_tail, visit_date, uses, valid_from, valid_to, created_at, pending_until)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
  ),
  invitesOf: statement<[S, S], Raw>(
    'rs_invites_of',
    `SELECT * FROM visitor_invites WHERE compound_id = $1 AND household_id = $2 AND pending_until IS NULL
     ORDER BY created_at DESC LIMIT 100`,
  ),
  completeInvite: statement<[S, N]>(
    'rs_complete_invite',
    'UPDATE visitor_invites SET pending_until = NULL WHERE invite_id = $1 AND pending_until > $2',
  ),
  abandonInvite: statement<[S]>(
    'rs_abandon_invite',
    'UPDATE visitor_invites SET pending_until = 0 WHERE invite_id = $1',
  ),
  abandonExpired: statement<[S, N]>(
    'rs_abandon_expired',
    'UPDATE visitor_invites SET pending_until = 0 WHERE invite_id = $1 AND pending_until <= $2',
  ),
  dropInvite: statement<[S]>(
    'rs_drop_invite',
    'DELETE FROM visitor_invites WHERE invite_id = $1 AND pending_until = 0',
  ),
  expiredInvites: statement<[N], Raw>(
    'rs_expired_invites',
    'SELECT * FROM visitor_invites WHERE pending_until <= $1 ORDER BY pending_until DESC, created_at, invite_id LIMIT 100',
  ),
  invitesSince: statement<[S, S, N, N], { n: number }>(
    'rs_invites_since',
    `SELECT COUNT(*)::int AS n FROM visitor_invites WHERE compound_id = $1 AND household_id = $2 AND created_at >= $3
     AND (pending_until IS NULL OR pending_until > $4)`,
  ),
  inviteByLink: statement<[S], Raw>(
    'rs_invite_by_link',
    'SELECT * FROM visitor_invites WHERE link_hash = $1 AND pending_until IS NULL',
  ),
  inviteById: statement<[S], Raw>(
    'rs_invite_by_id',
    'SELECT * FROM visitor_invites WHERE invite_id = $1 AND pending_until IS NULL',
  ),
  revokeInvite: statement<[N, S]>(
    'rs_revoke_invite',
    'UPDATE visitor_invites SET revoked_at = $1 WHERE invite_id = $2 AND revoked_at IS NULL AND pending_until IS NULL',
  ),
  isVisitorPerson: statement<[S], { one: number }>(
    'rs_is_visitor_person',
    'SELECT 1 AS one FROM visitor_invites WHERE visitor_person_id = $1 LIMIT 1',
  ),
  insertReturn: statement<readonly [S, S, Nul<S>, S, S, S, S, Nul<S>, N, Nul<N>]>(
    'rs_insert_return',
    `INSERT INTO return_registrations (return_id, compound_id, household_id, registered_by, origin, return_date,
       transport, transport_detail, created_at, yellow_until, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending')`,
  ),
  insertReturnMembers: statement<[S, S[], S[], Nul<N>[]]>(
    'rs_insert_return_members',
    `INSERT INTO return_members (return_id, person_id, previous_colour, set_ts)
     SELECT $1, m.person_id, m.previous_colour, m.set_ts
     FROM unnest($2::text[], $3::text[], $4::bigint[]) AS m(person_id, previous_colour, set_ts)`,
  ),
  returnById: statement<[S], Raw>('rs_return_by_id', 'SELECT * FROM return_registrations WHERE return_id = $1'),
  // The members of several registrations at once (one query per list, not one per registration).
  membersOf: statement<[S[]], Raw>(
    'rs_members_of',
    'SELECT * FROM return_members WHERE return_id = ANY($1::text[]) ORDER BY return_id, person_id',
  ),
  returnsOfCompound: statement<[S, S], Raw>(
    'rs_returns_of_compound',
    `SELECT * FROM return_registrations WHERE compound_id = $1 AND ($2::text = 'all' OR status = 'pending')
     ORDER BY created_at DESC LIMIT 500`,
  ),
  returnsOfHousehold: statement<[S, Nul<S>, S], Raw>(
    'rs_returns_of_household',
    `SELECT * FROM return_registrations WHERE compound_id = $1 AND (household_id = $2 OR registered_by = $3)
     ORDER BY created_at DESC LIMIT 50`,
  ),
  dueReturns: statement<[N], { return_id: string }>(
    'rs_due_returns',
    `SELECT return_id FROM return_registrations
     WHERE status = 'pending' AND yellow_until IS NOT NULL AND yellow_until <= $1 LIMIT 200`,
  ),
  setReturnStatus: statement<[S, S, N, Nul<S>, S]>(
    'rs_set_return_status',
    `UPDATE return_registrations SET status = $1, reviewed_by = $2, reviewed_at = $3, review_note = $4
     WHERE return_id = $5 AND status = 'pending'`,
  ),
  memberRestored: statement<[N, S, S]>(
    'rs_member_restored',
    'UPDATE return_members SET restored_at = $1 WHERE return_id = $2 AND person_id = $3',
  ),
  visitorPassages: statement<[S, N, N], { passages: number; granted: number; visitors: number }>(
    'rs_visitor_passages',
    `SELECT COUNT(*)::int AS passages, COUNT(*) FILTER (WHERE e.result = 'granted')::int AS granted,
       COUNT(DISTINCT e.person_id)::int AS visitors
     FROM visitor_invites v JOIN events e ON e.person_id = v.visitor_person_id
     WHERE v.compound_id = $1 AND e.compound_id = v.compound_id AND e.ts >= $2 AND e.ts < $3`,
  ),
  invitesBetween: statement<[S, N, N], { n: number }>(
    'rs_invites_between',
    `SELECT COUNT(*)::int AS n FROM visitor_invites WHERE compound_id = $1 AND created_at >= $2 AND created_at < $3
     AND pending_until IS NULL`,
  ),
  policyOf: statement<[S], { policy: string }>(
    'rs_policy_of',
    'SELECT policy FROM resident_policies WHERE compound_id = $1',
  ),
  setPolicy: statement<[S, S, S, N]>(
    'rs_set_policy',
    `INSERT INTO resident_policies (compound_id, policy, updated_by, updated_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (compound_id) DO UPDATE SET policy = excluded.policy, updated_by = excluded.updated_by,
       updated_at = excluded.updated_at`,
  ),
};
