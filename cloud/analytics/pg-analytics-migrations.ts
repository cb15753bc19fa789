/**
 * The statistics rollup tables on PostgreSQL (docs/tracing.md, "Statistics rollups"), versioned in
 * `analytics_migrations` like SQLite's (cloud/analytics/analytics-migrations.ts), numbered on their
 * own: version 1 here is SQLite's versions 1–5 as one schema. The same keys and columns, with
 * `COLLATE "C"` text (byte order, as SQLite compares), booleans for `crossed`/`elderly` and `bigint`
 * counters. Every counter is written by `INSERT … ON CONFLICT … DO UPDATE SET count = count +
 * excluded.count` (pg-rollup-writer.ts), so instances on one database add up exactly.
 *
 * `analytics_state` records whether the rollups were filled from the events stored before they
 * existed (`rollups_filled`); the first instance that finds it unset fills them (pg-rollup-fill.ts),
 * whether the tables were created by it or by `anxin db migrate`.
 */
import type { Migration } from '../store/migration-runner.ts';

const T = 'text COLLATE "C" NOT NULL';
const OUTCOME_COLUMNS = `direction ${T}, method ${T}, result ${T}, reason ${T}, crossed boolean NOT NULL,
  elderly boolean NOT NULL`;
const OUTCOME_KEY = 'direction, method, result, reason, crossed, elderly';

export const PG_ANALYTICS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'hourly, daily and per-day rollups; the fill-from-events marker',
    sql: `
-- One counter per compound x local hour x gate x outcome; a statistics window is one range scan.
CREATE TABLE stats_hourly (
  compound_id ${T},
  bucket_start bigint NOT NULL,
  gate_id ${T},
  ${OUTCOME_COLUMNS},
  label ${T},
  day ${T},
  count bigint NOT NULL,
  PRIMARY KEY (compound_id, bucket_start, gate_id, ${OUTCOME_KEY})
);
-- The same without the gate: what the summary and the hourly series read.
CREATE TABLE stats_hourly_compound (
  compound_id ${T},
  bucket_start bigint NOT NULL,
  ${OUTCOME_COLUMNS},
  label ${T},
  day ${T},
  count bigint NOT NULL,
  PRIMARY KEY (compound_id, bucket_start, ${OUTCOME_KEY})
);
-- The compound-wide counters summed over a local day (the day their hour was first counted under).
CREATE TABLE stats_daily_compound (
  compound_id ${T},
  day ${T},
  ${OUTCOME_COLUMNS},
  count bigint NOT NULL,
  PRIMARY KEY (compound_id, day, ${OUTCOME_KEY})
);
-- The first and last hour bucket counted under each local day.
CREATE TABLE stats_day_span (
  compound_id ${T},
  day ${T},
  first_bucket bigint NOT NULL,
  last_bucket bigint NOT NULL,
  PRIMARY KEY (compound_id, day)
);
-- Who crossed a gate of the compound on a local day: the unique key decides who is counted, even
-- when two instances insert the same person at once (the second waits for the first's commit).
CREATE TABLE stats_daily_persons (
  compound_id ${T},
  day ${T},
  person_id ${T},
  PRIMARY KEY (compound_id, day, person_id)
);
-- Per compound and local day: distinct persons, crossings in and out (occupancy estimate).
CREATE TABLE stats_daily (
  compound_id ${T},
  day ${T},
  persons bigint NOT NULL DEFAULT 0,
  crossed_in bigint NOT NULL DEFAULT 0,
  crossed_out bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (compound_id, day)
);
CREATE TABLE analytics_state (
  id integer PRIMARY KEY CHECK (id = 1),
  rollups_filled boolean NOT NULL
);
INSERT INTO analytics_state VALUES (1, false);
`,
  },
];

/** Every rollup table, in the order every writer touches them (one order: no deadlock between instances). */
export const ROLLUP_TABLES = [
  'stats_hourly',
  'stats_hourly_compound',
  'stats_daily_compound',
  'stats_day_span',
  'stats_daily_persons',
  'stats_daily',
] as const;
