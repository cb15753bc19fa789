/**
 * A snapshot being received (docs/edge-agent.md "Sync"), staged in SQLite part by part so that it
 * survives a restart, and swapped in at once when every part is in.
 *
 * Persons, health colours and revoked passes are staged as rows in tables of the replica's own
 * shape (`incoming_persons`, `incoming_health`, `incoming_revoked_passes`: the columns of
 * gate-database.ts's `SWAPPED_TABLES`, without their secondary indexes). The swap drops the
 * replica's tables and renames the incoming ones into place — no row is copied — then builds the
 * secondary indexes in one sort each and the cards from the records (`json_each`), so that cards
 * always match the records they came from. Copying the rows instead (`INSERT … SELECT` into the
 * live tables, then deleting the staged ones) wrote every row twice more and took a third of a
 * 100 k-person snapshot's CPU (BENCHMARKS.md). Mode, quota policy and the other few settings-like
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

/** Creates the staging tables; a database staged by an earlier version starts its snapshot again. */
function ensureStagingSchema(db: GateDatabase): void {
  db.transaction(() => {
    const old = db
      .prepare<string[], { name: string }>(
        `SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN (${OLD_STAGING.map(() => '?').join(', ')})`,
      )
      .all(...OLD_STAGING);
    db.exec(STAGING_SCHEMA);
    if (old.length === 0) return;
    for (const { name } of old) db.exec(`DROP TABLE ${name}`);
    // Their rows are gone: the parts they belonged to are not staged any more.
    db.exec('DELETE FROM staged_parts; DELETE FROM staged_settings;');
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
    person: db.prepare<[string, string | null, string]>(
      `INSERT OR REPLACE INTO ${INCOMING}persons (person_id, id_hash, record) VALUES (?, ?, ?)`,
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
    clearCards: db.prepare('DELETE FROM person_cards'),
    // A card named by two records goes to the later one, as with upserts (ON CONFLICT (card)).
    cardsFromPersons: db.prepare(
      "INSERT OR REPLACE INTO person_cards (card, person_id) SELECT c.value, p.person_id FROM persons p, json_each(p.record, '$.cards') c",
    ),
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
        this.stmt.person.run(person.personId, person.idHash, JSON.stringify(person));
        return;
      }
      case 'person.delete':
        // Acts on what is staged so far (the cloud never sends one in a snapshot).
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
   * Inside the swap's transaction: the staged persons, health colours and revoked passes become the
   * replica's tables (the old ones are dropped), with their indexes and the cards of the records,
   * and empty staging tables are made for the next snapshot. `staged_parts` and `staged_settings`
   * are left for `clear`.
   */
  swapIn(): void {
    for (const [name, { columns, indexes }] of Object.entries(SWAPPED_TABLES)) {
      this.db.exec(`DROP TABLE ${name}; ALTER TABLE ${INCOMING}${name} RENAME TO ${name};`);
      for (const index of indexes) this.db.exec(`CREATE INDEX ${index}`);
      this.db.exec(`CREATE TABLE ${INCOMING}${name} (${columns})`);
    }
    this.stmt.clearCards.run();
    this.stmt.cardsFromPersons.run();
  }

  /** Forgets every staged part and row. */
  clear(): void {
    for (const statement of this.stmt.clear) statement.run();
  }
}
