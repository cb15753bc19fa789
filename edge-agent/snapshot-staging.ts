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
import type { Change } from '../shared/schemas/mqtt.ts';
import { type GateDatabase, SWAPPED_TABLES } from './gate-database.ts';

const INCOMING = 'incoming_';

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
    for (let index = 0; index < records.length; index++) this.stage(records[index]!, part, index);
    this.stmt.addPart.run(snapshotRev, part, parts);
  }

  private stage(change: Change, part: number, index: number): void {
    switch (change.op) {
      case 'person.upsert': {
        const { person } = change;
        const record = JSON.stringify(person);
        if (this.stmt.person.run(person.personId, person.idHash, record).changes === 0) {
          this.stmt.unstageCards.run(person.personId, person.personId);
          this.stmt.restagePerson.run(person.idHash, record, person.personId);
        }
        // A card named by two records goes to the later one, as with upserts (ON CONFLICT (card)).
        for (const card of person.cards) this.stmt.card.run(card, person.personId);
        return;
      }
      case 'person.delete':
        // Acts on what is staged so far (the cloud never sends one in a snapshot).
        this.stmt.unstageCards.run(change.personId, change.personId);
        this.stmt.unstagePerson.run(change.personId);
        this.stmt.unstageHealth.run(change.personId);
        return;
      case 'health':
        this.stmt.health.run(change.personId, change.colour, change.ts);
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
