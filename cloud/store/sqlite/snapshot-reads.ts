/**
 * A compound's snapshot on SQLite, streamed (`RegistryStore.readSnapshot`, docs/cloud.md "Sync
 * protocol"). SQLite writes each resident's record JSON itself (`json_object`): one string per row
 * crosses into JavaScript instead of a row object that is mapped, then serialised — the read was
 * the cloud's largest cost in a 100 k-person snapshot.
 *
 * On a database file the read runs on a read-only connection of its own, in one read transaction
 * (WAL: consistent at the rev it starts with, never blocking the writer), a page of 1000 residents
 * at a time, handing the event loop back between pages: the first part goes to the gate while the
 * rest is read, and ingest keeps running. Reads take turns on that connection. On `:memory:` (one
 * connection, tests) the whole read is one synchronous transaction, delivered afterwards.
 */
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import { NotFoundError } from '../../cloud-errors.ts';
import {
  headRecords,
  recordCount,
  revokeRecord,
  SNAPSHOT_PAGE_ROWS,
  SnapshotCountMismatchError,
} from '../snapshot-records.ts';
import type { SnapshotSink } from '../store.ts';
import { type CompoundRow, compoundOfRow, type GateRow, gateOfRow } from '../store-rows.ts';

/** A resident's `person.upsert` as the gate reads it: `personRecordOf` (cloud/store/store.ts), in SQL. */
const PERSON_UPSERT_JSON = `json_object('op', 'person.upsert', 'person', json_object(
  'personId', person_id, 'compoundId', compound_id, 'householdId', household_id, 'kind', kind,
  'idHash', id_hash, 'maskedName', masked_name, 'cards', json(cards), 'validFrom', valid_from,
  'validTo', valid_to, 'active', json(CASE WHEN active = 1 THEN 'true' ELSE 'false' END),
  'elderly', json(CASE WHEN elderly = 1 THEN 'true' ELSE 'false' END)))`;
const HEALTH_JSON = `json_object('op', 'health', 'personId', person_id, 'colour', health, 'ts', health_ts)`;

type Page = Statement<[string, string, number], [string, string]>;

/** The statements of one connection. */
class SnapshotStatements {
  readonly compound: Statement<[string], CompoundRow>;
  readonly gates: Statement<[string], GateRow>;
  readonly revoked: Statement<[string, number], { pass_id: string; revoked_at: number }>;
  readonly counts: Statement<[string], { persons: number; health: number }>;
  /** Keyset pages by person id (`residents_by_compound`): [person_id, record JSON]. */
  readonly persons: Page;
  readonly health: Page;

  constructor(db: Database) {
    this.compound = db.prepare('SELECT * FROM compounds WHERE id = ?');
    this.gates = db.prepare('SELECT * FROM gates WHERE compound_id = ? AND settings IS NOT NULL ORDER BY id');
    this.revoked = db.prepare(`SELECT pass_id, revoked_at FROM passes
      WHERE compound_id = ? AND revoked_at IS NOT NULL AND expires_at > ? ORDER BY revoked_at, pass_id`);
    this.counts = db.prepare(
      'SELECT count(*) AS persons, count(health_ts) AS health FROM residents WHERE compound_id = ?',
    );
    this.persons = db
      .prepare(`SELECT person_id, ${PERSON_UPSERT_JSON} FROM residents
        WHERE compound_id = ? AND person_id > ? ORDER BY person_id LIMIT ?`)
      .raw() as unknown as Page;
    this.health = db
      .prepare(`SELECT person_id, ${HEALTH_JSON} FROM residents
        WHERE compound_id = ? AND person_id > ? AND health_ts IS NOT NULL ORDER BY person_id LIMIT ?`)
      .raw() as unknown as Page;
  }
}

type Step = { begin: { rev: number; records: number } } | { page: string[] };

/**
 * The read as synchronous steps (each one statement's work), so that a caller can run them all in
 * one transaction, or with the event loop in between.
 */
function* snapshotSteps(st: SnapshotStatements, compoundId: string, now: number): Generator<Step> {
  const row = st.compound.get(compoundId);
  if (!row) throw new NotFoundError('compound', compoundId);
  const head = headRecords(compoundOfRow(row), st.gates.all(compoundId).map(gateOfRow)).map((c) => JSON.stringify(c));
  const revoked = st.revoked.all(compoundId, now).map((r) => JSON.stringify(revokeRecord(r)));
  const counts = st.counts.get(compoundId) ?? { persons: 0, health: 0 };
  const announced = recordCount(head.length, counts.persons, counts.health, revoked.length);
  yield { begin: { rev: Number(row.rev), records: announced } };
  yield { page: head };
  let delivered = head.length + revoked.length;
  for (const statement of [st.persons, st.health]) {
    for (let after = ''; ; ) {
      const rows = statement.all(compoundId, after, SNAPSHOT_PAGE_ROWS);
      const last = rows[rows.length - 1];
      if (!last) break;
      delivered += rows.length;
      yield { page: rows.map((r) => r[1]) };
      if (rows.length < SNAPSHOT_PAGE_ROWS) break;
      after = last[0];
    }
  }
  yield { page: revoked };
  if (delivered !== announced) throw new SnapshotCountMismatchError(announced, delivered);
}

async function deliver(step: Step, sink: SnapshotSink): Promise<void> {
  if ('begin' in step) await sink.begin(step.begin.rev, step.begin.records);
  else if (step.page.length > 0) await sink.page(step.page);
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class SqliteSnapshotReads {
  /** The read-only connection (database files only), opened on first use. */
  private reader: { db: Database; statements: SnapshotStatements } | undefined;
  private mainStatements: SnapshotStatements | undefined;
  /** Reads take turns on the reader connection (one transaction at a time). */
  private turn: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly db: Database,
    private readonly path: string,
  ) {}

  read(compoundId: string, sink: SnapshotSink, now = Date.now()): Promise<void> {
    const run = this.turn.then(() =>
      this.path === ':memory:' || this.path === ''
        ? this.readAtOnce(compoundId, sink, now)
        : this.readStreaming(compoundId, sink, now),
    );
    this.turn = run.catch(() => undefined);
    return run;
  }

  /** Closes the reader connection; a read still waiting for its turn then fails, opening nothing. */
  close(): void {
    this.closed = true;
    if (this.reader?.db.open) this.reader.db.close();
    this.reader = undefined;
  }

  private async readAtOnce(compoundId: string, sink: SnapshotSink, now: number): Promise<void> {
    this.mainStatements ??= new SnapshotStatements(this.db);
    const statements = this.mainStatements;
    const steps = this.db.transaction(() => [...snapshotSteps(statements, compoundId, now)])();
    for (const step of steps) await deliver(step, sink);
  }

  private async readStreaming(compoundId: string, sink: SnapshotSink, now: number): Promise<void> {
    const { db, statements } = this.openReader();
    db.exec('BEGIN');
    try {
      for (const step of snapshotSteps(statements, compoundId, now)) {
        await deliver(step, sink);
        await nextTurn(); // acks, ingest and the parts already cut go out between pages
      }
    } finally {
      if (db.open && db.inTransaction) db.exec('ROLLBACK'); // read-only: nothing to keep
    }
  }

  private openReader(): { db: Database; statements: SnapshotStatements } {
    if (this.closed) throw new Error('the store is closed');
    if (!this.reader) {
      const db = new BetterSqlite3(this.path, { readonly: true, fileMustExist: true });
      db.pragma('busy_timeout = 5000');
      this.reader = { db, statements: new SnapshotStatements(db) };
    }
    return this.reader;
  }
}
