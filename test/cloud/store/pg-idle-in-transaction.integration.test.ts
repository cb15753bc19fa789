/**
 * An instance that vanishes mid-transaction does not hold the others' ingest for hours
 * (cloud/store/postgres/pg-pool.ts, `IDLE_IN_TRANSACTION_MS`): its session, idle inside a
 * transaction past the pool's limit, is ended by PostgreSQL, and with it the locks it held.
 *
 * Real parts: a throwaway PostgreSQL cluster (testkit/postgres.ts). One pool's session takes the
 * transaction-scoped advisory lock an ingest batch takes and then says nothing more — a host gone
 * without a FIN. Another session waiting for the same lock gets it once the first is ended; the
 * first finds its session gone. The limit is 300 ms here (60 s in the cloud) to keep the test short.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgPool } from '../../../cloud/store/postgres/pg-pool.ts';
import { createTestDatabase, type TestDatabase } from '../../../testkit/postgres.ts';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('idle-tx');
});

afterAll(async () => {
  await db?.drop();
});

describe('a cloud session idle inside a transaction', () => {
  it('is ended by PostgreSQL past the limit, and the lock it held goes to the one waiting', async () => {
    const vanished = createPgPool({ url: db.url, max: 1, idleInTransactionMs: 300 });
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      const held = await vanished.connect();
      const ended = new Promise<Error>((resolve) => held.once('error', resolve));
      await held.query('BEGIN');
      await held.query('SELECT pg_advisory_xact_lock(4242)');
      // The other instance's batch waits for the lock; it gets it only because the first session ends.
      const waited = await other.query('SELECT pg_advisory_xact_lock(4242) AS locked');
      expect(waited.rows).toHaveLength(1);
      expect((await ended).message).toMatch(/idle-in-transaction timeout|terminat/i);
      held.release(true);
    } finally {
      await other.end();
      await vanished.end();
    }
  }, 60_000);

  it('is left alone under the limit: a transaction whose statements follow one another commits', async () => {
    const pool = createPgPool({ url: db.url, max: 1 });
    try {
      const client = await pool.connect();
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(4243)');
      await client.query('COMMIT');
      client.release();
      const { rows } = await pool.query<{ idle_in_transaction_session_timeout: string }>(
        'SHOW idle_in_transaction_session_timeout',
      );
      expect(rows[0]?.idle_in_transaction_session_timeout).toBe('1min');
    } finally {
      await pool.end();
    }
  });
});
