/**
 * Who is elderly, for the statistics rollup (rollup-writer.ts): the set of every resident flagged
 * elderly, read in one scan of `residents` and then kept up to date, so that the flag of a passage
 * is one look-up in a set of the elderly alone — no statement per person, and a set far smaller
 * (and so far better held in the CPU's caches) than one of everybody seen. Reading each new
 * person's row, and then remembering everybody's flag, cost ≈ 2 µs per passage of a new person and
 * a look-up in a map of every person for each of the others.
 *
 * The set stays exact because every change of a `residents` row that may move a flag is seen:
 * - this connection's writes: temporary triggers on `residents` (insert, delete, an update that
 *   names `elderly` or `person_id`) note the person in a temporary table; the next batch reads the
 *   notes, reads those persons' rows again and empties the notes. A write that rolls back takes its
 *   note with it, and its change too;
 * - another connection's commits (another process on the same file, such as an `anxin` admin
 *   command): `PRAGMA data_version` moves, and the set is read again in full.
 * Temporary objects live and die with the connection and are never written to the file. Each
 * instance has its own note table, so two writers on one connection never take each other's notes.
 */
import type { Database, Statement } from 'better-sqlite3';

/** Notes beyond which the whole set is read again rather than each noted row (a bulk import). */
const REREAD_ALL_NOTES = 2_000;

let instances = 0;

export class ElderlyFlags {
  private elderly: Set<string> | undefined;
  private readonly readAll: Statement<[], string>;
  private readonly readOne: Statement<[string], number>;
  private readonly notes: Statement<[], string>;
  private readonly clearNotes: Statement<[]>;
  private dataVersion: number;

  constructor(private readonly db: Database) {
    instances += 1;
    const notes = `rollup_elderly_changed_${instances}`;
    const note = (who: string) => `BEGIN INSERT INTO ${notes} (person_id) VALUES ${who}; END`;
    db.exec(`CREATE TEMP TABLE ${notes} (person_id TEXT NOT NULL);
      CREATE TEMP TRIGGER ${notes}_insert AFTER INSERT ON main.residents ${note('(new.person_id)')};
      CREATE TEMP TRIGGER ${notes}_delete AFTER DELETE ON main.residents ${note('(old.person_id)')};
      CREATE TEMP TRIGGER ${notes}_update AFTER UPDATE OF elderly, person_id ON main.residents
        ${note('(old.person_id), (new.person_id)')};`);
    this.readAll = db.prepare<[], string>('SELECT person_id FROM residents WHERE elderly = 1').pluck();
    this.readOne = db.prepare<[string], number>('SELECT elderly FROM residents WHERE person_id = ?').pluck();
    this.notes = db.prepare<[], string>(`SELECT DISTINCT person_id FROM temp.${notes}`).pluck();
    this.clearNotes = db.prepare(`DELETE FROM temp.${notes}`);
    this.dataVersion = this.currentDataVersion();
  }

  /**
   * Brings the set up to date: the persons noted since the last call are read again, or the whole
   * set when another connection committed. Call once per batch, before `isElderly`.
   */
  refresh(): void {
    const version = this.currentDataVersion();
    if (version !== this.dataVersion) {
      this.dataVersion = version;
      this.elderly = undefined;
    }
    const changed = this.notes.all();
    if (changed.length > 0) this.clearNotes.run();
    const elderly = this.elderly;
    if (elderly === undefined || changed.length > REREAD_ALL_NOTES) {
      this.elderly = new Set(this.readAll.all());
      return;
    }
    for (const personId of changed) {
      if (this.readOne.get(personId) === 1) elderly.add(personId);
      else elderly.delete(personId);
    }
  }

  /** The person's `residents.elderly` as of the last `refresh`; false for a person with no row. */
  isElderly(personId: string): boolean {
    this.elderly ??= new Set(this.readAll.all());
    return this.elderly.has(personId);
  }

  private currentDataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }
}
