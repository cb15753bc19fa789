/**
 * Who is elderly, for the statistics rollup (rollup-writer.ts): the flag of each person the ingest
 * has seen, remembered across batches instead of read from `residents` once per person and batch
 * (one indexed read each, ≈ 2 µs per passage of the ingest's cost).
 *
 * The memory stays exact because it forgets a person as soon as their `residents` row may have
 * changed its flag:
 * - this connection's writes: temporary triggers on `residents` (insert, delete, an update that
 *   names `elderly` or `person_id`) note the person in a temporary table, which the next batch
 *   reads and empties; a write that rolls back takes its note with it, and its change too;
 * - another connection's commits (another process on the same file): `PRAGMA data_version`
 *   moves, and everything is forgotten.
 * Temporary objects live and die with the connection and are never written to the file. Each
 * instance has its own note table, so two writers on one connection never take each other's notes.
 */
import type { Database, Statement } from 'better-sqlite3';

/** Persons remembered at most; beyond it the memory starts again (≈ 100 bytes each). */
const REMEMBERED_MAX = 1_000_000;

let instances = 0;

export class ElderlyFlags {
  private readonly known = new Map<string, boolean>();
  private readonly read: Statement<[string], { elderly: number }>;
  private readonly notes: Statement<[], { person_id: string }>;
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
    this.read = db.prepare('SELECT elderly FROM residents WHERE person_id = ?');
    this.notes = db.prepare(`SELECT person_id FROM temp.${notes}`);
    this.clearNotes = db.prepare(`DELETE FROM temp.${notes}`);
    this.dataVersion = this.currentDataVersion();
  }

  /**
   * Drops what may be out of date: the persons noted since the last call, or everything when
   * another connection committed. Call once per batch, before `isElderly`.
   */
  refresh(): void {
    const version = this.currentDataVersion();
    if (version !== this.dataVersion || this.known.size > REMEMBERED_MAX) {
      this.dataVersion = version;
      this.known.clear();
    }
    const changed = this.notes.all();
    if (changed.length === 0) return;
    for (const { person_id } of changed) this.known.delete(person_id);
    this.clearNotes.run();
  }

  /** The person's `residents.elderly` now; false for a person with no row. */
  isElderly(personId: string): boolean {
    let flag = this.known.get(personId);
    if (flag === undefined) {
      flag = this.read.get(personId)?.elderly === 1;
      this.known.set(personId, flag);
    }
    return flag;
  }

  private currentDataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }
}
