/**
 * Schema migrations of the SQLite store, applied in order and recorded in `schema_migrations`.
 * A migration is never edited once released; a change of schema is a new entry at the end.
 * Column types stay within TEXT / INTEGER / REAL so the same schema maps one-to-one onto
 * PostgreSQL (docs/cloud.md, "Store").
 */
import type { Database } from 'better-sqlite3';
import { type Migration, runMigrations } from './migration-runner.ts';

export type { Migration };

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'registry, events, gate activity, audit, users',
    sql: `
CREATE TABLE compounds (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  time_zone TEXT NOT NULL,
  mode TEXT NOT NULL DEFAULT 'normal',
  mode_reason TEXT,
  mode_changed_at INTEGER,
  quota_exits INTEGER NOT NULL DEFAULT 1,
  quota_period_hours INTEGER NOT NULL DEFAULT 48,
  rev INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);

CREATE TABLE gates (
  id TEXT PRIMARY KEY,
  compound_id TEXT NOT NULL REFERENCES compounds(id),
  name TEXT NOT NULL,
  anti_passback INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX gates_by_compound ON gates(compound_id);

CREATE TABLE residents (
  person_id TEXT PRIMARY KEY,
  compound_id TEXT NOT NULL REFERENCES compounds(id),
  household_id TEXT,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  masked_name TEXT NOT NULL,
  id_sealed TEXT,
  id_hash TEXT,
  masked_id_number TEXT,
  phone TEXT,
  cards TEXT NOT NULL,
  elderly INTEGER NOT NULL,
  valid_from INTEGER,
  valid_to INTEGER,
  active INTEGER NOT NULL,
  health TEXT NOT NULL DEFAULT 'unknown',
  health_ts INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX residents_by_compound ON residents(compound_id, person_id);
CREATE INDEX residents_by_household ON residents(household_id);
CREATE UNIQUE INDEX residents_by_id_hash ON residents(id_hash, compound_id);

CREATE TABLE passes (
  pass_id TEXT PRIMARY KEY,
  person_id TEXT NOT NULL,
  compound_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  not_before INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  use_limit INTEGER,
  text TEXT NOT NULL,
  issued_by TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX passes_by_person ON passes(person_id);
CREATE INDEX passes_revoked_by_compound ON passes(compound_id, revoked_at);

-- One row per change a gate must apply, numbered per compound (compounds.rev is the latest).
CREATE TABLE change_log (
  compound_id TEXT NOT NULL,
  rev INTEGER NOT NULL,
  change TEXT NOT NULL,
  PRIMARY KEY (compound_id, rev)
);

-- Every EntryEvent field, plus compound_id and received_at. (gate_id, seq) makes replays harmless.
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  gate_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  compound_id TEXT NOT NULL,
  ts INTEGER NOT NULL,
  direction TEXT NOT NULL,
  method TEXT NOT NULL,
  result TEXT NOT NULL,
  reason TEXT NOT NULL,
  person_id TEXT,
  id_hash TEXT,
  pass_id TEXT,
  health TEXT NOT NULL,
  mode TEXT NOT NULL,
  passed INTEGER,
  guard TEXT,
  decision_ms REAL NOT NULL,
  received_at INTEGER NOT NULL,
  UNIQUE (gate_id, seq)
);
-- Trace: a person's passages in a window; contacts: everyone at a gate in a window;
-- statistics and the events list: a compound in a window; retention: by time.
CREATE INDEX events_by_person_ts ON events(person_id, ts);
CREATE INDEX events_by_gate_ts ON events(gate_id, ts);
CREATE INDEX events_by_compound_ts ON events(compound_id, ts);
CREATE INDEX events_by_ts ON events(ts);

-- The cumulative ack mark per gate: every seq <= up_to of that gate is stored.
CREATE TABLE gate_acks (
  gate_id TEXT PRIMARY KEY,
  up_to INTEGER NOT NULL
);

CREATE TABLE gate_status (
  gate_id TEXT PRIMARY KEY,
  compound_id TEXT NOT NULL,
  status TEXT NOT NULL,
  online INTEGER NOT NULL,
  mode TEXT NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE TABLE gate_status_history (
  id INTEGER PRIMARY KEY,
  gate_id TEXT NOT NULL,
  compound_id TEXT NOT NULL,
  ts INTEGER NOT NULL,
  online INTEGER NOT NULL,
  mode TEXT NOT NULL
);
CREATE INDEX gate_status_history_by_gate_ts ON gate_status_history(gate_id, ts);
CREATE INDEX gate_status_history_by_ts ON gate_status_history(ts);

CREATE TABLE alarms (
  id INTEGER PRIMARY KEY,
  gate_id TEXT NOT NULL,
  compound_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  ts INTEGER NOT NULL,
  detail TEXT NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE INDEX alarms_by_gate_ts ON alarms(gate_id, ts);
CREATE INDEX alarms_by_ts ON alarms(ts);

CREATE TABLE commands (
  cmd_id TEXT PRIMARY KEY,
  gate_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  direction TEXT,
  reason TEXT,
  issued_by TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  result_ok INTEGER,
  result_error TEXT,
  result_at INTEGER
);
CREATE INDEX commands_by_gate ON commands(gate_id, issued_at);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  role TEXT NOT NULL,
  action TEXT NOT NULL,
  compound_id TEXT,
  target TEXT,
  detail TEXT
);
CREATE INDEX audit_by_at ON audit_log(at);
CREATE INDEX audit_by_compound_at ON audit_log(compound_id, at);

CREATE TABLE users (
  username TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  compound_id TEXT,
  created_at INTEGER NOT NULL
);
`,
  },
  {
    version: 2,
    description:
      'events: drop the ts-only index (retention and the all-compound list use the per-gate and per-compound ones)',
    // Each index costs every ingested passage an update (~1.2 µs of CPU for this one, plus its dirty
    // pages in the WAL). Retention now purges gate by gate over events_by_gate_ts, and an events
    // list not narrowed to a compound, gate or person merges the per-compound pages of
    // events_by_compound_ts (sqlite-store.ts), so nothing needs an index on ts alone.
    sql: `
DROP INDEX IF EXISTS events_by_ts;
`,
  },
  {
    version: 3,
    description: 'events: the per-gate index also carries what a contact trace reads, so its scans are index-only',
    // Same prefix (gate_id, ts): every per-gate query and the retention purge keep their plan. The
    // extra columns are what `gateScan` (cloud/analytics) reads, so a contact trace never touches
    // the table: at 10 M rows its scans halve (docs/tracing.md, "Index and query design"), while an insert
    // costs the same as with the narrow index it replaces (one index either way).
    sql: `
DROP INDEX IF EXISTS events_by_gate_ts;
CREATE INDEX events_by_gate_ts ON events(gate_id, ts, person_id, result, passed, method, direction, seq);
`,
  },
  {
    version: 4,
    description: 'gates: the manager-set settings pushed to the gate through its sync (JSON, null until set)',
    // anti_passback stays the column it was (GET /gates shows it); `settings` holds the whole set
    // (docs/edge-agent.md, "Settings from the cloud") and its antiPassback mirrors the column.
    sql: `
ALTER TABLE gates ADD COLUMN settings TEXT;
`,
  },
  {
    version: 5,
    description: 'lockdown exit quota across the compound: every use of a household quota, and the over-uses found',
    // Written by cloud/lockdown/exit-quota-service.ts (docs/edge-agent.md, "Exit quota across the compound").
    sql: `
CREATE TABLE exit_uses (
  gate_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  compound_id TEXT NOT NULL,
  household_id TEXT NOT NULL,
  ts INTEGER NOT NULL,
  relayed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (gate_id, seq)
);
CREATE INDEX exit_uses_by_household ON exit_uses(compound_id, household_id, ts);
CREATE INDEX exit_uses_unrelayed ON exit_uses(relayed) WHERE relayed = 0;
CREATE TABLE exit_overuse (
  gate_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  compound_id TEXT NOT NULL,
  household_id TEXT NOT NULL,
  ts INTEGER NOT NULL,
  uses INTEGER NOT NULL,
  quota INTEGER NOT NULL,
  period_hours INTEGER NOT NULL,
  gates TEXT NOT NULL,
  detected_at INTEGER NOT NULL,
  PRIMARY KEY (gate_id, seq)
);
CREATE INDEX exit_overuse_by_compound ON exit_overuse(compound_id, detected_at);
`,
  },
  {
    version: 6,
    description: "events: why a guard opened by hand (EntryEvent.openReason), kept beside the guard's name",
    // docs/edge-agent.md "Manual open"; null for every other passage.
    sql: `
ALTER TABLE events ADD COLUMN open_reason TEXT;
`,
  },
  {
    version: 7,
    description: 'refused seqs: events ingest refused (never stored), answered so the gate acks step over them',
    // cloud/ingest/event-admission.ts; docs/security.md "A stolen gate". Purged with the passages.
    sql: `
CREATE TABLE refused_seqs (
  gate_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  reason TEXT NOT NULL,
  refused_at INTEGER NOT NULL,
  PRIMARY KEY (gate_id, seq)
) WITHOUT ROWID;
CREATE INDEX refused_seqs_by_time ON refused_seqs(refused_at);
`,
  },
  {
    version: 8,
    description: 'events: no per-compound index; a compound list merges its gates over events_by_gate_ts',
    // Each index costs every ingested passage an insert at its place and the pages it dirties in the
    // WAL: ~1 µs of CPU for this one, a tenth of the ingest's budget (docs/cloud.md, "Ingest
    // pipeline"). What read it — a compound's events list, newest first — merges the newest pages of
    // the compound's gates instead (event-tables.ts); which gates hold rows of which compound is kept
    // in event_gates, one row per pair, written by ingest the first time a pair occurs. Filling it
    // reads the table once.
    sql: `
CREATE TABLE event_gates (
  compound_id TEXT NOT NULL,
  gate_id TEXT NOT NULL,
  PRIMARY KEY (compound_id, gate_id)
) WITHOUT ROWID;
INSERT INTO event_gates (compound_id, gate_id) SELECT DISTINCT compound_id, gate_id FROM events;
DROP INDEX IF EXISTS events_by_compound_ts;
`,
  },
];

/** Applies the migrations the database has not seen yet, each in its own transaction. */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): number {
  return runMigrations(db, 'schema_migrations', migrations).after;
}
