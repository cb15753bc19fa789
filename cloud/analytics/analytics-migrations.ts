/**
 * The statistics rollup tables of the SQLite store (docs/tracing.md, "Statistics rollups").
 *
 * They have their own version table, `analytics_migrations`, so that the store's own numbering in
 * `schema_migrations` (cloud/store/sqlite-migrations.ts) stays the store's alone. The trace
 * queries need no table of their own: they use the store's `events_by_gate_ts` and
 * `events_by_person_ts` indexes.
 */
import type { Database } from 'better-sqlite3';
import { type Migration, runMigrations } from '../store/migration-runner.ts';

/** The daily counters and day spans as the hours they sum (migrations 3 and 5). */
const DERIVE_DAILY_FROM_HOURS = `INSERT INTO stats_daily_compound
  SELECT compound_id, day, direction, method, result, reason, crossed, elderly, SUM(count)
  FROM stats_hourly_compound GROUP BY compound_id, day, direction, method, result, reason, crossed, elderly;
INSERT INTO stats_day_span
  SELECT compound_id, day, MIN(bucket_start), MAX(bucket_start) FROM stats_hourly_compound GROUP BY compound_id, day;
`;

export const ANALYTICS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'hourly rollup counters, per-day distinct persons and flows',
    sql: `
-- One counter per compound x local hour x gate x direction x method x result x reason x crossed x elderly.
-- The key starts with (compound_id, bucket_start): a statistics window is one range scan.
CREATE TABLE stats_hourly (
  compound_id TEXT NOT NULL,
  bucket_start INTEGER NOT NULL,
  gate_id TEXT NOT NULL,
  direction TEXT NOT NULL,
  method TEXT NOT NULL,
  result TEXT NOT NULL,
  reason TEXT NOT NULL,
  crossed INTEGER NOT NULL,
  elderly INTEGER NOT NULL,
  label TEXT NOT NULL,
  day TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (compound_id, bucket_start, gate_id, direction, method, result, reason, crossed, elderly)
) WITHOUT ROWID;

-- Who crossed a gate of the compound on a local day; only there to count each person once.
CREATE TABLE stats_daily_persons (
  compound_id TEXT NOT NULL,
  day TEXT NOT NULL,
  person_id TEXT NOT NULL,
  PRIMARY KEY (compound_id, day, person_id)
) WITHOUT ROWID;

-- Per compound and local day: distinct persons, crossings in and out (occupancy estimate).
CREATE TABLE stats_daily (
  compound_id TEXT NOT NULL,
  day TEXT NOT NULL,
  persons INTEGER NOT NULL DEFAULT 0,
  crossed_in INTEGER NOT NULL DEFAULT 0,
  crossed_out INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (compound_id, day)
) WITHOUT ROWID;
`,
  },
  {
    version: 2,
    description: 'compound-wide hourly counters (the summary and hourly series read no per-gate rows)',
    sql: `
CREATE TABLE stats_hourly_compound (
  compound_id TEXT NOT NULL,
  bucket_start INTEGER NOT NULL,
  direction TEXT NOT NULL,
  method TEXT NOT NULL,
  result TEXT NOT NULL,
  reason TEXT NOT NULL,
  crossed INTEGER NOT NULL,
  elderly INTEGER NOT NULL,
  label TEXT NOT NULL,
  day TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (compound_id, bucket_start, direction, method, result, reason, crossed, elderly)
) WITHOUT ROWID;
INSERT INTO stats_hourly_compound
  SELECT compound_id, bucket_start, direction, method, result, reason, crossed, elderly, MIN(label), MIN(day), SUM(count)
  FROM stats_hourly GROUP BY compound_id, bucket_start, direction, method, result, reason, crossed, elderly;
`,
  },
  {
    version: 3,
    description: 'compound-wide daily counters and the hour span of each local day (long windows read days)',
    sql: `
-- The compound-wide counters summed over a local day (the day column of their hours). A 30-day
-- summary reads ~30 rows per outcome instead of ~720.
CREATE TABLE stats_daily_compound (
  compound_id TEXT NOT NULL,
  day TEXT NOT NULL,
  direction TEXT NOT NULL,
  method TEXT NOT NULL,
  result TEXT NOT NULL,
  reason TEXT NOT NULL,
  crossed INTEGER NOT NULL,
  elderly INTEGER NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (compound_id, day, direction, method, result, reason, crossed, elderly)
) WITHOUT ROWID;
-- The first and last hour bucket counted under each local day: a day's counters may stand in for
-- its hours only when the whole span lies inside the window (the bucket of a day depends on the
-- time zone at ingest, which an operator may have changed).
CREATE TABLE stats_day_span (
  compound_id TEXT NOT NULL,
  day TEXT NOT NULL,
  first_bucket INTEGER NOT NULL,
  last_bucket INTEGER NOT NULL,
  PRIMARY KEY (compound_id, day)
) WITHOUT ROWID;
${DERIVE_DAILY_FROM_HOURS}`,
  },
  {
    version: 4,
    description: 'masked names of many residents from one index (a contact list names ~1.5 k people)',
    sql: `
-- Covering: SqliteAnalyticsStore.maskedNames reads these two columns only, and the residents rows
-- are wide (sealed ID number, cards). Residents change seldom, so the index costs little.
CREATE INDEX IF NOT EXISTS residents_masked_names ON residents(person_id, masked_name);
`,
  },
  {
    version: 5,
    description: 'daily counters re-derived from the hours (an hour counted under two zones drifted them)',
    sql: `
-- Before this version the writer added a passage to the daily counter of the day the current zone
-- gives, while an hour already counted under an earlier zone keeps its first day: after a zone
-- change the days no longer summed their hours. Re-derive both tables as version 3 did.
DELETE FROM stats_daily_compound;
DELETE FROM stats_day_span;
${DERIVE_DAILY_FROM_HOURS}`,
  },
  {
    version: 6,
    description: 'who was counted on a day: one row per ingest batch and compound-day instead of one per person',
    sql: `
-- A row per person was a B-tree insert at a random place for nearly every passage, the largest part
-- of the rollup's ingest cost. The writer now decides who is new from the day's set in memory
-- (day-person-sets.ts) and appends the batch's new persons as one JSON array; a set not in memory is
-- read back from these rows. Each day's existing persons become one row.
CREATE TABLE stats_daily_person_batches (
  id INTEGER PRIMARY KEY,
  compound_id TEXT NOT NULL,
  day TEXT NOT NULL,
  person_ids TEXT NOT NULL
);
CREATE INDEX stats_daily_person_batches_by_day ON stats_daily_person_batches(compound_id, day);
INSERT INTO stats_daily_person_batches (compound_id, day, person_ids)
  SELECT compound_id, day, json_group_array(person_id) FROM stats_daily_persons GROUP BY compound_id, day;
DROP TABLE stats_daily_persons;
`,
  },
];

/** Applies the analytics migrations the database has not seen yet; returns the versions before and after. */
export function migrateAnalytics(
  db: Database,
  migrations: readonly Migration[] = ANALYTICS_MIGRATIONS,
): { before: number; after: number } {
  return runMigrations(db, 'analytics_migrations', migrations);
}
