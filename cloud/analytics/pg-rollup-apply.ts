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
 * - the rows of each statement are sorted by their key and the tables are written in one order
 *   (ROLLUP_TABLES), so two transactions lock shared rows in the same order and never deadlock.
 */
import type { Logger } from '../../shared/log.ts';
import type { CompoundOf } from '../store/ingest-hook.ts';
import { type Queryable, run, statement } from '../store/postgres/pg-pool.ts';
import {
  type CompoundHourlyCount,
  dailyCountersOf,
  type RollupDelta,
  type RollupEvent,
  rollupDelta,
} from './rollup.ts';
import { DEFAULT_TIME_ZONE, isValidTimeZone } from './time-zone.ts';

const OUTCOME = 'direction, method, result, reason, crossed, elderly';
/** The outcome's six array parameters from `$n` on. */
const outcomeParams = (n: number) =>
  `$${n}::text[], $${n + 1}::text[], $${n + 2}::text[], $${n + 3}::text[], $${n + 4}::bool[], $${n + 5}::bool[]`;

type Outcome = [string[], string[], string[], string[], boolean[], boolean[]];

const S = {
  zones: statement<[string[]], { id: string; time_zone: string }>(
    'stats_zones',
    'SELECT id, time_zone FROM compounds WHERE id = ANY($1::text[])',
  ),
  elderly: statement<[string[]], { person_id: string }>(
    'stats_elderly',
    'SELECT person_id FROM residents WHERE person_id = ANY($1::text[]) AND elderly',
  ),
  hourly: statement<[string[], number[], string[], ...Outcome, string[], string[], number[]]>(
    'stats_add_hourly',
    `INSERT INTO stats_hourly AS t (compound_id, bucket_start, gate_id, ${OUTCOME}, label, day, count)
     SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], ${outcomeParams(4)}, $10::text[], $11::text[], $12::int8[])
       AS r(compound_id, bucket_start, gate_id, ${OUTCOME}, label, day, count)
     ORDER BY compound_id, bucket_start, gate_id, ${OUTCOME}
     ON CONFLICT (compound_id, bucket_start, gate_id, ${OUTCOME}) DO UPDATE SET count = t.count + excluded.count`,
  ),
  compoundHourly: statement<
    [string[], number[], ...Outcome, string[], string[], number[]],
    { compound_id: string; bucket_start: number; day: string } & OutcomeRow
  >(
    'stats_add_hourly_compound',
    `INSERT INTO stats_hourly_compound AS t (compound_id, bucket_start, ${OUTCOME}, label, day, count)
     SELECT * FROM unnest($1::text[], $2::int8[], ${outcomeParams(3)}, $9::text[], $10::text[], $11::int8[])
       AS r(compound_id, bucket_start, ${OUTCOME}, label, day, count)
     ORDER BY compound_id, bucket_start, ${OUTCOME}
     ON CONFLICT (compound_id, bucket_start, ${OUTCOME}) DO UPDATE SET count = t.count + excluded.count
     RETURNING compound_id, bucket_start, ${OUTCOME}, day`,
  ),
  compoundDaily: statement<[string[], string[], ...Outcome, number[]]>(
    'stats_add_daily_compound',
    `INSERT INTO stats_daily_compound AS t (compound_id, day, ${OUTCOME}, count)
     SELECT * FROM unnest($1::text[], $2::text[], ${outcomeParams(3)}, $9::int8[]) AS r(compound_id, day, ${OUTCOME}, count)
     ORDER BY compound_id, day, ${OUTCOME}
     ON CONFLICT (compound_id, day, ${OUTCOME}) DO UPDATE SET count = t.count + excluded.count`,
  ),
  span: statement<[string[], string[], number[], number[]]>(
    'stats_add_span',
    `INSERT INTO stats_day_span AS t (compound_id, day, first_bucket, last_bucket)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[]) AS r(compound_id, day, first_bucket, last_bucket)
     ORDER BY compound_id, day
     ON CONFLICT (compound_id, day) DO UPDATE SET first_bucket = LEAST(t.first_bucket, excluded.first_bucket),
       last_bucket = GREATEST(t.last_bucket, excluded.last_bucket)`,
  ),
  persons: statement<[string[], string[], string[]], { compound_id: string; day: string }>(
    'stats_add_persons',
    `INSERT INTO stats_daily_persons (compound_id, day, person_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) AS r(compound_id, day, person_id)
     ORDER BY compound_id, day, person_id
     ON CONFLICT DO NOTHING RETURNING compound_id, day`,
  ),
  daily: statement<[string[], string[], number[], number[], number[]]>(
    'stats_add_daily',
    `INSERT INTO stats_daily AS t (compound_id, day, persons, crossed_in, crossed_out)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[])
       AS r(compound_id, day, persons, crossed_in, crossed_out)
     ORDER BY compound_id, day
     ON CONFLICT (compound_id, day) DO UPDATE SET persons = t.persons + excluded.persons,
       crossed_in = t.crossed_in + excluded.crossed_in, crossed_out = t.crossed_out + excluded.crossed_out`,
  ),
};

interface OutcomeRow {
  direction: string;
  method: string;
  result: string;
  reason: string;
  crossed: boolean;
  elderly: boolean;
}

const outcomeKey = (compoundId: string, bucketStart: number, o: OutcomeRow) =>
  [compoundId, bucketStart, o.direction, o.method, o.result, o.reason, o.crossed, o.elderly].join('\u0000');

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

/** Adds what `events` (all newly stored) count to the rollups, on `client`'s transaction. */
export async function addRollups(
  client: Queryable,
  events: readonly RollupEvent[],
  compoundOf: CompoundOf,
  log: Logger,
): Promise<void> {
  if (events.length === 0) return;
  const compounds = [...new Set(events.map((e) => compoundOf(e.gateId)))];
  const persons = [...new Set(events.flatMap((e) => (e.personId === undefined ? [] : [e.personId])))];
  const zones = new Map((await run(client, S.zones, [compounds])).rows.map((r) => [r.id, r.time_zone]));
  const elderly =
    persons.length === 0
      ? new Set<string>()
      : new Set((await run(client, S.elderly, [persons])).rows.map((r) => r.person_id));
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
    isElderly: (personId) => elderly.has(personId),
  });
  await applyDelta(client, delta);
}

async function applyDelta(client: Queryable, delta: RollupDelta): Promise<void> {
  const h = delta.hourly;
  await run(client, S.hourly, [
    h.map((r) => r.compoundId),
    h.map((r) => r.bucketStart),
    h.map((r) => r.gateId),
    ...outcomeColumns(h),
    h.map((r) => r.label),
    h.map((r) => r.day),
    h.map((r) => r.count),
  ]);
  // An hour's row keeps the day it was first counted under (by whichever instance): its daily
  // counter and span follow the stored day, so the days sum their hours exactly.
  const c = delta.compoundHourly;
  const { rows } = await run(client, S.compoundHourly, [
    c.map((r) => r.compoundId),
    c.map((r) => r.bucketStart),
    ...outcomeColumns(c),
    c.map((r) => r.label),
    c.map((r) => r.day),
    c.map((r) => r.count),
  ]);
  const storedDay = new Map(rows.map((r) => [outcomeKey(r.compound_id, r.bucket_start, r), r.day]));
  const stored = c.map((r): CompoundHourlyCount => {
    const day = storedDay.get(outcomeKey(r.compoundId, r.bucketStart, r)) ?? r.day;
    return day === r.day ? r : { ...r, day };
  });
  const daily = dailyCountersOf(stored);
  const d = daily.compoundDaily;
  await run(client, S.compoundDaily, [
    d.map((r) => r.compoundId),
    d.map((r) => r.day),
    ...outcomeColumns(d),
    d.map((r) => r.count),
  ]);
  const s = daily.spans;
  await run(client, S.span, [
    s.map((r) => r.compoundId),
    s.map((r) => r.day),
    s.map((r) => r.firstBucket),
    s.map((r) => r.lastBucket),
  ]);
  await addFlows(client, delta);
}

/** The day's new persons (counted once, whichever transaction inserts them first) and crossings. */
async function addFlows(client: Queryable, delta: RollupDelta): Promise<void> {
  const p = delta.persons.flatMap((d) => [...d.personIds].map((personId) => [d.compoundId, d.day, personId] as const));
  const newPersons = new Map<string, number>();
  if (p.length > 0) {
    const { rows } = await run(client, S.persons, [p.map((r) => r[0]), p.map((r) => r[1]), p.map((r) => r[2])]);
    for (const r of rows) {
      const key = `${r.compound_id}\u0000${r.day}`;
      newPersons.set(key, (newPersons.get(key) ?? 0) + 1);
    }
  }
  const f = delta.flows;
  if (f.length === 0) return;
  await run(client, S.daily, [
    f.map((r) => r.compoundId),
    f.map((r) => r.day),
    f.map((r) => newPersons.get(`${r.compoundId}\u0000${r.day}`) ?? 0),
    f.map((r) => r.crossedIn),
    f.map((r) => r.crossedOut),
  ]);
}
