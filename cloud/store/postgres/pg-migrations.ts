/**
 * Schema migrations of the PostgreSQL store, applied in order and recorded in `schema_migrations`
 * (the same bookkeeping as cloud/store/sqlite-migrations.ts, numbered independently: version 1
 * here is the SQLite store's versions 1–6 as one schema). A migration is never edited once
 * released; a change of schema is a new entry at the end.
 *
 * Differences from SQLite, each for size or for several instances on one database:
 * - `events` is partitioned by month of `ts` (declarative range partitioning, epoch ms, UTC); the
 *   month partitions are created on demand by cloud/store/postgres/pg-partitions.ts and retention
 *   drops whole ones. A unique index of a partitioned table must hold the partition key, so the
 *   `(gate_id, seq)` key is enforced by ingest under a per-gate lock (pg-events.ts), with
 *   `UNIQUE (gate_id, seq, ts)` as the constraint-level guard against a replayed copy.
 * - The per-gate, per-compound and per-person indexes end in `id`, so "newest first" pages are read
 *   straight off them; the per-gate one carries what a contact trace reads (as SQLite's v3 does).
 *   A BRIN index on `ts` (a few pages per month) lets retention find old rows of a partial month.
 * - Identifier columns are `COLLATE "C"`: byte order, as SQLite sorts them, whatever the
 *   database's locale (and cheaper to compare).
 * - Booleans are `boolean`, epoch-ms times `bigint`; JSON stays `text` so it reads back verbatim.
 */
import type pg from 'pg';
import type { Migration } from '../migration-runner.ts';

export type { Migration };

const ID = 'text COLLATE "C"';

export const PG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'registry, partitioned events, gate activity, audit, users, exit quota',
    sql: `
CREATE TABLE compounds (
  id ${ID} PRIMARY KEY,
  name text NOT NULL,
  time_zone text NOT NULL,
  mode text NOT NULL DEFAULT 'normal',
  mode_reason text,
  mode_changed_at bigint,
  quota_exits integer NOT NULL DEFAULT 1,
  quota_period_hours integer NOT NULL DEFAULT 48,
  rev bigint NOT NULL DEFAULT 0,
  created_at bigint NOT NULL
);

CREATE TABLE gates (
  id ${ID} PRIMARY KEY,
  compound_id ${ID} NOT NULL REFERENCES compounds(id),
  name text NOT NULL,
  anti_passback boolean NOT NULL,
  settings text,
  created_at bigint NOT NULL
);
CREATE INDEX gates_by_compound ON gates(compound_id, id);

CREATE TABLE residents (
  person_id ${ID} PRIMARY KEY,
  compound_id ${ID} NOT NULL REFERENCES compounds(id),
  household_id ${ID},
  kind text NOT NULL,
  name text NOT NULL,
  masked_name text NOT NULL,
  id_sealed text,
  id_hash ${ID},
  masked_id_number text,
  phone text,
  cards text NOT NULL,
  elderly boolean NOT NULL,
  valid_from bigint,
  valid_to bigint,
  active boolean NOT NULL,
  health text NOT NULL DEFAULT 'unknown',
  health_ts bigint,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE INDEX residents_by_compound ON residents(compound_id, person_id);
CREATE INDEX residents_by_household ON residents(household_id);
CREATE UNIQUE INDEX residents_by_id_hash ON residents(id_hash, compound_id);

CREATE TABLE passes (
  pass_id ${ID} PRIMARY KEY,
  person_id ${ID} NOT NULL,
  compound_id ${ID} NOT NULL,
  kind text NOT NULL,
  not_before bigint NOT NULL,
  expires_at bigint NOT NULL,
  use_limit integer,
  text text NOT NULL,
  issued_by text NOT NULL,
  issued_at bigint NOT NULL,
  revoked_at bigint
);
CREATE INDEX passes_by_person ON passes(person_id);
CREATE INDEX passes_revoked_by_compound ON passes(compound_id, revoked_at);

CREATE TABLE change_log (
  compound_id ${ID} NOT NULL,
  rev bigint NOT NULL,
  change text NOT NULL,
  PRIMARY KEY (compound_id, rev)
);

CREATE SEQUENCE events_id_seq AS bigint;
CREATE TABLE events (
  id bigint NOT NULL DEFAULT nextval('events_id_seq'),
  gate_id ${ID} NOT NULL,
  seq bigint NOT NULL,
  compound_id ${ID} NOT NULL,
  ts bigint NOT NULL,
  direction text NOT NULL,
  method text NOT NULL,
  result text NOT NULL,
  reason text NOT NULL,
  person_id ${ID},
  id_hash text,
  pass_id text,
  health text NOT NULL,
  mode text NOT NULL,
  passed boolean,
  guard text,
  decision_ms double precision NOT NULL,
  received_at bigint NOT NULL,
  open_reason text,
  UNIQUE (gate_id, seq, ts)
) PARTITION BY RANGE (ts);
ALTER SEQUENCE events_id_seq OWNED BY events.id;
CREATE INDEX events_by_person_ts ON events(person_id, ts, id);
CREATE INDEX events_by_gate_ts ON events(gate_id, ts, id) INCLUDE (person_id, result, passed, method, direction, seq);
CREATE INDEX events_by_compound_ts ON events(compound_id, ts, id);
CREATE INDEX events_by_ts_brin ON events USING brin (ts);

CREATE TABLE gate_acks (
  gate_id ${ID} PRIMARY KEY,
  up_to bigint NOT NULL
);

CREATE TABLE gate_status (
  gate_id ${ID} PRIMARY KEY,
  compound_id ${ID} NOT NULL,
  status text NOT NULL,
  online boolean NOT NULL,
  mode text NOT NULL,
  received_at bigint NOT NULL
);
CREATE INDEX gate_status_by_compound ON gate_status(compound_id, gate_id);
CREATE TABLE gate_status_history (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  gate_id ${ID} NOT NULL,
  compound_id ${ID} NOT NULL,
  ts bigint NOT NULL,
  online boolean NOT NULL,
  mode text NOT NULL
);
CREATE INDEX gate_status_history_by_gate_ts ON gate_status_history(gate_id, ts);
CREATE INDEX gate_status_history_by_ts ON gate_status_history(ts);

CREATE TABLE alarms (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  gate_id ${ID} NOT NULL,
  compound_id ${ID} NOT NULL,
  kind text NOT NULL,
  ts bigint NOT NULL,
  detail text NOT NULL,
  received_at bigint NOT NULL
);
CREATE INDEX alarms_by_gate_ts ON alarms(gate_id, ts, id);
CREATE INDEX alarms_by_ts ON alarms(ts);

CREATE TABLE commands (
  cmd_id ${ID} PRIMARY KEY,
  gate_id ${ID} NOT NULL,
  kind text NOT NULL,
  direction text,
  reason text,
  issued_by text NOT NULL,
  issued_at bigint NOT NULL,
  result_ok boolean,
  result_error text,
  result_at bigint
);
CREATE INDEX commands_by_gate ON commands(gate_id, issued_at);
CREATE INDEX commands_by_issued_at ON commands(issued_at);

CREATE TABLE audit_log (
  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  at bigint NOT NULL,
  actor text NOT NULL,
  role text NOT NULL,
  action text NOT NULL,
  compound_id ${ID},
  target text,
  detail text
);
CREATE INDEX audit_by_at ON audit_log(at);
CREATE INDEX audit_by_compound_at ON audit_log(compound_id, at);

CREATE TABLE users (
  username ${ID} PRIMARY KEY,
  password_hash text NOT NULL,
  role text NOT NULL,
  compound_id ${ID},
  created_at bigint NOT NULL
);

CREATE TABLE exit_uses (
  gate_id ${ID} NOT NULL,
  seq bigint NOT NULL,
  compound_id ${ID} NOT NULL,
  household_id ${ID} NOT NULL,
  ts bigint NOT NULL,
  relayed boolean NOT NULL DEFAULT false,
  PRIMARY KEY (gate_id, seq)
);
CREATE INDEX exit_uses_by_household ON exit_uses(compound_id, household_id, ts);
CREATE INDEX exit_uses_unrelayed ON exit_uses(relayed) WHERE NOT relayed;
CREATE TABLE exit_overuse (
  gate_id ${ID} NOT NULL,
  seq bigint NOT NULL,
  compound_id ${ID} NOT NULL,
  household_id ${ID} NOT NULL,
  ts bigint NOT NULL,
  uses integer NOT NULL,
  quota integer NOT NULL,
  period_hours integer NOT NULL,
  gates text NOT NULL,
  detected_at bigint NOT NULL,
  PRIMARY KEY (gate_id, seq)
);
CREATE INDEX exit_overuse_by_compound ON exit_overuse(compound_id, detected_at);
`,
  },
  {
    version: 2,
    description: 'refused seqs: events ingest refused (never stored), answered so the gate acks step over them',
    // cloud/ingest/event-admission.ts; docs/security.md "A stolen gate". Purged with the passages.
    sql: `
CREATE TABLE refused_seqs (
  gate_id ${ID} NOT NULL,
  seq bigint NOT NULL,
  reason text NOT NULL,
  refused_at bigint NOT NULL,
  PRIMARY KEY (gate_id, seq)
);
CREATE INDEX refused_seqs_by_time ON refused_seqs(refused_at);
`,
  },
];

/**
 * Applies, in order, the migrations whose version is above what `versionTable` records, each in
 * its own transaction (PostgreSQL's DDL is transactional) under an advisory lock, so cloud
 * instances starting together on one database migrate it once. Returns the versions before and after.
 * For every table family (the store's and each extension's), like cloud/store/migration-runner.ts.
 */
export async function runPgMigrations(
  pool: pg.Pool,
  versionTable: string,
  migrations: readonly Migration[],
): Promise<{ before: number; after: number }> {
  if (!/^[a-z_]+$/.test(versionTable)) throw new TypeError(`versionTable: not a table name: ${versionTable}`);
  const client = await pool.connect();
  let before: number | undefined;
  let current = 0;
  try {
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`anxin:migrate:${versionTable}`]);
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${versionTable} (version integer PRIMARY KEY, applied_at bigint NOT NULL)`,
        );
        const { rows } = await client.query<{ v: number | null }>(`SELECT MAX(version) AS v FROM ${versionTable}`);
        current = rows[0]?.v ?? 0;
        before ??= current;
        if (migration.version > current) {
          await client.query(migration.sql);
          await client.query(`INSERT INTO ${versionTable} (version, applied_at) VALUES ($1, $2)`, [
            migration.version,
            Date.now(),
          ]);
          current = migration.version;
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    }
  } finally {
    client.release();
  }
  return { before: before ?? 0, after: current };
}

/** The store's own migrations (every store start runs this). */
export function migratePostgres(pool: pg.Pool, migrations: readonly Migration[] = PG_MIGRATIONS) {
  return runPgMigrations(pool, 'schema_migrations', migrations);
}
