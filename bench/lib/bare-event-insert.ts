/**
 * The floors beside `insertEvents` in bench/lib/store-insert.ts: the same rows, in the same batches
 * of one transaction each, with the same connection settings (WAL, `synchronous = NORMAL`, the
 * store's checkpoint interval: `openCloudDatabase`), through one prepared
 * `INSERT … ON CONFLICT (gate_id, seq) DO NOTHING` and no store code:
 * - into a table with only the exactly-once key `(gate_id, seq)` — what SQLite needs at the very
 *   least to store passages exactly once;
 * - into the store's own `events` table, every index of its schema included — what the schema
 *   costs, so that the store's own code is the difference to `insertEvents`.
 */
import { join } from 'node:path';
import type { Database, Statement } from 'better-sqlite3';
import { EVENT_COLUMN_COUNT, EVENT_COLUMNS, writeEventValues } from '../../cloud/store/event-columns.ts';
import { openCloudDatabase } from '../../cloud/store/sqlite/connection.ts';
import { flag } from '../../cloud/store/sqlite/rows.ts';
import type { StoredEvent } from '../../cloud/store/store.ts';

/** A table of the `events` columns with the `(gate_id, seq)` key and nothing else. */
const KEY_ONLY_TABLE = `CREATE TABLE events_key_only (
  id INTEGER PRIMARY KEY, gate_id TEXT NOT NULL, seq INTEGER NOT NULL, compound_id TEXT NOT NULL,
  ts INTEGER NOT NULL, direction TEXT NOT NULL, method TEXT NOT NULL, result TEXT NOT NULL,
  reason TEXT NOT NULL, person_id TEXT, id_hash TEXT, pass_id TEXT, health TEXT NOT NULL,
  mode TEXT NOT NULL, passed INTEGER, guard TEXT, decision_ms REAL NOT NULL, received_at INTEGER NOT NULL,
  open_reason TEXT, UNIQUE (gate_id, seq))`;

export type BareTable = 'key-only' | 'events-schema';

/** The values as the store binds them (one mapping: cloud/store/event-columns.ts). */
const rowOf = (e: StoredEvent): unknown[] => writeEventValues(new Array(EVENT_COLUMN_COUNT), e, flag);

function insertBatches(db: Database, insert: Statement<unknown[]>, rows: unknown[][], batch: number): void {
  const write = db.transaction((part: unknown[][]) => {
    for (const row of part) insert.run(row);
  });
  for (let i = 0; i < rows.length; i += batch) write(rows.slice(i, i + batch));
}

/**
 * Inserts `prefill` (not measured, `synchronous = OFF` as the store bench does), then `events` in
 * batches of `batch`; returns the CPU time (user + system) of the measured part in microseconds.
 * The rows are converted to parameter arrays before the clock starts.
 */
export function bareInsertCpuUs(options: {
  dir: string;
  table: BareTable;
  prefill: readonly StoredEvent[];
  events: readonly StoredEvent[];
  batch: number;
}): number {
  const db = openCloudDatabase(join(options.dir, `bare-${options.table}.db`));
  try {
    let table = 'events';
    if (options.table === 'key-only') {
      db.exec(KEY_ONLY_TABLE);
      table = 'events_key_only';
    }
    const insert = db.prepare<unknown[]>(
      `INSERT INTO ${table} (${EVENT_COLUMNS}) VALUES (${new Array(EVENT_COLUMN_COUNT).fill('?').join(', ')})
       ON CONFLICT (gate_id, seq) DO NOTHING`,
    );
    if (options.prefill.length > 0) {
      db.pragma('synchronous = OFF');
      insertBatches(db, insert, options.prefill.map(rowOf), 50_000);
      db.pragma('synchronous = NORMAL');
      db.pragma('wal_checkpoint(TRUNCATE)');
    }
    const rows = options.events.map(rowOf);
    const cpu = process.cpuUsage();
    insertBatches(db, insert, rows, options.batch);
    const used = process.cpuUsage(cpu);
    return used.user + used.system;
  } finally {
    db.close();
  }
}
