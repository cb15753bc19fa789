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
}

const TABLE = (idType: string, intType: string) => `
CREATE TABLE gate_duties (
  gate_id ${idType} NOT NULL,
  duty ${idType} NOT NULL,
  claim_key ${idType} NOT NULL,
  claimed_at ${intType} NOT NULL,
  PRIMARY KEY (gate_id, duty)
);`;

const migrations = (idType: string, intType: string): readonly Migration[] => [
  { version: 1, description: 'one claim per gate and duty (token renewal, alarms)', sql: TABLE(idType, intType) },
];

/** On SQLite: one instance writes the file, the statement is atomic under its write lock. */
export class SqliteGateDuties implements GateDuties {
  private readonly claimStmt;

  constructor(db: Database) {
    runMigrations(db, 'gate_duty_migrations', migrations('TEXT', 'INTEGER'));
    this.claimStmt = db.prepare<[string, string, string, number, number], { claimed: number }>(
      `INSERT INTO gate_duties AS t (gate_id, duty, claim_key, claimed_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (gate_id, duty) DO UPDATE SET claim_key = excluded.claim_key, claimed_at = excluded.claimed_at
       WHERE t.claim_key <> excluded.claim_key OR t.claimed_at <= excluded.claimed_at - ?
       RETURNING 1 AS claimed`,
    );
  }

  async claim(gateId: string, duty: GateDuty, key: string, now: number, everyMs: number): Promise<boolean> {
    return this.claimStmt.get(gateId, duty, key, now, everyMs) !== undefined;
  }
}

const claimPg = statement<[string, string, string, number, number], { claimed: number }>(
  'gate_duty_claim',
  `INSERT INTO gate_duties AS t (gate_id, duty, claim_key, claimed_at) VALUES ($1, $2, $3, $4)
   ON CONFLICT (gate_id, duty) DO UPDATE SET claim_key = excluded.claim_key, claimed_at = excluded.claimed_at
   WHERE t.claim_key <> excluded.claim_key OR t.claimed_at <= excluded.claimed_at - $5::int8
   RETURNING 1 AS claimed`,
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
}

/** In one process only, for a `GateTokenRenewal` built without a database (its unit tests). */
export class MemoryGateDuties implements GateDuties {
  private readonly claims = new Map<string, { key: string; at: number }>();

  async claim(gateId: string, duty: GateDuty, key: string, now: number, everyMs: number): Promise<boolean> {
    const id = `${gateId}\u0000${duty}`;
    const last = this.claims.get(id);
    if (last && last.key === key && now - last.at < everyMs) return false;
    this.claims.set(id, { key, at: now });
    return true;
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
