/**
 * A compound's snapshot on PostgreSQL, streamed (`RegistryStore.readSnapshot`, docs/cloud.md
 * "Sync protocol"): one `REPEATABLE READ READ ONLY` transaction (consistent at the rev it reads
 * first), residents a page of 1000 at a time by person id, each page handed to the sink before the
 * next is asked for — the first part goes to the gate while the rest is read. Records are mapped
 * with the store's own row mapping (cloud/store/store-rows.ts), as SQLite writes them in SQL
 * (cloud/store/sqlite/snapshot-reads.ts); test/cloud/store/snapshot-read.integration.test.ts holds
 * the two to the same records.
 */
import type pg from 'pg';
import { NotFoundError } from '../../cloud-errors.ts';
import {
  headRecords,
  recordCount,
  revokeRecord,
  SNAPSHOT_PAGE_ROWS,
  SnapshotCountMismatchError,
} from '../snapshot-records.ts';
import { personRecordOf, type SnapshotSink } from '../store.ts';
import { one, type Queryable, run, type Statement, statement, transaction } from './pg-pool.ts';
import {
  type CompoundRow,
  compoundOfRow,
  type GateRow,
  gateOfRow,
  type ResidentRow,
  residentOfRow,
} from '../store-rows.ts';

type HealthRow = { person_id: string; health: string; health_ts: string | number };

const S = {
  compound: statement<[string], CompoundRow>('snapshot_compound', 'SELECT * FROM compounds WHERE id = $1'),
  gates: statement<[string], GateRow>(
    'snapshot_gates',
    'SELECT * FROM gates WHERE compound_id = $1 AND settings IS NOT NULL ORDER BY id',
  ),
  revoked: statement<[string, number], { pass_id: string; revoked_at: number }>(
    'snapshot_revoked',
    `SELECT pass_id, revoked_at FROM passes WHERE compound_id = $1 AND revoked_at IS NOT NULL AND expires_at > $2
     ORDER BY revoked_at, pass_id`,
  ),
  counts: statement<[string], { persons: number; health: number }>(
    'snapshot_counts',
    'SELECT count(*)::int AS persons, count(health_ts)::int AS health FROM residents WHERE compound_id = $1',
  ),
  persons: statement<[string, string, number], ResidentRow>(
    'snapshot_persons',
    'SELECT * FROM residents WHERE compound_id = $1 AND person_id > $2 ORDER BY person_id LIMIT $3',
  ),
  health: statement<[string, string, number], HealthRow>(
    'snapshot_health',
    `SELECT person_id, health, health_ts FROM residents
     WHERE compound_id = $1 AND person_id > $2 AND health_ts IS NOT NULL ORDER BY person_id LIMIT $3`,
  ),
};

const personJson = (row: ResidentRow) =>
  JSON.stringify({ op: 'person.upsert', person: personRecordOf(residentOfRow(row)) });
const healthJson = (row: HealthRow) =>
  JSON.stringify({ op: 'health', personId: row.person_id, colour: row.health, ts: Number(row.health_ts) });

/** Pages of `page` by person id, each mapped and handed to the sink; rows delivered. */
async function pages<R extends { person_id: string }>(
  client: Queryable,
  page: Statement<[string, string, number], R>,
  compoundId: string,
  toJson: (row: R) => string,
  sink: SnapshotSink,
): Promise<number> {
  let delivered = 0;
  for (let after = ''; ; ) {
    const { rows } = await run(client, page, [compoundId, after, SNAPSHOT_PAGE_ROWS]);
    const last = rows[rows.length - 1];
    if (!last) return delivered;
    delivered += rows.length;
    await sink.page(rows.map(toJson));
    if (rows.length < SNAPSHOT_PAGE_ROWS) return delivered;
    after = String(last.person_id);
  }
}

export function readPgSnapshot(pool: pg.Pool, compoundId: string, sink: SnapshotSink, now = Date.now()) {
  return transaction(
    pool,
    async (client) => {
      const row = await one(client, S.compound, [compoundId]);
      if (!row) throw new NotFoundError('compound', compoundId);
      const gates = (await run(client, S.gates, [compoundId])).rows.map(gateOfRow);
      const head = headRecords(compoundOfRow(row), gates).map((c) => JSON.stringify(c));
      const revoked = (await run(client, S.revoked, [compoundId, now])).rows.map((r) =>
        JSON.stringify(revokeRecord(r)),
      );
      const counts = (await one(client, S.counts, [compoundId])) ?? { persons: 0, health: 0 };
      const announced = recordCount(head.length, counts.persons, counts.health, revoked.length);
      await sink.begin(Number(row.rev), announced);
      await sink.page(head);
      let delivered = head.length + revoked.length;
      delivered += await pages(client, S.persons, compoundId, personJson, sink);
      delivered += await pages(client, S.health, compoundId, healthJson, sink);
      if (revoked.length > 0) await sink.page(revoked);
      if (delivered !== announced) throw new SnapshotCountMismatchError(announced, delivered);
    },
    'repeatable read read only',
  );
}
