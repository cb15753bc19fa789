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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS persons (person_id TEXT PRIMARY KEY, id_hash TEXT, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS persons_by_id_hash ON persons (id_hash);
CREATE TABLE IF NOT EXISTS person_cards (card TEXT PRIMARY KEY, person_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS person_cards_by_person ON person_cards (person_id);
CREATE TABLE IF NOT EXISTS health (person_id TEXT PRIMARY KEY, colour TEXT NOT NULL, ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS revoked_passes (pass_id TEXT PRIMARY KEY, ts INTEGER NOT NULL);

CREATE TABLE IF NOT EXISTS pass_uses (pass_id TEXT PRIMARY KEY, uses INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS household_exits (id INTEGER PRIMARY KEY, household_id TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS household_exits_by_household ON household_exits (household_id, at);
CREATE TABLE IF NOT EXISTS last_direction (person_id TEXT PRIMARY KEY, direction TEXT NOT NULL, at INTEGER NOT NULL);

-- A snapshot being received (only one at a time): which parts are in, and their rows already in
-- the replica's own shape, so the swap is a few INSERT … SELECT in one transaction (no re-parsing).
-- The staging tables of earlier versions held each part as one JSON text; they are dropped.
DROP TABLE IF EXISTS snapshot_parts;
CREATE TABLE IF NOT EXISTS staged_parts (
  snapshot_rev INTEGER NOT NULL, part INTEGER NOT NULL, parts INTEGER NOT NULL, PRIMARY KEY (snapshot_rev, part));
-- WITHOUT ROWID: one b-tree per staging table instead of two. Cards are not staged: the swap
-- takes them from the staged records themselves (json_each), so they always match them.
CREATE TABLE IF NOT EXISTS staged_persons (
  person_id TEXT PRIMARY KEY, id_hash TEXT, record TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS staged_health (
  person_id TEXT PRIMARY KEY, colour TEXT NOT NULL, ts INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS staged_revoked_passes (pass_id TEXT PRIMARY KEY, ts INTEGER NOT NULL) WITHOUT ROWID;
-- Mode and quota-policy changes of the snapshot (a handful), applied in part order at the swap.
CREATE TABLE IF NOT EXISTS staged_settings (
  part INTEGER NOT NULL, idx INTEGER NOT NULL, change TEXT NOT NULL, PRIMARY KEY (part, idx));

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
