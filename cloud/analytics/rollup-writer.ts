/**
 * The statistics rollup writer on SQLite: an ingest hook (cloud/store/ingest-hook.ts). It runs
 * inside the ingest transaction with only the newly inserted events, so a replayed batch adds
 * nothing and a failed batch adds nothing either (it rolls back with the events). Its statements
 * are prepared on the store's connection, the one the store hands its hooks.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { Logger } from '../../shared/log.ts';
import { silentLogger } from '../../shared/log.ts';
import type { SqliteIngestHook } from '../store/ingest-hook.ts';
import type { StoredEvent } from '../store/store.ts';
import { migrateAnalytics } from './analytics-migrations.ts';
import { DayPersonSets } from './day-person-sets.ts';
import { ElderlyFlags } from './elderly-flags.ts';
import { dailyCountersOf, lastDayToForget, type RollupDelta, type RollupEvent, rollupDelta } from './rollup.ts';
import { DEFAULT_TIME_ZONE, isValidTimeZone } from './time-zone.ts';

export interface RollupWriterOptions {
  /** The store's connection (`SqliteCloudStore.db`): the hook's statements join the ingest transaction. */
  db: Database;
  logger?: Logger;
}

interface Statements {
  timeZone: Statement;
  elderly: Statement;
  addHourly: Statement;
  addCompoundHourly: Statement;
  addCompoundDaily: Statement;
  addSpan: Statement;
  addDaily: Statement;
  /** Who was already counted on each compound-day (`stats_daily_person_batches`). */
  persons: DayPersonSets;
}

export class RollupWriter implements SqliteIngestHook {
  readonly engine = 'sqlite';
  private readonly db: Database;
  private readonly log: Logger;
  private statements: Statements | undefined;
  private readonly badZones = new Set<string>();
  /** The elderly flags of the persons seen, kept across batches (the ingest path; `rebuild` reads the table). */
  private elderlyFlags: ElderlyFlags | undefined;

  constructor(options: RollupWriterOptions) {
    this.db = options.db;
    this.log = (options.logger ?? silentLogger).child({ component: 'cloud.analytics.rollup' });
  }

  /**
   * Creates the rollup tables if needed. Call once before the first ingest. When the tables are
   * new on a database that already holds events, they are filled from those events first.
   */
  start(): void {
    installAnalytics(this.db, this.log);
    this.prepare();
  }

  /**
   * Retention (privacy): forgets who crossed on local days wholly before `beforeMs`. The counts in
   * the other rollups stay — they hold numbers, not people. A day is dropped only once it ended
   * before the horizon in every time zone (UTC+14 at the latest), so no kept passage loses its row.
   */
  purgePersonsBefore(beforeMs: number): number {
    return this.prepare().persons.purgeUpTo(lastDayToForget(beforeMs));
  }

  /**
   * Recomputes every rollup from the `events` table in one transaction (pages of 5,000 rows).
   * Returns the number of events read. For a new installation on old data, or after a repair;
   * `elderly` then is the resident's flag of today, not of the day of the passage.
   */
  rebuild(): number {
    const s = this.prepare();
    const page = this.db.prepare(`SELECT id, gate_id, compound_id, ts, direction, method, result, reason, passed,
      person_id FROM events WHERE id > ? ORDER BY id LIMIT 5000`);
    s.persons.forgetAll();
    const read = this.db.transaction(() => {
      this.db.exec(
        `DELETE FROM stats_hourly; DELETE FROM stats_hourly_compound; DELETE FROM stats_daily_compound;
        DELETE FROM stats_day_span; DELETE FROM stats_daily_person_batches; DELETE FROM stats_daily;`,
      );
      s.persons.begin();
      let read = 0;
      let after = 0;
      for (;;) {
        const rows = page.all(after) as Record<string, unknown>[];
        if (rows.length === 0) break;
        const compounds = new Map<string, string>();
        const events = rows.map((r) => {
          compounds.set(String(r.gate_id), String(r.compound_id));
          return {
            gateId: String(r.gate_id),
            ts: Number(r.ts),
            direction: r.direction,
            method: r.method,
            result: r.result,
            reason: r.reason,
            passed: r.passed === null ? null : r.passed === 1,
            ...(r.person_id === null ? {} : { personId: String(r.person_id) }),
          } as RollupEvent;
        });
        this.add(events, (gateId) => compounds.get(gateId) ?? '', s);
        read += rows.length;
        after = Number(rows[rows.length - 1]!.id);
      }
      return read;
    })();
    this.committed();
    return read;
  }

  private prepare(): Statements {
    if (this.statements) return this.statements;
    const p = (sql: string) => this.db.prepare(sql);
    this.statements = {
      timeZone: p('SELECT time_zone FROM compounds WHERE id = ?'),
      elderly: p('SELECT elderly FROM residents WHERE person_id = ?'),
      addHourly: p(`INSERT INTO stats_hourly (compound_id, bucket_start, gate_id, direction, method, result, reason,
        crossed, elderly, label, day, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (compound_id, bucket_start, gate_id, direction, method, result, reason, crossed, elderly)
        DO UPDATE SET count = count + excluded.count`),
      addCompoundHourly: p(`INSERT INTO stats_hourly_compound (compound_id, bucket_start, direction, method, result,
        reason, crossed, elderly, label, day, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (compound_id, bucket_start, direction, method, result, reason, crossed, elderly)
        DO UPDATE SET count = count + excluded.count
        RETURNING day`).pluck(),
      addCompoundDaily: p(`INSERT INTO stats_daily_compound (compound_id, day, direction, method, result, reason,
        crossed, elderly, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (compound_id, day, direction, method, result, reason, crossed, elderly)
        DO UPDATE SET count = count + excluded.count`),
      addSpan: p(`INSERT INTO stats_day_span (compound_id, day, first_bucket, last_bucket) VALUES (?, ?, ?, ?)
        ON CONFLICT (compound_id, day) DO UPDATE SET first_bucket = MIN(first_bucket, excluded.first_bucket),
        last_bucket = MAX(last_bucket, excluded.last_bucket)`),
      addDaily: p(`INSERT INTO stats_daily (compound_id, day, persons, crossed_in, crossed_out) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (compound_id, day) DO UPDATE SET persons = persons + excluded.persons,
        crossed_in = crossed_in + excluded.crossed_in, crossed_out = crossed_out + excluded.crossed_out`),
      persons: new DayPersonSets(this.db),
    };
    return this.statements;
  }

  onStored(events: readonly StoredEvent[], compoundOf: (gateId: string) => string): void {
    const s = this.prepare();
    // Anything still pending belongs to a transaction that did not commit.
    s.persons.begin();
    this.elderlyFlags ??= new ElderlyFlags(this.db);
    this.elderlyFlags.refresh();
    this.add(events, compoundOf, s, this.elderlyFlags);
  }

  /** The batch committed: who it counted is now known to be in the table. */
  committed(): void {
    this.statements?.persons.committed();
  }

  /** `flags`: the ingest's flags kept across batches; without, each person is read once for this call. */
  private add(
    events: readonly RollupEvent[],
    compoundOf: (gateId: string) => string,
    s: Statements,
    flags?: ElderlyFlags,
  ): void {
    const zones = new Map<string, string>();
    const elderly = new Map<string, boolean>();
    const delta = rollupDelta(events, {
      compoundOf,
      timeZoneOf: (compoundId) => {
        let zone = zones.get(compoundId);
        if (zone === undefined) {
          zone = this.zoneOf(compoundId, s);
          zones.set(compoundId, zone);
        }
        return zone;
      },
      isElderly: (personId) => {
        if (flags) return flags.isElderly(personId);
        let flag = elderly.get(personId);
        if (flag === undefined) {
          flag = (s.elderly.get(personId) as { elderly: number } | undefined)?.elderly === 1;
          elderly.set(personId, flag);
        }
        return flag;
      },
    });
    this.apply(delta, s);
  }

  /** The compound's zone; an unknown or invalid one falls back to the default rather than blocking ingest. */
  private zoneOf(compoundId: string, s: Statements): string {
    const zone = (s.timeZone.get(compoundId) as { time_zone: string } | undefined)?.time_zone;
    if (zone !== undefined && isValidTimeZone(zone)) return zone;
    if (!this.badZones.has(compoundId)) {
      this.badZones.add(compoundId);
      this.log.warn({ compoundId, zone }, 'compound has no valid time zone; hourly statistics use the default');
    }
    return DEFAULT_TIME_ZONE;
  }

  /** One upsert per counter, its parameters bound by position (no object per row). */
  private apply(delta: RollupDelta, s: Statements): void {
    for (const r of delta.hourly) {
      s.addHourly.run(
        r.compoundId,
        r.bucketStart,
        r.gateId,
        r.direction,
        r.method,
        r.result,
        r.reason,
        flag(r.crossed),
        flag(r.elderly),
        r.label,
        r.day,
        r.count,
      );
    }
    // An hour's row keeps the day it was first counted under (the compound's zone may have changed
    // since); its daily counter and span follow the stored day, so the days sum their hours exactly.
    const stored = delta.compoundHourly.map((r) => {
      const day = s.addCompoundHourly.get(
        r.compoundId,
        r.bucketStart,
        r.direction,
        r.method,
        r.result,
        r.reason,
        flag(r.crossed),
        flag(r.elderly),
        r.label,
        r.day,
        r.count,
      ) as string;
      return day === r.day ? r : { ...r, day };
    });
    const daily = dailyCountersOf(stored);
    for (const r of daily.compoundDaily) {
      s.addCompoundDaily.run(
        r.compoundId,
        r.day,
        r.direction,
        r.method,
        r.result,
        r.reason,
        flag(r.crossed),
        flag(r.elderly),
        r.count,
      );
    }
    for (const span of daily.spans) s.addSpan.run(span.compoundId, span.day, span.firstBucket, span.lastBucket);
    const newPersons = new Map<string, number>();
    for (const { compoundId, day, personIds } of delta.persons) {
      const added = s.persons.addNew(compoundId, day, personIds);
      if (added > 0) newPersons.set(`${compoundId}\u0000${day}`, added);
    }
    for (const f of delta.flows) {
      const persons = newPersons.get(`${f.compoundId}\u0000${f.day}`) ?? 0;
      s.addDaily.run(f.compoundId, f.day, persons, f.crossedIn, f.crossedOut);
    }
  }
}

const flag = (b: boolean): 0 | 1 => (b ? 1 : 0);

/**
 * Creates the rollup tables if needed; when they are new on a database that already holds events,
 * fills them from those events, so statistics never silently miss the past. Idempotent; both the
 * writer and the read side call it, whichever starts first does the work.
 */
export function installAnalytics(db: Database, logger: Logger = silentLogger): void {
  const { before } = migrateAnalytics(db);
  if (before !== 0) return;
  const events = new RollupWriter({ db, logger }).rebuild();
  if (events > 0) logger.info({ events }, 'statistics rollups filled from the stored events');
}
