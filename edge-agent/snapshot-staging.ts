/**
 * A snapshot being received (docs/edge-agent.md "Sync"), staged in SQLite part by part so that it
 * survives a restart, and swapped in at once when every part is in.
 *
 * Persons, their cards, health colours and revoked passes are staged as rows in tables of the
 * replica's own shape (`incoming_persons`, `incoming_person_cards`, `incoming_health`,
 * `incoming_revoked_passes`: the columns of gate-database.ts's `SWAPPED_TABLES`, without their
 * secondary indexes). The swap drops the replica's tables and renames the incoming ones into
 * place — no row is copied — then builds the secondary indexes in one sort each. Copying the rows
 * instead (`INSERT … SELECT` into the live tables, then deleting the staged ones) wrote every row
 * twice more and took a third of a 100 k-person snapshot's CPU (BENCHMARKS.md).
 *
 * A person's cards are staged with its record, from the same checked object and in the same
 * transaction, so they always match the record they came from: a card named by two records goes
 * to the later one, as with upserts; a record staged again (or a person deleted) first takes its
 * earlier record's cards out. Deriving the cards at the swap instead (`json_each` over every
 * record) read all 100 k records once more at the one moment nothing else could run (BENCHMARKS.md).
 * Mode, quota policy and the other few settings-like
 * changes are staged as JSON in `staged_settings` and applied in part order by the caller.
 *
 * DDL is transactional in SQLite, so the swap is as atomic as the copy was; prepared statements on
 * the swapped tables are prepared again by SQLite on their next run (schema change).
 */
import type { Change, PersonRecord } from '../shared/schemas/mqtt.ts';
import { type GateDatabase, SWAPPED_TABLES } from './gate-database.ts';

const INCOMING = 'incoming_';

/**
 * Staged persons and health colours go in by multi-row `INSERT`s of this many rows: one statement
 * run per 50 rows instead of one per row took the staging inserts of 100 k persons from ≈ 0.3 to
 * ≈ 0.2 s of CPU (BENCHMARKS.md). A part's rows beyond the last full batch go in one by one.
 */
const BATCH_ROWS = 50;
const rowsOf = (columns: number, rows: number) =>
  Array(rows)
    .fill(`(${Array(columns).fill('?').join(', ')})`)
    .join(', ');

/** Staging tables of earlier versions, in a different shape: dropped, with what they held. */
const OLD_STAGING = ['snapshot_parts', 'staged_persons', 'staged_health', 'staged_revoked_passes'];

const STAGING_SCHEMA = `
CREATE TABLE IF NOT EXISTS staged_parts (
  snapshot_rev INTEGER NOT NULL, part INTEGER NOT NULL, parts INTEGER NOT NULL, PRIMARY KEY (snapshot_rev, part));
-- Mode, quota policy, gate settings, exit uses and supply changes of the snapshot (a handful),
-- applied in part order at the swap.
CREATE TABLE IF NOT EXISTS staged_settings (
  part INTEGER NOT NULL, idx INTEGER NOT NULL, change TEXT NOT NULL, PRIMARY KEY (part, idx));
${Object.entries(SWAPPED_TABLES)
  .map(([name, { columns }]) => `CREATE TABLE IF NOT EXISTS ${INCOMING}${name} (${columns});`)
  .join('\n')}
`;

/** The names of those of `names` that are tables of the database now. */
function tablesAmong(db: GateDatabase, names: readonly string[]): string[] {
  return db
    .prepare<string[], { name: string }>(
      `SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN (${names.map(() => '?').join(', ')})`,
    )
    .all(...names)
    .map((row) => row.name);
}

/**
 * Creates the staging tables. A database staged by an earlier version starts its snapshot again:
 * one whose staging tables had another shape, or that had no table for a part of what is staged
 * now (its staged persons' cards, say, were never kept).
 */
function ensureStagingSchema(db: GateDatabase): void {
  db.transaction(() => {
    const old = tablesAmong(db, OLD_STAGING);
    const incoming = Object.keys(SWAPPED_TABLES).map((name) => `${INCOMING}${name}`);
    const missing = incoming.length - tablesAmong(db, incoming).length;
    db.exec(STAGING_SCHEMA);
    for (const name of old) db.exec(`DROP TABLE ${name}`);
    if (old.length === 0 && missing === 0) return;
    // What they held is gone or incomplete: the parts it belonged to are not staged any more.
    db.exec(
      ['DELETE FROM staged_parts', 'DELETE FROM staged_settings', ...incoming.map((t) => `DELETE FROM ${t}`)].join(';'),
    );
  })();
}

function prepareStagingStatements(db: GateDatabase) {
  return {
    info: db.prepare<[], { snapshot_rev: number; parts: number; received: number }>(
      'SELECT snapshot_rev, MAX(parts) AS parts, COUNT(*) AS received FROM staged_parts GROUP BY snapshot_rev',
    ),
    part: db.prepare<[number, number], { one: number }>(
      'SELECT 1 AS one FROM staged_parts WHERE snapshot_rev = ? AND part = ?',
    ),
    addPart: db.prepare<[number, number, number]>(
      'INSERT INTO staged_parts (snapshot_rev, part, parts) VALUES (?, ?, ?)',
    ),
    // A person staged a second time (never in the cloud's snapshots) takes the slower path: restage.
    person: db.prepare<[string, string | null, string]>(
      `INSERT INTO ${INCOMING}persons (person_id, id_hash, record) VALUES (?, ?, ?) ON CONFLICT (person_id) DO NOTHING`,
    ),
    persons: db.prepare<[(string | null)[]]>(
      `INSERT INTO ${INCOMING}persons (person_id, id_hash, record) VALUES ${rowsOf(3, BATCH_ROWS)} ON CONFLICT (person_id) DO NOTHING`,
    ),
    restagePerson: db.prepare<[string | null, string, string]>(
      `UPDATE ${INCOMING}persons SET id_hash = ?, record = ? WHERE person_id = ?`,
    ),
    card: db.prepare<[string, string]>(
      `INSERT OR REPLACE INTO ${INCOMING}person_cards (card, person_id) VALUES (?, ?)`,
    ),
    // The cards a staged record named, where they are still its own (a later record may have taken one).
    unstageCards: db.prepare<[string, string]>(
      `DELETE FROM ${INCOMING}person_cards WHERE person_id = ? AND card IN (SELECT c.value FROM ${INCOMING}persons p, json_each(p.record, '$.cards') c WHERE p.person_id = ?)`,
    ),
    unstagePerson: db.prepare<[string]>(`DELETE FROM ${INCOMING}persons WHERE person_id = ?`),
    health: db.prepare<[string, string, number]>(
      `INSERT OR REPLACE INTO ${INCOMING}health (person_id, colour, ts) VALUES (?, ?, ?)`,
    ),
    // Rows of one statement are inserted in order: a later colour of the same person replaces an earlier one.
    healths: db.prepare<[(string | number)[]]>(
      `INSERT OR REPLACE INTO ${INCOMING}health (person_id, colour, ts) VALUES ${rowsOf(3, BATCH_ROWS)}`,
    ),
    unstageHealth: db.prepare<[string]>(`DELETE FROM ${INCOMING}health WHERE person_id = ?`),
    revoke: db.prepare<[string, number]>(`INSERT OR IGNORE INTO ${INCOMING}revoked_passes (pass_id, ts) VALUES (?, ?)`),
    setting: db.prepare<[number, number, string]>(
      'INSERT OR REPLACE INTO staged_settings (part, idx, change) VALUES (?, ?, ?)',
    ),
    settings: db.prepare<[], { change: string }>('SELECT change FROM staged_settings ORDER BY part, idx'),
    clear: [
      'DELETE FROM staged_parts',
      'DELETE FROM staged_settings',
      ...Object.keys(SWAPPED_TABLES).map((name) => `DELETE FROM ${INCOMING}${name}`),
    ].map((sql) => db.prepare(sql)),
  };
}

export interface StagedParts {
  snapshotRev: number;
  parts: number;
  received: number;
}

export class SnapshotStaging {
  private readonly stmt: ReturnType<typeof prepareStagingStatements>;
  /** Persons of the part not inserted yet, with their record texts and the batch's parameters. */
  private readonly persons: PersonRecord[] = [];
  private readonly personRows: (string | null)[] = [];
  /** Health colours of the part not inserted yet, as the batch's parameters. */
  private readonly healthRows: (string | number)[] = [];

  constructor(private readonly db: GateDatabase) {
    ensureStagingSchema(db);
    this.stmt = prepareStagingStatements(db);
  }

  /** The snapshot being staged: its rev, how many parts it has and how many are in. */
  info(): StagedParts | undefined {
    const row = this.stmt.info.get();
    return row ? { snapshotRev: row.snapshot_rev, parts: row.parts, received: row.received } : undefined;
  }

  hasPart(snapshotRev: number, part: number): boolean {
    return this.stmt.part.get(snapshotRev, part) !== undefined;
  }

  /** Stages one part's records (already checked by the caller) and marks the part as in. */
  stagePart(snapshotRev: number, part: number, parts: number, records: readonly Change[]): void {
    // Left over only by a part whose transaction failed (rolled back with what it had inserted).
    this.persons.length = 0;
    this.personRows.length = 0;
    this.healthRows.length = 0;
    for (let index = 0; index < records.length; index++) this.stage(records[index]!, part, index);
    this.flush();
    this.stmt.addPart.run(snapshotRev, part, parts);
  }

  private flush(): void {
    this.flushPersons();
    this.flushHealth();
  }

  /**
   * The persons held for a batch, then their cards in order (a card named by two records goes to
   * the later one, as with upserts: ON CONFLICT (card)). A batch that inserted fewer rows than it
   * had named a person staged before (or twice in it): each of its persons is then staged again
   * one by one, in order — the earlier record's own cards out, the record replaced, its cards in;
   * for a person the batch had just inserted that is the same record again.
   */
  private flushPersons(): void {
    const { persons, personRows } = this;
    const full = persons.length === BATCH_ROWS;
    if (persons.length === 0) return;
    if (full && this.stmt.persons.run(personRows).changes === BATCH_ROWS) {
      for (const person of persons) this.stageCards(person);
    } else {
      for (let i = 0; i < persons.length; i++) {
        const person = persons[i]!;
        const record = personRows[i * 3 + 2]!;
        if (full || this.stmt.person.run(person.personId, person.idHash, record).changes === 0) {
          this.stmt.unstageCards.run(person.personId, person.personId);
          this.stmt.restagePerson.run(person.idHash, record, person.personId);
        }
        this.stageCards(person);
      }
    }
    persons.length = 0;
    personRows.length = 0;
  }

  private stageCards(person: PersonRecord): void {
    for (const card of person.cards) this.stmt.card.run(card, person.personId);
  }

  private flushHealth(): void {
    const rows = this.healthRows;
    if (rows.length === BATCH_ROWS * 3) this.stmt.healths.run(rows);
    else
      for (let i = 0; i < rows.length; i += 3)
        this.stmt.health.run(rows[i] as string, rows[i + 1] as string, rows[i + 2] as number);
    rows.length = 0;
  }

  private stage(change: Change, part: number, index: number): void {
    switch (change.op) {
      case 'person.upsert': {
        const { person } = change;
        this.persons.push(person);
        this.personRows.push(person.personId, person.idHash, JSON.stringify(person));
        if (this.persons.length === BATCH_ROWS) this.flushPersons();
        return;
      }
      case 'person.delete':
        // Acts on what is staged so far (the cloud never sends one in a snapshot), held rows included.
        this.flush();
        this.stmt.unstageCards.run(change.personId, change.personId);
        this.stmt.unstagePerson.run(change.personId);
        this.stmt.unstageHealth.run(change.personId);
        return;
      case 'health':
        this.healthRows.push(change.personId, change.colour, change.ts);
        if (this.healthRows.length === BATCH_ROWS * 3) this.flushHealth();
        return;
      case 'pass.revoke':
        this.stmt.revoke.run(change.passId, change.ts);
        return;
      default:
        this.stmt.setting.run(part, index, JSON.stringify(change));
    }
  }

  /** The staged settings-like changes, as JSON texts in part order (for the caller to check and apply). */
  stagedSettings(): string[] {
    return this.stmt.settings.all().map((row) => row.change);
  }

  /**
   * Inside the swap's transaction: the staged persons, cards, health colours and revoked passes
   * become the replica's tables (the old ones are dropped), with their indexes, and empty staging
   * tables are made for the next snapshot. `staged_parts` and `staged_settings`
   * are left for `clear`.
   */
  swapIn(): void {
    for (const [name, { columns, indexes }] of Object.entries(SWAPPED_TABLES)) {
      this.db.exec(`DROP TABLE ${name}; ALTER TABLE ${INCOMING}${name} RENAME TO ${name};`);
      for (const index of indexes) this.db.exec(`CREATE INDEX ${index}`);
      this.db.exec(`CREATE TABLE ${INCOMING}${name} (${columns})`);
    }
  }

  /** Forgets every staged part and row. */
  clear(): void {
    for (const statement of this.stmt.clear) statement.run();
  }
}
