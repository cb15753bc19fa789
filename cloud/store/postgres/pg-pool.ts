/**
 * The PostgreSQL connection pool of the cloud store, typed statements and transactions.
 *
 * Epoch-millisecond columns are `bigint` (int8); node-postgres returns those as strings by default,
 * so this pool's type parser turns int8 (and numeric) into numbers — every value the store keeps
 * is an integer below 2^53 (shared/schemas/common.ts bounds `ts` and `seq`). The parsers are set on
 * this pool only, never on node-postgres's global table.
 */
import pg from 'pg';

const INT8_OID = 20;
const NUMERIC_OID = 1700;

const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if ((oid === INT8_OID || oid === NUMERIC_OID) && format !== 'binary') {
      return (value: string) => Number(value);
    }
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** Connections per cloud instance unless `--db-pool` says otherwise (docs/deploy.md, "Scaling out"). */
export const DEFAULT_POOL_SIZE = 10;
/**
 * The most `--db-pool` accepts: PostgreSQL's default `max_connections` is 100, and several
 * instances (plus `anxin db migrate`, backups, psql) share it.
 */
export const MAX_POOL_SIZE = 100;

export interface PgPoolOptions {
  /** `postgres://user:password@host:port/database` (libpq URL; `?sslmode=…` honoured by node-postgres). */
  url: string;
  /** Most connections this instance opens (default 10). */
  max?: number;
  /** `application_name` shown in pg_stat_activity (default anxin-cloud). */
  applicationName?: string;
}

/**
 * How long one of the cloud's transactions may sit idle before PostgreSQL ends its session.
 * An instance whose host vanishes (power, a partition) mid-batch leaves its transaction open, with
 * its ingest locks (pg-events.ts) — and PostgreSQL notices the dead peer only by TCP keepalive,
 * hours by default — so every other instance's batches would wait on those locks that long. No
 * transaction of the cloud waits on anything but the database between its statements, so a minute
 * idle means its client is gone: the session ends, its transaction rolls back, the locks go, and the
 * gates resend what it had not acknowledged. Set per transaction (`SET LOCAL`, sent with its BEGIN),
 * not as a startup parameter, which PgBouncer refuses (docs/deploy.md, "Pool sizes").
 */
export const IDLE_IN_TRANSACTION_MS = 60_000;

export function createPgPool(options: PgPoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? DEFAULT_POOL_SIZE,
    application_name: options.applicationName ?? 'anxin-cloud',
    types,
    // A server that does not answer within 10 s is down for our purposes; the caller reports it.
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    // The client side of the same question: a server that vanished is noticed by TCP keepalive,
    // probing after 30 s of silence (the system's default waits two hours).
    keepAlive: true,
    keepAliveInitialDelayMillis: 30_000,
  });
  // An idle client losing its connection (server restart) must not crash the process; the pool
  // drops it and the next query opens a fresh one.
  pool.on('error', () => undefined);
  return pool;
}

/** Something to run a query on: the pool (autocommit) or a client inside a transaction. */
export type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * A named, prepared statement with the types of its parameters and rows: each connection prepares
 * it once (node-postgres caches it by name) and later runs send only the parameters.
 */
export interface Statement<P extends readonly unknown[], R> {
  readonly name: string;
  readonly text: string;
  /** Phantom fields carrying the types; never set. */
  readonly params?: P;
  readonly row?: R;
}

export function statement<P extends readonly unknown[], R = Record<string, never>>(
  name: string,
  text: string,
): Statement<P, R> {
  return { name: `anxin_${name}`, text };
}

export async function run<P extends readonly unknown[], R>(
  db: Queryable,
  stmt: Statement<P, R>,
  params: P,
): Promise<{ rows: R[]; rowCount: number }> {
  const result = await db.query({ name: stmt.name, text: stmt.text, values: params as unknown as unknown[] });
  return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
}

/** The first row, or undefined. */
export async function one<P extends readonly unknown[], R>(
  db: Queryable,
  stmt: Statement<P, R>,
  params: P,
): Promise<R | undefined> {
  return (await run(db, stmt, params)).rows[0];
}

export type Isolation = 'read committed' | 'repeatable read' | 'repeatable read read only';

/**
 * Runs `body` in a transaction on one pooled client: COMMIT when it resolves, ROLLBACK when it
 * throws (the error is rethrown). Resolves only after the COMMIT returned.
 */
export async function transaction<T>(
  pool: pg.Pool,
  body: (client: pg.PoolClient) => Promise<T>,
  isolation: Isolation = 'read committed',
  idleLimitMs: number = IDLE_IN_TRANSACTION_MS,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A session ended between two statements (the idle limit, a server restart) is reported by an
  // 'error' event with no query to fail; unheard, it would end the process. The next statement
  // fails instead, and the client is not handed back.
  const ended = (error: Error) => {
    broken ??= error;
  };
  client.on('error', ended);
  try {
    // One simple query, one round trip: the transaction and its idle limit.
    await client.query(
      `BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}; SET LOCAL idle_in_transaction_session_timeout = ${Math.trunc(idleLimitMs)}`,
    );
    const result = await body(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      // The connection itself failed: do not hand it back to the pool.
      broken = rollbackError as Error;
    }
    throw error;
  } finally {
    client.off('error', ended);
    client.release(broken);
  }
}

/** A constraint refused the write (unique, foreign key, check…): SQLSTATE class 23. */
export function isConstraintViolation(error: unknown): boolean {
  return /^23/.test((error as { code?: string }).code ?? '');
}

/**
 * Serialises transactions on one key (`namespace:id`) across every cloud instance on the database
 * until the calling transaction ends. Take several in sorted order to rule out deadlocks.
 */
export const lockKeys = statement<[string[]], { locked: string }>(
  'lock_keys',
  `SELECT pg_advisory_xact_lock(hashtextextended(k, 0))::text AS locked
   FROM (SELECT k FROM unnest($1::text[]) AS k ORDER BY k) AS sorted`,
);
