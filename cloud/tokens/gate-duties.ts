/**
 * What the cloud does once per gate whichever instance does it (docs/deploy.md, "Scaling out"):
 * every cloud instance subscribes the gates' statuses itself, so every instance sees the status
 * that makes a token due for renewal or an alarm due — and without a shared claim each would
 * renew the token and raise the alarm once (cloud/tokens/gate-token-renewal.ts).
 *
 * A claim is one row per (gate, duty) and one statement: an upsert that takes the row only when
 * its key changed (a new token expiry, a new contract) or its last claim is at least `everyMs`
 * old, and returns whether it did. On PostgreSQL a second instance claiming at the same moment
 * waits on the row's lock and then re-checks the condition against what the first wrote, so
 * exactly one of them gets `true`; on SQLite the single writer does the same.
 */
import type { Database } from 'better-sqlite3';
import type pg from 'pg';
import { type Migration, runMigrations } from '../store/migration-runner.ts';
import type { StoreEngine } from '../store/engine.ts';
import { migratedOnFirstUse } from '../store/postgres/pg-migrated.ts';
import { run, statement } from '../store/postgres/pg-pool.ts';

export type GateDuty = 'token-renewal' | 'token-alarm' | 'contract-alarm';

export interface GateDuties {
  /**
   * True for exactly one caller across every cloud instance on the database: when the duty's last
   * claim for the gate was under another `key`, at least `everyMs` before `now`, or never.
   */
  claim(gateId: string, duty: GateDuty, key: string, now: number, everyMs: number): Promise<boolean>;
  /** Notes what the last claim of a duty did (a renewal's command id and claims), for another instance to read. */
  note(gateId: string, duty: GateDuty, detail: string): Promise<void>;
  /** The last note of a duty, if any. */
  noted(gateId: string, duty: GateDuty): Promise<string | undefined>;
}

const TABLE = (idType: string, intType: string) => `
CREATE TABLE gate_duties (
  gate_id ${idType} NOT NULL,
  duty ${idType} NOT NULL,
  claim_key ${idType} NOT NULL,
  claimed_at ${intType} NOT NULL,
  PRIMARY KEY (gate_id, duty)
);`;

/**
 * The claim rule, one text for both engines (`$n` placeholders on PostgreSQL, `?` on SQLite): the
 * row is taken when its key changed or its last claim is at least `everyMs` old, and the statement
 * returns a row only then.
 */
function claimSql(param: (n: number) => string): string {
  return `INSERT INTO gate_duties AS t (gate_id, duty, claim_key, claimed_at) VALUES (${param(1)}, ${param(2)}, ${param(3)}, ${param(4)})
   ON CONFLICT (gate_id, duty) DO UPDATE SET claim_key = excluded.claim_key, claimed_at = excluded.claimed_at
   WHERE t.claim_key <> excluded.claim_key OR t.claimed_at <= excluded.claimed_at - ${param(5)}
   RETURNING 1 AS claimed`;
}

const migrations = (idType: string, intType: string): readonly Migration[] => [
  { version: 1, description: 'one claim per gate and duty (token renewal, alarms)', sql: TABLE(idType, intType) },
  { version: 2, description: "what a duty's last claim did", sql: 'ALTER TABLE gate_duties ADD COLUMN detail TEXT;' },
];

/** On SQLite: one instance writes the file, the statement is atomic under its write lock. */
export class SqliteGateDuties implements GateDuties {
  private readonly claimStmt;
  private readonly noteStmt;
  private readonly notedStmt;

  constructor(db: Database) {
    runMigrations(db, 'gate_duty_migrations', migrations('TEXT', 'INTEGER'));
    this.noteStmt = db.prepare<[string, string, string]>(
      'UPDATE gate_duties SET detail = ? WHERE gate_id = ? AND duty = ?',
    );
    this.notedStmt = db.prepare<[string, string], { detail: string | null }>(
      'SELECT detail FROM gate_duties WHERE gate_id = ? AND duty = ?',
    );
    this.claimStmt = db.prepare<[string, string, string, number, number], { claimed: number }>(claimSql(() => '?'));
  }

  async claim(gateId: string, duty: GateDuty, key: string, now: number, everyMs: number): Promise<boolean> {
    return this.claimStmt.get(gateId, duty, key, now, everyMs) !== undefined;
  }

  async note(gateId: string, duty: GateDuty, detail: string): Promise<void> {
    this.noteStmt.run(detail, gateId, duty);
  }

  async noted(gateId: string, duty: GateDuty): Promise<string | undefined> {
    return this.notedStmt.get(gateId, duty)?.detail ?? undefined;
  }
}

const claimPg = statement<[string, string, string, number, number], { claimed: number }>(
  'gate_duty_claim',
  claimSql((n) => (n === 5 ? '$5::int8' : `$${n}`)),
);

const notePg = statement<[string, string, string]>(
  'gate_duty_note',
  'UPDATE gate_duties SET detail = $1 WHERE gate_id = $2 AND duty = $3',
);
const notedPg = statement<[string, string], { detail: string | null }>(
  'gate_duty_noted',
  'SELECT detail FROM gate_duties WHERE gate_id = $1 AND duty = $2',
);

/** On PostgreSQL: shared by every cloud instance on the database. */
export class PgGateDuties implements GateDuties {
  private readonly ready: () => Promise<pg.Pool>;

  constructor(pool: pg.Pool) {
    this.ready = migratedOnFirstUse(pool, 'gate_duty_migrations', migrations('text', 'bigint'));
  }

  async claim(gateId: string, duty: GateDuty, key: string, now: number, everyMs: number): Promise<boolean> {
    return (await run(await this.ready(), claimPg, [gateId, duty, key, now, everyMs])).rowCount === 1;
  }

  async note(gateId: string, duty: GateDuty, detail: string): Promise<void> {
    await run(await this.ready(), notePg, [detail, gateId, duty]);
  }

  async noted(gateId: string, duty: GateDuty): Promise<string | undefined> {
    return (await run(await this.ready(), notedPg, [gateId, duty])).rows[0]?.detail ?? undefined;
  }
}

/** The claims on the cloud's database. */
export function openGateDuties(engine: StoreEngine): GateDuties {
  switch (engine.kind) {
    case 'sqlite':
      return new SqliteGateDuties(engine.db);
    case 'postgres':
      return new PgGateDuties(engine.pool);
  }
}
