/**
 * Who was already counted on a compound's local day, for the statistics rollup's distinct persons
 * (rollup-writer.ts, docs/tracing.md "Statistics rollups").
 *
 * The table, `stats_daily_person_batches`, is a log: one row per ingest transaction and
 * compound-day, holding (as a JSON array) the persons that transaction counted first. Appending one
 * row per compound-day and batch costs the ingest a few statements per batch; a row per person
 * (the earlier `stats_daily_persons`) was a B-tree insert at a random place for nearly every
 * passage — the largest part of the rollup's cost (docs/cloud.md, "Ingest pipeline").
 *
 * Deciding who is new needs the day's set, so the sets live in memory, exact at all times:
 * - a set not in memory (a restart, a day forgotten for the memory bound, another day arriving
 *   late) is read from the log first — every row the day has, committed — and then trusted;
 * - a transaction adds the persons it counts to the shared sets at once — one look-up per person,
 *   where checking first and adding after the commit took two in a large set — and notes them in
 *   an undo log; the commit (`committed`) clears the log. A transaction that rolled back never
 *   commits: the next `begin` on the connection (or a purge) takes its persons out again before
 *   anything else reads the sets, so the resend counts them. (Two writers running in one
 *   transaction would count every passage twice anyway; the ingest runs one.)
 * - the sets belong to the connection, so two writers on one connection share them; another
 *   connection's commit (`PRAGMA data_version` moves) may have counted anyone: everything is
 *   forgotten and read again.
 * A day read back from many small rows (live ingest writes a row per small batch) is compacted into
 * one, in the same transaction.
 */
import type { Database, Statement } from 'better-sqlite3';

/**
 * Persons kept in the sets, all days together (≈ 80 bytes each: ≈ 40 MB at most); beyond it the
 * oldest days are forgotten first (and read again if a late passage needs them). A busy day of a
 * 100 k-resident compound is far below it.
 */
export const COUNTED_PERSONS_MAX = 500_000;

/** A day read back from more rows than this is rewritten as one row. */
const COMPACT_ROWS = 32;

/** `compound\0day`: one set per compound and local day. */
const keyOf = (compoundId: string, day: string) => `${compoundId}\u0000${day}`;
const dayOfKey = (key: string): string => key.slice(key.indexOf('\u0000') + 1);

/**
 * What a transaction did to the sets, undone unless it commits: persons it added to `key`'s set,
 * or (`personIds` null) the set it read — its read may have seen the transaction's own writes.
 */
interface Added {
  key: string;
  set: Set<string>;
  personIds: string[] | null;
}

/** The sets of one connection: committed, plus what the transaction running now added (`added`). */
interface Shared {
  counted: Map<string, Set<string>>;
  persons: number;
  dataVersion: number;
  added: Added[];
}

const sharedOf = new WeakMap<Database, Shared>();

export class DayPersonSets {
  private readonly shared: Shared;
  private readonly read: Statement<[string, string], { id: number; person_ids: string }>;
  private readonly append: Statement<[string, string, string]>;
  private readonly dropRows: Statement<[string, string]>;

  constructor(private readonly db: Database) {
    let shared = sharedOf.get(db);
    if (!shared) {
      shared = { counted: new Map(), persons: 0, dataVersion: this.dataVersion(), added: [] };
      sharedOf.set(db, shared);
    }
    this.shared = shared;
    this.read = db.prepare(
      'SELECT id, person_ids FROM stats_daily_person_batches WHERE compound_id = ? AND day = ? ORDER BY id',
    );
    this.append = db.prepare('INSERT INTO stats_daily_person_batches (compound_id, day, person_ids) VALUES (?, ?, ?)');
    this.dropRows = db.prepare('DELETE FROM stats_daily_person_batches WHERE compound_id = ? AND day = ?');
  }

  /**
   * Starts a transaction's work: takes out what an earlier one that never committed added, and
   * forgets everything when another connection committed since. Call first in each transaction.
   */
  begin(): void {
    this.undo();
    const version = this.dataVersion();
    if (version !== this.shared.dataVersion) {
      this.shared.dataVersion = version;
      this.forgetAll();
    }
  }

  /**
   * Counts the persons of `personIds` not yet counted on the compound's day: appends them as one
   * row and returns how many they were. Inside the ingest transaction.
   */
  addNew(compoundId: string, day: string, personIds: Iterable<string>): number {
    const key = keyOf(compoundId, day);
    const counted = this.shared.counted.get(key) ?? this.load(key, compoundId, day);
    const fresh: string[] = [];
    let size = counted.size;
    for (const personId of personIds) {
      counted.add(personId);
      if (counted.size === size) continue;
      size = counted.size;
      fresh.push(personId);
    }
    if (fresh.length === 0) return 0;
    this.shared.persons += fresh.length;
    this.shared.added.push({ key, set: counted, personIds: fresh });
    this.append.run(compoundId, day, JSON.stringify(fresh));
    return fresh.length;
  }

  /** The transaction committed: what it counted is now in the table. */
  committed(): void {
    this.shared.added.length = 0;
    if (this.shared.persons > COUNTED_PERSONS_MAX) this.forgetOldestDays();
  }

  /** Forgets (memory and table) who crossed on the days up to `lastDay`; returns the rows deleted. */
  purgeUpTo(lastDay: string): number {
    this.undo();
    for (const [key, set] of this.shared.counted) {
      if (dayOfKey(key) <= lastDay) this.forget(key, set);
    }
    return this.db.prepare('DELETE FROM stats_daily_person_batches WHERE day <= ?').run(lastDay).changes;
  }

  /** Forgets every set (a rebuild empties the table). */
  forgetAll(): void {
    this.shared.counted.clear();
    this.shared.persons = 0;
    this.shared.added.length = 0;
  }

  /** Reads the day's set from the log, and shares it (noted: undone if the transaction does not commit). */
  private load(key: string, compoundId: string, day: string): Set<string> {
    const rows = this.read.all(compoundId, day);
    const set = new Set<string>();
    for (const row of rows) for (const personId of JSON.parse(row.person_ids) as string[]) set.add(personId);
    if (rows.length > COMPACT_ROWS) {
      this.dropRows.run(compoundId, day);
      this.append.run(compoundId, day, JSON.stringify([...set]));
    }
    this.shared.counted.set(key, set);
    this.shared.persons += set.size;
    this.shared.added.push({ key, set, personIds: null });
    return set;
  }

  /**
   * Takes out what a transaction that did not commit added and read, last first (a set forgotten
   * since needs nothing: it is read again when needed).
   */
  private undo(): void {
    const shared = this.shared;
    for (let i = shared.added.length - 1; i >= 0; i--) {
      const { key, set, personIds } = shared.added[i]!;
      if (shared.counted.get(key) !== set) continue;
      if (personIds === null) {
        shared.counted.delete(key);
        shared.persons -= set.size;
        continue;
      }
      for (const personId of personIds) set.delete(personId);
      shared.persons -= personIds.length;
    }
    shared.added.length = 0;
  }

  /** Over the bound: drops whole day sets, oldest day first, until it is met again. */
  private forgetOldestDays(): void {
    const byDay = [...this.shared.counted].sort(([a], [b]) => (dayOfKey(a) < dayOfKey(b) ? -1 : 1));
    for (const [key, set] of byDay) {
      if (this.shared.persons <= COUNTED_PERSONS_MAX) break;
      this.forget(key, set);
    }
  }

  private forget(key: string, set: Set<string>): void {
    this.shared.counted.delete(key);
    this.shared.persons -= set.size;
  }

  private dataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }
}

/** Whether `personId` is counted on the compound's day, from the table alone (tests, repairs). */
export function isCountedOnDay(db: Database, compoundId: string, day: string, personId: string): boolean {
  return (
    db
      .prepare(`SELECT 1 FROM stats_daily_person_batches, json_each(person_ids)
        WHERE compound_id = ? AND day = ? AND json_each.value = ? LIMIT 1`)
      .get(compoundId, day, personId) !== undefined
  );
}
