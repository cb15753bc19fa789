/**
 * The gate duties' claim rule is one statement (cloud/tokens/gate-duties.ts, `claimSql`): the
 * in-memory duties a `GateTokenRenewal` without a database uses run SQLite's statement on a private
 * database instead of a third, hand-written copy of the rule. On generated sequences of claims —
 * keys that change and come back, clocks that repeat, go back and jump, `everyMs` from 0 up — the
 * in-memory duties decide every claim as PostgreSQL's do (the engine of several instances).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresCloudStore } from '../../../cloud/store/postgres/postgres-store.ts';
import { type GateDuty, openGateDuties, SqliteGateDuties } from '../../../cloud/tokens/gate-duties.ts';
import { MemoryGateDuties } from '../../helpers/memory-gate-duties.ts';
import { createTestDatabase, type TestDatabase } from '../../../testkit/postgres.ts';

let db: TestDatabase;
let store: PostgresCloudStore;

beforeAll(async () => {
  db = await createTestDatabase('gate_duty_rule');
  store = await PostgresCloudStore.open({ url: db.url, max: 2 });
});
afterAll(async () => {
  await store?.close();
  await db?.drop();
});

const claim = fc.record({
  gate: fc.constantFrom('g-1', 'g-2'),
  duty: fc.constantFrom<GateDuty>('token-renewal', 'token-alarm'),
  key: fc.constantFrom('k1', 'k2', 'k3'),
  step: fc.integer({ min: -5_000, max: 20_000 }),
  everyMs: fc.constantFrom(0, 1, 1_000, 10_000),
});

describe('the gate duties claim rule', () => {
  it('in memory is SQLite’s statement, not a copy', () => {
    expect(new MemoryGateDuties()).toBeInstanceOf(SqliteGateDuties);
  });

  it('decides every claim in memory as on PostgreSQL', async () => {
    const pg = openGateDuties(store.engine);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(claim, { minLength: 1, maxLength: 25 }), async (claims) => {
        run += 1;
        const memory = new MemoryGateDuties();
        let now = 1_796_000_000_000;
        for (const c of claims) {
          now += c.step;
          const gate = `${c.gate}-${run}`;
          const inMemory = await memory.claim(gate, c.duty, c.key, now, c.everyMs);
          expect(inMemory).toBe(await pg.claim(gate, c.duty, c.key, now, c.everyMs));
        }
      }),
      { numRuns: 60 },
    );
  });
});
