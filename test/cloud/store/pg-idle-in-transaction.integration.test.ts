/**
 * An instance that vanishes mid-transaction does not hold the others' ingest for hours
 * (cloud/store/postgres/pg-pool.ts, `IDLE_IN_TRANSACTION_MS`): every transaction of the cloud
 * carries an idle limit (`SET LOCAL`, with its BEGIN — not a startup parameter, which PgBouncer
 * refuses), and a session idle inside one past it is ended by PostgreSQL with the locks it held.
 *
 * Real parts: a throwaway PostgreSQL cluster (testkit/postgres.ts) and the store's own
 * `transaction()`. Its body takes the transaction-scoped advisory lock an ingest batch takes and
 * then says nothing more — a host gone without a FIN. Another session waiting for the same lock gets
 * it once the first is ended, and the transaction fails with the session's end. The limit is 300 ms
 * here (60 s in the cloud) to keep the test short.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgPool, transaction } from '../../../cloud/store/postgres/pg-pool.ts';
import { createTestDatabase, type TestDatabase } from '../../../testkit/postgres.ts';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('idle-tx');
});

afterAll(async () => {
  await db?.drop();
});

describe('a cloud transaction left idle', () => {
  it('is ended by PostgreSQL past its limit, and the lock it held goes to the one waiting', async () => {
    const vanished = createPgPool({ url: db.url, max: 1 });
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      let locked: () => void = () => {};
      const holding = new Promise<void>((resolve) => {
        locked = resolve;
      });
      let resume: () => void = () => {};
      const otherLocked = new Promise<void>((resolve) => {
        resume = resolve;
      });
      const stalled = transaction(
        vanished,
        async (client) => {
          await client.query('SELECT pg_advisory_xact_lock(4242)');
          locked();
          // Nothing more from this client until the other got the lock (a stalled process): the
          // session's end arrives as an 'error' event with no query to fail, heard by
          // transaction() — unheard, it would end this process — and the next statement fails.
          await otherLocked;
          await client.query('SELECT 1');
        },
        'read committed',
        300,
      ).then(
        () => new Error('the stalled transaction committed'),
        (error: Error) => error,
      );
      await holding;
      // The other instance's batch waits for the lock; it gets it only because the first session ends.
      const waited = await other.query('SELECT pg_advisory_xact_lock(4242) AS locked');
      expect(waited.rows).toHaveLength(1);
      resume();
      expect((await stalled).message).toMatch(/idle-in-transaction timeout|terminat|not queryable|ended/i);
    } finally {
      await other.end();
      await vanished.end();
    }
  }, 60_000);

  it('carries the cloud limit in every transaction, and commits when its statements follow one another', async () => {
    const pool = createPgPool({ url: db.url, max: 1 });
    try {
      const limit = await transaction(pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock(4243)');
        const { rows } = await client.query<{ idle_in_transaction_session_timeout: string }>(
          'SHOW idle_in_transaction_session_timeout',
        );
        return rows[0]?.idle_in_transaction_session_timeout;
      });
      expect(limit).toBe('1min');
      // SET LOCAL ends with the transaction: the pooled session is back to the server's default.
      const { rows } = await pool.query<{ idle_in_transaction_session_timeout: string }>(
        'SHOW idle_in_transaction_session_timeout',
      );
      expect(rows[0]?.idle_in_transaction_session_timeout).toBe('0');
    } finally {
      await pool.end();
    }
  });
});
