/**
 * The gate's one SQLite file (WAL): the replica, the gate's own counters and the event journal
 * live together so that "journal this passage and count it against the quota" is one transaction.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { privateDir, privateFiles, sqliteFiles } from '../shared/private-files.ts';

export type GateDatabase = Database.Database;

export const GATE_DB_FILE = 'gate.db';
/** SQLite page cache of the gate database, KiB. */
const PAGE_CACHE_KIB = 4_000;

/**
 * The cloud's tables that a snapshot replaces wholesale, with their indexes. A snapshot is staged
 * in tables of the same shape (`incoming_<name>`, edge-agent/snapshot-staging.ts) that the swap
 * renames into place, so the two are declared once, here.
 */
export const SWAPPED_TABLES = {
  persons: {
    columns: 'person_id TEXT PRIMARY KEY, id_hash TEXT, record TEXT NOT NULL',
    indexes: ['persons_by_id_hash ON persons (id_hash)'],
  },
  health: { columns: 'person_id TEXT PRIMARY KEY, colour TEXT NOT NULL, ts INTEGER NOT NULL', indexes: [] },
  revoked_passes: { columns: 'pass_id TEXT PRIMARY KEY, ts INTEGER NOT NULL', indexes: [] },
  // Staged from the records they come from, in the same transaction, so they always match them.
  person_cards: {
    columns: 'card TEXT PRIMARY KEY, person_id TEXT NOT NULL',
    indexes: ['person_cards_by_person ON person_cards (person_id)'],
  },
} as const satisfies Record<string, { columns: string; indexes: readonly string[] }>;

const SWAPPED_SCHEMA = Object.entries(SWAPPED_TABLES)
  .map(([name, { columns, indexes }]) =>
    [
      `CREATE TABLE IF NOT EXISTS ${name} (${columns});`,
      ...indexes.map((index) => `CREATE INDEX IF NOT EXISTS ${index};`),
    ].join('\n'),
  )
  .join('\n');

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

${SWAPPED_SCHEMA}

CREATE TABLE IF NOT EXISTS pass_uses (pass_id TEXT PRIMARY KEY, uses INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS household_exits (id INTEGER PRIMARY KEY, household_id TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS household_exits_by_household ON household_exits (household_id, at);
CREATE TABLE IF NOT EXISTS last_direction (person_id TEXT PRIMARY KEY, direction TEXT NOT NULL, at INTEGER NOT NULL);

CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, event TEXT NOT NULL, final INTEGER NOT NULL);
`;

/** Opens (creating if needed) `<dataDir>/gate.db`, or an in-memory database for `':memory:'`. */
export function openGateDatabase(dataDir: string, options: { synchronous?: 'full' | 'normal' } = {}): GateDatabase {
  let file = ':memory:';
  if (dataDir !== ':memory:') {
    // Pseudonyms, masked names and the journal: the owner's only (docs/security.md).
    privateDir(dataDir);
    file = join(dataDir, GATE_DB_FILE);
  }
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
  db.pragma('foreign_keys = OFF');
  // better-sqlite3 builds SQLite with a 16 MB page cache; every lookup of a decision is an indexed
  // get a few pages deep, and the OS page cache holds the file anyway. 4 MB keeps the interior
  // pages of the replica's indexes (what every lookup walks) and leaves 12 MB off the gate's RSS.
  db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
  db.exec(SCHEMA);
  if (file !== ':memory:') privateFiles(sqliteFiles(file));
  return db;
}

/** Typed access to the `meta` key/value table. */
export class MetaTable {
  private readonly getStmt: Database.Statement<[string], { value: string }>;
  private readonly setStmt: Database.Statement<[string, string]>;
  private readonly deleteStmt: Database.Statement<[string]>;

  constructor(db: GateDatabase) {
    this.getStmt = db.prepare('SELECT value FROM meta WHERE key = ?');
    this.setStmt = db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    );
    this.deleteStmt = db.prepare('DELETE FROM meta WHERE key = ?');
  }

  get(key: string): string | undefined {
    return this.getStmt.get(key)?.value;
  }

  getNumber(key: string): number | undefined {
    const value = this.get(key);
    return value === undefined ? undefined : Number(value);
  }

  set(key: string, value: string | number): void {
    this.setStmt.run(key, String(value));
  }

  delete(key: string): void {
    this.deleteStmt.run(key);
  }
}
