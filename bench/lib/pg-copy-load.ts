/**
 * The bulk load of the stored-passage data set into PostgreSQL, the way a DBA loads a partitioned
 * table: each month's rows are streamed with `COPY … FROM STDIN` (pg-copy-streams) into a plain
 * table named as the store names its month partitions (`events_pYYYY_MM`, pg-partitions.ts
 * `monthOf`), then attached to `events` — PostgreSQL builds every index the migrations declare on
 * `events` (the unique key, per gate with its INCLUDE columns, per person, per compound, the BRIN)
 * on the attached table, in one sorted build each instead of 10 M insertions. Then the sequence,
 * the gates' ack marks, and `VACUUM (ANALYZE)`, which autovacuum would do on its own after such an
 * insert (the visibility map lets the per-gate index answer scans index-only).
 *
 * The rows are the ones `PostgresCloudStore.insertEvents` would store for the same passages (the
 * same columns and values; `id` in insertion order, as SQLite's rowid), so traces rank ties alike on
 * both engines; bench/lib/pg-dataset.ts then fills the statistics rollups with the store's own
 * one-time fill from `events`.
 */
import { once } from 'node:events';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { type MonthPartition, monthOf } from '../../cloud/store/postgres/pg-partitions.ts';
import type { StoredEvent } from '../../cloud/store/store.ts';

const COLUMNS = `id, gate_id, seq, compound_id, ts, direction, method, result, reason, person_id, id_hash, pass_id,
  health, mode, passed, guard, decision_ms, received_at, open_reason`;
/** Characters COPY's text format escapes (backslash, tab, newline, carriage return). */
const SPECIAL = /[\\\t\n\r]/;
/** Bytes of COPY text handed to the socket at a time. */
const CHUNK_CHARS = 1 << 20;

export interface CopyLoadTimes {
  written: number;
  /** Seconds streaming rows (COPY), including generating them. */
  copyS: number;
  /** Seconds attaching the months (the index builds). */
  indexS: number;
  /** Seconds of VACUUM (ANALYZE). */
  analyzeS: number;
}

function text(value: string | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  if (!SPECIAL.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

/** One COPY text line, in COLUMNS order, as insertEvents would bind the event. */
function lineOf(id: number, e: StoredEvent): string {
  const passed = e.passed === null || e.passed === undefined ? '\\N' : e.passed ? 't' : 'f';
  return `${id}\t${text(e.gateId)}\t${e.seq}\t${text(e.compoundId)}\t${e.ts}\t${text(e.direction)}\t${text(e.method)}\t${text(
    e.result,
  )}\t${text(e.reason)}\t${text(e.personId)}\t${text(e.idHash)}\t${text(e.passId)}\t${text(e.health)}\t${text(
    e.mode,
  )}\t${passed}\t${text(e.guard)}\t${e.decisionMs}\t${e.receivedAt}\t${text(e.openReason)}\n`;
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

/** One month's COPY into its own plain table, on one client. */
class MonthCopy {
  private buffer = '';
  private constructor(
    readonly month: MonthPartition,
    private readonly stream: ReturnType<typeof copyFrom>,
  ) {}

  static async open(client: pg.PoolClient, month: MonthPartition): Promise<MonthCopy> {
    // A plain table shaped as `events` (columns, types, collations, defaults); no index yet.
    await client.query(`CREATE TABLE ${month.name} (LIKE events INCLUDING DEFAULTS)`);
    const stream = client.query(copyFrom(`COPY ${month.name} (${COLUMNS}) FROM STDIN`));
    return new MonthCopy(month, stream);
  }

  async write(line: string): Promise<void> {
    this.buffer += line;
    if (this.buffer.length >= CHUNK_CHARS) await this.flush();
  }

  private async flush(): Promise<void> {
    const chunk = this.buffer;
    this.buffer = '';
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }

  async end(): Promise<void> {
    if (this.buffer.length > 0) await this.flush();
    const finished = once(this.stream, 'finish');
    this.stream.end();
    await finished;
  }
}

/**
 * COPYs `days` (each sorted by time, the days in order: the months come one after the other) into
 * month tables, attaches them to `events`, and makes the database what ingest would have left.
 */
export async function copyLoad(
  pool: pg.Pool,
  days: Iterable<StoredEvent[]>,
  progress?: (text: string) => void,
): Promise<CopyLoadTimes> {
  const client = await pool.connect();
  try {
    const existing = await client.query('SELECT 1 FROM events LIMIT 1');
    if (existing.rowCount !== 0) throw new Error('copyLoad: events is not empty');
    const started = process.hrtime.bigint();
    const months: MonthPartition[] = [];
    let copy: MonthCopy | undefined;
    let written = 0;
    for (const events of days) {
      for (const e of events) {
        if (!copy || e.ts < copy.month.from || e.ts >= copy.month.to) {
          await copy?.end();
          const month = monthOf(e.ts);
          if (months.some((m) => m.name === month.name)) throw new Error(`copyLoad: ${month.name} came back`);
          months.push(month);
          copy = await MonthCopy.open(client, month);
        }
        written += 1;
        await copy.write(lineOf(written, e));
      }
      progress?.(`COPY: ${written.toLocaleString('en-US')} passages, ${Math.round(written / seconds(started))}/s`);
    }
    await copy?.end();
    const copyS = seconds(started);
    const indexStarted = process.hrtime.bigint();
    await attachMonths(client, months, progress);
    await client.query("SELECT setval('events_id_seq', $1::int8)", [Math.max(written, 1)]);
    // The gates' cumulative ack marks: every seq from 1 up is stored (docs/architecture.md rule 2).
    await client.query(`INSERT INTO gate_acks (gate_id, up_to) SELECT gate_id, MAX(seq) FROM events GROUP BY gate_id
      ON CONFLICT (gate_id) DO UPDATE SET up_to = excluded.up_to`);
    const indexS = seconds(indexStarted);
    const analyzeStarted = process.hrtime.bigint();
    progress?.('VACUUM (ANALYZE)');
    await client.query('VACUUM (ANALYZE)');
    return { written, copyS, indexS, analyzeS: seconds(analyzeStarted) };
  } finally {
    client.release();
  }
}

/**
 * Attaches each month table as the partition of its month: the CHECK constraint spares the attach
 * its validating scan, and the attach builds the partitioned indexes of `events` on the table.
 */
async function attachMonths(
  client: pg.PoolClient,
  months: readonly MonthPartition[],
  progress?: (text: string) => void,
): Promise<void> {
  await client.query("SET maintenance_work_mem = '1GB'");
  for (const m of months) {
    progress?.(`attaching ${m.name} (building its indexes)`);
    // Bounds are integers computed by monthOf; names match its pattern. Nothing here is outside text.
    await client.query(
      `ALTER TABLE ${m.name} ADD CONSTRAINT ${m.name}_bounds CHECK (ts >= ${m.from} AND ts < ${m.to})`,
    );
    await client.query(`ALTER TABLE events ATTACH PARTITION ${m.name} FOR VALUES FROM (${m.from}) TO (${m.to})`);
    await client.query(`ALTER TABLE ${m.name} DROP CONSTRAINT ${m.name}_bounds`);
  }
  await client.query('RESET maintenance_work_mem');
}
