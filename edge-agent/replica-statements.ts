/**
 * The replica's own tables (beside gate-database.ts's schema) and every prepared statement
 * replica-store.ts runs, typed by their parameters and rows. Kept apart from the store's logic so
 * that the SQL reads as one list; the store is their only user.
 */
import type { Direction, HealthColour } from '../shared/enums.ts';
import type { GateDatabase } from './gate-database.ts';

/**
 * The gate's own table of reservations. Created here rather than in gate-database.ts's schema
 * because the replica store is its only reader and writer; it lives in the same file as the journal so
 * that reserving is part of the append's transaction. Indexed on every column a decision looks up.
 */
const RESERVATIONS_SCHEMA = `
CREATE TABLE IF NOT EXISTS passage_reservations (
  seq INTEGER PRIMARY KEY, direction TEXT NOT NULL, at INTEGER NOT NULL,
  pass_use TEXT, household_exit TEXT, passage_of TEXT);
CREATE INDEX IF NOT EXISTS passage_reservations_by_pass ON passage_reservations (pass_use)
  WHERE pass_use IS NOT NULL;
CREATE INDEX IF NOT EXISTS passage_reservations_by_household ON passage_reservations (household_exit, at)
  WHERE household_exit IS NOT NULL;
CREATE INDEX IF NOT EXISTS passage_reservations_by_person ON passage_reservations (passage_of, seq)
  WHERE passage_of IS NOT NULL;
`;

/**
 * Device passes (docs/passes.md, "Replays"): per pass, the time of the newest frame this gate let
 * through. One row per pass, not per passage; a row older than any frame window matters no more
 * and is pruned. Reservations carry a pending passage's frame in two columns added
 * to `passage_reservations` (ALTER for a gate database made before them).
 */
const DEVICE_FRAMES_SCHEMA = `
CREATE TABLE IF NOT EXISTS device_frames (pass_id TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS device_frames_by_at ON device_frames (at);
`;
const RESERVATION_FRAME_COLUMNS = ['frame_pass TEXT', 'frame_at INTEGER'];
const RESERVATION_FRAME_INDEX = `
CREATE INDEX IF NOT EXISTS passage_reservations_by_frame ON passage_reservations (frame_pass, frame_at)
  WHERE frame_pass IS NOT NULL;
`;
/**
 * Other gates' uses of household exit quotas, relayed by the cloud (`exit.use` changes, docs/edge-agent.md
 * "Exit quota across the compound"). Keyed by (gate, seq): a use delivered twice (a live delta and
 * a snapshot) counts once. This gate's own uses are in `household_exits` and are not stored here.
 */
const RELAYED_EXITS_SCHEMA = `
CREATE TABLE IF NOT EXISTS relayed_exits (
  gate_id TEXT NOT NULL, seq INTEGER NOT NULL, household_id TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (gate_id, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS relayed_exits_by_household ON relayed_exits (household_id, at);
`;

/** Creates the replica's own tables, and adds the columns a database made before them lacks. */
export function ensureReplicaSchema(db: GateDatabase): void {
  db.exec(RESERVATIONS_SCHEMA);
  db.exec(RELAYED_EXITS_SCHEMA);
  db.exec(DEVICE_FRAMES_SCHEMA);
  const columns = new Set(
    db
      .prepare<[], { name: string }>("SELECT name FROM pragma_table_info('passage_reservations')")
      .all()
      .map((c) => c.name),
  );
  for (const column of RESERVATION_FRAME_COLUMNS) {
    if (!columns.has(column.split(' ')[0]!)) db.exec(`ALTER TABLE passage_reservations ADD COLUMN ${column}`);
  }
  db.exec(RESERVATION_FRAME_INDEX);
}

export type ReplicaStatements = ReturnType<typeof prepareReplicaStatements>;

export function prepareReplicaStatements(db: GateDatabase) {
  return { ...decisionReads(db), ...passageEffects(db), ...changeWrites(db), ...snapshotStaging(db) };
}

/** What a decision reads: one indexed lookup or a sum of a few (the path of rule 1). */
function decisionReads(db: GateDatabase) {
  return {
    personById: db.prepare<[string], { record: string }>('SELECT record FROM persons WHERE person_id = ?'),
    personByIdHash: db.prepare<[string], { record: string }>('SELECT record FROM persons WHERE id_hash = ? LIMIT 1'),
    personByCard: db.prepare<[string], { record: string }>(
      'SELECT p.record FROM person_cards c JOIN persons p ON p.person_id = c.person_id WHERE c.card = ?',
    ),
    health: db.prepare<[string], { colour: HealthColour }>('SELECT colour FROM health WHERE person_id = ?'),
    revoked: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM revoked_passes WHERE pass_id = ?'),
    // Confirmed plus reserved, each one statement of two indexed lookups (the decision path).
    passUses: db.prepare<[string, string], { n: number }>(
      'SELECT IFNULL((SELECT uses FROM pass_uses WHERE pass_id = ?), 0) + ' +
        '(SELECT COUNT(*) FROM passage_reservations WHERE pass_use = ?) AS n',
    ),
    // A pending passage is the person's latest; without one, the last confirmed.
    lastDirection: db.prepare<[string, string], { direction: Direction | null }>(
      'SELECT IFNULL((SELECT direction FROM passage_reservations WHERE passage_of = ? ORDER BY seq DESC LIMIT 1), ' +
        '(SELECT direction FROM last_direction WHERE person_id = ?)) AS direction',
    ),
    // This gate's confirmed exits, its reservations, and the other gates' relayed uses: three indexed counts.
    householdExits: db.prepare<[string, number, string, number, string, number], { n: number }>(
      'SELECT (SELECT COUNT(*) FROM household_exits WHERE household_id = ? AND at >= ?) + ' +
        '(SELECT COUNT(*) FROM passage_reservations WHERE household_exit = ? AND at >= ?) + ' +
        '(SELECT COUNT(*) FROM relayed_exits WHERE household_id = ? AND at >= ?) AS n',
    ),
    // The confirmed mark or the newest pending frame, whichever is later: two indexed lookups.
    lastFrameAt: db.prepare<[string, string], { at: number | null }>(
      'SELECT MAX(IFNULL((SELECT at FROM device_frames WHERE pass_id = ?), -1), ' +
        'IFNULL((SELECT MAX(frame_at) FROM passage_reservations WHERE frame_pass = ?), -1)) AS at',
    ),
  };
}

/** A passage's effects: reservations while it is pending, frame marks, relayed exits. */
function passageEffects(db: GateDatabase) {
  return {
    markFrame: db.prepare<[string, number]>(
      'INSERT INTO device_frames (pass_id, at) VALUES (?, ?) ' +
        'ON CONFLICT (pass_id) DO UPDATE SET at = MAX(at, excluded.at)',
    ),
    pruneFrames: db.prepare<[number]>('DELETE FROM device_frames WHERE at < ?'),
    relayExit: db.prepare<[string, number, string, number]>(
      'INSERT OR IGNORE INTO relayed_exits (gate_id, seq, household_id, at) VALUES (?, ?, ?, ?)',
    ),
    pruneRelayedExits: db.prepare<[number]>('DELETE FROM relayed_exits WHERE at < ?'),
    reserve: db.prepare<
      [number, string, number, string | null, string | null, string | null, string | null, number | null]
    >(
      'INSERT INTO passage_reservations (seq, direction, at, pass_use, household_exit, passage_of, frame_pass, frame_at) ' +
        'VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    release: db.prepare<
      [number],
      {
        pass_use: string | null;
        household_exit: string | null;
        passage_of: string | null;
        frame_pass: string | null;
        frame_at: number | null;
      }
    >(
      'DELETE FROM passage_reservations WHERE seq = ? RETURNING pass_use, household_exit, passage_of, frame_pass, frame_at',
    ),
  };
}

/** The cloud's changes and the gate's own counters. */
function changeWrites(db: GateDatabase) {
  return {
    upsertPerson: db.prepare<[string, string | null, string]>(
      'INSERT INTO persons (person_id, id_hash, record) VALUES (?, ?, ?) ' +
        'ON CONFLICT (person_id) DO UPDATE SET id_hash = excluded.id_hash, record = excluded.record',
    ),
    deletePerson: db.prepare<[string]>('DELETE FROM persons WHERE person_id = ?'),
    deleteCardsOf: db.prepare<[string]>('DELETE FROM person_cards WHERE person_id = ?'),
    upsertCard: db.prepare<[string, string]>(
      'INSERT INTO person_cards (card, person_id) VALUES (?, ?) ON CONFLICT (card) DO UPDATE SET person_id = excluded.person_id',
    ),
    setHealth: db.prepare<[string, string, number]>(
      'INSERT INTO health (person_id, colour, ts) VALUES (?, ?, ?) ' +
        'ON CONFLICT (person_id) DO UPDATE SET colour = excluded.colour, ts = excluded.ts',
    ),
    deleteHealth: db.prepare<[string]>('DELETE FROM health WHERE person_id = ?'),
    revoke: db.prepare<[string, number]>('INSERT OR IGNORE INTO revoked_passes (pass_id, ts) VALUES (?, ?)'),
    countPass: db.prepare<[string]>(
      'INSERT INTO pass_uses (pass_id, uses) VALUES (?, 1) ON CONFLICT (pass_id) DO UPDATE SET uses = uses + 1',
    ),
    countExit: db.prepare<[string, number]>('INSERT INTO household_exits (household_id, at) VALUES (?, ?)'),
    pruneExits: db.prepare<[number]>('DELETE FROM household_exits WHERE at < ?'),
    setDirection: db.prepare<[string, string, number]>(
      'INSERT INTO last_direction (person_id, direction, at) VALUES (?, ?, ?) ' +
        'ON CONFLICT (person_id) DO UPDATE SET direction = excluded.direction, at = excluded.at',
    ),
  };
}

/** What a snapshot swap (edge-agent/snapshot-staging.ts does the staging) and its callers need beside. */
function snapshotStaging(db: GateDatabase) {
  return {
    countPersons: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM persons'),
    clearGateSettings: db.prepare<[string]>('DELETE FROM meta WHERE key LIKE ?'),
  };
}
