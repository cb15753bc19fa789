/**
 * What a batch of newly stored passages adds to the statistics rollups on PostgreSQL, written on
 * the caller's transaction (the ingest transaction's client, or the fill's). The deltas are the
 * same pure fold as SQLite's (rollup.ts); how they are written is what makes several cloud
 * instances on one database add up exactly:
 *
 * - every counter is one multi-row `INSERT … ON CONFLICT … DO UPDATE SET count = t.count +
 *   excluded.count`: an addition under the row's lock, so two transactions adding to one hour both
 *   count (the second waits for the first to commit and adds to what it committed);
 * - the day's distinct persons: `INSERT … ON CONFLICT DO NOTHING RETURNING` into
 *   `stats_daily_persons` — a second transaction inserting the same person waits for the first and
 *   then inserts nothing — and `stats_daily.persons` grows by exactly the rows returned, in the
 *   same transaction, so a person is counted once per day whichever instance saw them first;
 * - the rows of each table are sorted by their key and every table is written by one statement
 *   (`addDelta`: the same plan in every transaction, the ingest's and the fill's), so two
 *   transactions lock shared rows in the same order and never deadlock;
 * - the batch's persons and time zones come from the one read the ingest hooks share
 *   (cloud/store/postgres/pg-batch-facts.ts): the statistics add two round trips to a batch at most.
 */
import type { Logger } from '../../shared/log.ts';
import type { CompoundOf } from '../store/ingest-hook.ts';
import { batchFacts } from '../store/postgres/pg-batch-facts.ts';
import { type Queryable, run, statement } from '../store/postgres/pg-pool.ts';
import { type RollupDelta, type RollupEvent, rollupDelta } from './rollup.ts';
import { DEFAULT_TIME_ZONE, isValidTimeZone } from './time-zone.ts';

const OUTCOME = 'direction, method, result, reason, crossed, elderly';
/** The outcome's six array parameters from `$n` on. */
const outcomeParams = (n: number) =>
  `$${n}::text[], $${n + 1}::text[], $${n + 2}::text[], $${n + 3}::text[], $${n + 4}::bool[], $${n + 5}::bool[]`;

type Outcome = [string[], string[], string[], string[], boolean[], boolean[]];
type HourlyParams = [string[], number[], string[], ...Outcome, string[], string[], number[]];
type CompoundHourlyParams = [string[], number[], ...Outcome, string[], string[], number[]];
type PersonsParams = [string[], string[], string[]];
type FlowsParams = [string[], string[], number[], number[]];

/**
 * A batch's whole delta in one statement (one round trip while the rows are locked), its parts
 * written in one fixed order with the rows of each sorted by key:
 * - `hourly`, `compound_hourly`: additive upserts; an hour's compound row keeps the day it was
 *   first counted under (by whichever instance) and `RETURNING` says which day that is, so the
 *   day's counters (`compound_daily`) and span (`span`) follow the stored day and the days sum
 *   their hours exactly;
 * - `persons`: the day's new persons, `ON CONFLICT DO NOTHING RETURNING` (a person inserted by a
 *   concurrent transaction is waited for, then not returned), and `stats_daily.persons` grows by
 *   exactly the rows returned, beside the day's crossings.
 */
const addDelta = statement<[...HourlyParams, ...CompoundHourlyParams, ...PersonsParams, ...FlowsParams]>(
  'stats_add_delta',
  `WITH hourly AS (
     INSERT INTO stats_hourly AS t (compound_id, bucket_start, gate_id, ${OUTCOME}, label, day, count)
     SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], ${outcomeParams(4)}, $10::text[], $11::text[], $12::int8[])
       AS r(compound_id, bucket_start, gate_id, ${OUTCOME}, label, day, count)
     ORDER BY compound_id, bucket_start, gate_id, ${OUTCOME}
     ON CONFLICT (compound_id, bucket_start, gate_id, ${OUTCOME}) DO UPDATE SET count = t.count + excluded.count),
   compound_in AS (
     SELECT * FROM unnest($13::text[], $14::int8[], ${outcomeParams(15)}, $21::text[], $22::text[], $23::int8[])
       AS r(compound_id, bucket_start, ${OUTCOME}, label, day, count)),
   compound_hourly AS (
     INSERT INTO stats_hourly_compound AS t (compound_id, bucket_start, ${OUTCOME}, label, day, count)
     SELECT * FROM compound_in ORDER BY compound_id, bucket_start, ${OUTCOME}
     ON CONFLICT (compound_id, bucket_start, ${OUTCOME}) DO UPDATE SET count = t.count + excluded.count
     RETURNING compound_id, bucket_start, ${OUTCOME}, day),
   stored AS (
     SELECT i.compound_id, i.bucket_start, i.direction, i.method, i.result, i.reason, i.crossed, i.elderly,
       h.day, i.count
     FROM compound_in i JOIN compound_hourly h USING (compound_id, bucket_start, ${OUTCOME})),
   compound_daily AS (
     INSERT INTO stats_daily_compound AS t (compound_id, day, ${OUTCOME}, count)
     SELECT compound_id, day, ${OUTCOME}, SUM(count) FROM stored
     GROUP BY compound_id, day, ${OUTCOME} ORDER BY compound_id, day, ${OUTCOME}
     ON CONFLICT (compound_id, day, ${OUTCOME}) DO UPDATE SET count = t.count + excluded.count),
   span AS (
     INSERT INTO stats_day_span AS t (compound_id, day, first_bucket, last_bucket)
     SELECT compound_id, day, MIN(bucket_start), MAX(bucket_start) FROM stored
     GROUP BY compound_id, day ORDER BY compound_id, day
     ON CONFLICT (compound_id, day) DO UPDATE SET first_bucket = LEAST(t.first_bucket, excluded.first_bucket),
       last_bucket = GREATEST(t.last_bucket, excluded.last_bucket)),
   persons AS (
     INSERT INTO stats_daily_persons (compound_id, day, person_id)
     SELECT * FROM unnest($24::text[], $25::text[], $26::text[]) AS r(compound_id, day, person_id)
     ORDER BY compound_id, day, person_id
     ON CONFLICT DO NOTHING RETURNING compound_id, day),
   new_persons AS (SELECT compound_id, day, COUNT(*) AS n FROM persons GROUP BY compound_id, day)
   INSERT INTO stats_daily AS t (compound_id, day, persons, crossed_in, crossed_out)
   SELECT f.compound_id, f.day, COALESCE(p.n, 0), f.crossed_in, f.crossed_out
   FROM unnest($27::text[], $28::text[], $29::int8[], $30::int8[]) AS f(compound_id, day, crossed_in, crossed_out)
   LEFT JOIN new_persons p USING (compound_id, day)
   ORDER BY f.compound_id, f.day
   ON CONFLICT (compound_id, day) DO UPDATE SET persons = t.persons + excluded.persons,
     crossed_in = t.crossed_in + excluded.crossed_in, crossed_out = t.crossed_out + excluded.crossed_out`,
);

interface OutcomeRow {
  direction: string;
  method: string;
  result: string;
  reason: string;
  crossed: boolean;
  elderly: boolean;
}

/** The outcome columns of rows, one array each, in OUTCOME order. */
function outcomeColumns(rows: readonly OutcomeRow[]): Outcome {
  return [
    rows.map((r) => r.direction),
    rows.map((r) => r.method),
    rows.map((r) => r.result),
    rows.map((r) => r.reason),
    rows.map((r) => r.crossed),
    rows.map((r) => r.elderly),
  ];
}

/** Compounds already warned about (an invalid zone is logged once per process). */
const badZones = new Set<string>();

/** The rows a batch adds to the rollups, ready to write (`writeRollups`). */
export type RollupRows = [...HourlyParams, ...CompoundHourlyParams, ...PersonsParams, ...FlowsParams];

/** Adds what `events` (all newly stored) count to the rollups, on `client`'s transaction. */
export async function addRollups(
  client: Queryable,
  events: readonly RollupEvent[],
  compoundOf: CompoundOf,
  log: Logger,
): Promise<void> {
  if (events.length === 0) return;
  await writeRollups(client, await rollupRows(client, events, compoundOf, log));
}

/** What `events` count, folded (reads the batch's persons and zones, shared with the other hooks). */
export async function rollupRows(
  client: Queryable,
  events: readonly RollupEvent[],
  compoundOf: CompoundOf,
  log: Logger,
): Promise<RollupRows> {
  const { persons, zones } = await batchFacts(client, events, compoundOf);
  const delta = rollupDelta(events, {
    compoundOf,
    timeZoneOf: (compoundId) => {
      const zone = zones.get(compoundId);
      if (zone !== undefined && isValidTimeZone(zone)) return zone;
      if (!badZones.has(compoundId)) {
        badZones.add(compoundId);
        log.warn({ compoundId, zone }, 'compound has no valid time zone; hourly statistics use the default');
      }
      return DEFAULT_TIME_ZONE;
    },
    isElderly: (personId) => persons.get(personId)?.elderly === true,
  });
  return deltaParams(delta);
}

/** Writes folded rows on `client`'s transaction: one statement. */
export async function writeRollups(client: Queryable, rows: RollupRows): Promise<void> {
  await run(client, addDelta, rows);
}

function deltaParams(delta: RollupDelta): RollupRows {
  const h = delta.hourly;
  const c = delta.compoundHourly;
  const p = delta.persons.flatMap((d) => [...d.personIds].map((personId) => [d.compoundId, d.day, personId] as const));
  const f = delta.flows;
  return [
    h.map((r) => r.compoundId),
    h.map((r) => r.bucketStart),
    h.map((r) => r.gateId),
    ...outcomeColumns(h),
    h.map((r) => r.label),
    h.map((r) => r.day),
    h.map((r) => r.count),
    c.map((r) => r.compoundId),
    c.map((r) => r.bucketStart),
    ...outcomeColumns(c),
    c.map((r) => r.label),
    c.map((r) => r.day),
    c.map((r) => r.count),
    p.map((r) => r[0]),
    p.map((r) => r[1]),
    p.map((r) => r[2]),
    f.map((r) => r.compoundId),
    f.map((r) => r.day),
    f.map((r) => r.crossedIn),
    f.map((r) => r.crossedOut),
  ];
}
