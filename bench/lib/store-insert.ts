/**
 * The cloud's per-event ingest cost without MQTT: `JSON.parse` and `eventsMessageSchema` of
 * 500-event messages, then `SqliteCloudStore.insertEvents` in batches of the ingest's size (8000),
 * alone and with the statistics `RollupWriter` hook, and a replay of already stored batches (all
 * duplicates). One file-backed store per variant (WAL, as deployed), optionally pre-filled so the
 * index updates are measured on a table of realistic size rather than an empty one. Beside them,
 * in the same run, the floors of bench/lib/bare-event-insert.ts: the same rows through a bare
 * INSERT into a table with only the `(gate_id, seq)` key, and into the store's events schema.
 */
import { join } from 'node:path';
import { RollupWriter } from '../../cloud/analytics/rollup-writer.ts';
import { DEFAULT_MAX_BATCH } from '../../cloud/ingest/event-ingest.ts';
import { SqliteCloudStore } from '../../cloud/store/sqlite-store.ts';
import type { StoredEvent } from '../../cloud/store/store.ts';
import { eventsMessageSchema } from '../../shared/schemas/mqtt.ts';
import { type BareTable, bareInsertCpuUs } from './bare-event-insert.ts';
import { randomInt, seededRandom } from './prng.ts';
import type { Figure } from './report.ts';

const COMPOUNDS = 20;
const GATES_PER_COMPOUND = 10;
const PERSONS = 100_000;
const MESSAGE_EVENTS = 500;
const PREFILL_BATCH = 50_000;
/** insertEvents + rollup, CPU per passage (docs/cloud.md, "Ingest pipeline"). */
const TARGET_CPU_US_PER_EVENT = 10;

/** Passages in arrival order: 200 gates, each with its own increasing seq; ts about now. */
function makeEvents(count: number, seqs: Map<string, number>, startTs: number, seed: number): StoredEvent[] {
  const random = seededRandom(seed);
  const events: StoredEvent[] = [];
  for (let i = 0; i < count; i++) {
    const c = randomInt(random, COMPOUNDS);
    const gateId = `g-${c}-${randomInt(random, GATES_PER_COMPOUND)}`;
    const seq = (seqs.get(gateId) ?? 0) + 1;
    seqs.set(gateId, seq);
    const ts = startTs + i * 10 + randomInt(random, 2_000);
    events.push({
      gateId,
      seq,
      ts,
      direction: random() < 0.5 ? 'in' : 'out',
      method: 'qr',
      result: 'granted',
      reason: 'ok',
      personId: `p-${randomInt(random, PERSONS)}`,
      health: 'green',
      mode: 'normal',
      passed: true,
      decisionMs: 0.12,
      compoundId: `c-${c}`,
      receivedAt: ts + 50,
    });
  }
  return events;
}

async function openStore(path: string): Promise<SqliteCloudStore> {
  const store = new SqliteCloudStore({ path });
  for (let c = 0; c < COMPOUNDS; c++) {
    await store.createCompound({ id: `c-${c}`, name: `c-${c}`, timeZone: 'Asia/Shanghai' }, 1);
    for (let g = 0; g < GATES_PER_COMPOUND; g++) {
      await store.createGate({ id: `g-${c}-${g}`, compoundId: `c-${c}`, name: `g${g}`, antiPassback: false }, 1);
    }
  }
  return store;
}

function usPerEvent(ns: bigint, events: number): number {
  return Number(ns) / 1000 / events;
}

/**
 * Inserts `events` in ingest-sized batches; returns the elapsed nanoseconds and the process's CPU
 * time (user + system) in microseconds — on a shared machine the CPU time is the figure to judge
 * by, the wall time also holds the waits for a core.
 */
async function insertAll(
  store: SqliteCloudStore,
  events: StoredEvent[],
  hook?: RollupWriter,
): Promise<{ ns: bigint; cpuUs: number }> {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let i = 0; i < events.length; i += DEFAULT_MAX_BATCH) {
    await store.insertEvents(events.slice(i, i + DEFAULT_MAX_BATCH), hook);
  }
  const ns = process.hrtime.bigint() - started;
  const used = process.cpuUsage(cpu);
  return { ns, cpuUs: used.user + used.system };
}

interface Workload {
  dir: string;
  count: number;
  prefill: number;
  prefillEvents: StoredEvent[];
  measured: StoredEvent[];
  progress(text: string): void;
}

/** Parsing, as EventIngest.accept does per message: JSON.parse and the schema of 500-event messages. */
function measureParse(measured: readonly StoredEvent[]): Figure[] {
  const count = measured.length;
  const payloads: string[] = [];
  for (let i = 0; i < measured.length; i += MESSAGE_EVENTS) {
    const events = measured.slice(i, i + MESSAGE_EVENTS).map(({ compoundId: _c, receivedAt: _r, ...e }) => e);
    payloads.push(JSON.stringify({ events }));
  }
  const parsed: unknown[] = [];
  const parseStarted = process.hrtime.bigint();
  for (const p of payloads) parsed.push(JSON.parse(p));
  const parseNs = process.hrtime.bigint() - parseStarted;
  const schemaStarted = process.hrtime.bigint();
  for (const json of parsed) {
    if (!eventsMessageSchema.safeParse(json).success) throw new Error('bench events do not match the schema');
  }
  const schemaNs = process.hrtime.bigint() - schemaStarted;
  return [
    { name: 'JSON.parse per event (500/msg)', value: usPerEvent(parseNs, count), unit: 'µs' },
    { name: 'eventsMessageSchema.safeParse per event', value: usPerEvent(schemaNs, count), unit: 'µs' },
  ];
}

/** Fills the store's table with the workload's earlier rows (not measured). */
async function prefillStore(store: SqliteCloudStore, w: Workload, label: string, hook?: RollupWriter): Promise<void> {
  if (w.prefillEvents.length === 0) return;
  w.progress(`${label}: pre-filling ${w.prefillEvents.length.toLocaleString('en-US')} rows`);
  store.db.pragma('synchronous = OFF');
  for (let i = 0; i < w.prefillEvents.length; i += PREFILL_BATCH) {
    await store.insertEvents(w.prefillEvents.slice(i, i + PREFILL_BATCH), hook);
  }
  store.db.pragma('synchronous = NORMAL');
  store.db.pragma('wal_checkpoint(TRUNCATE)');
}

/** `insertEvents` on a store of its own, with or without the rollup hook; returns its figures and the CPU per event. */
async function measureStore(w: Workload, withHook: boolean): Promise<{ figures: Figure[]; cpuPerEvent: number }> {
  const label = withHook ? 'insertEvents + rollup hook' : 'insertEvents';
  const store = await openStore(join(w.dir, `store-${withHook ? 'hook' : 'plain'}.db`));
  const hook = withHook ? new RollupWriter({ db: store.db }) : undefined;
  hook?.start();
  try {
    await prefillStore(store, w, label, hook);
    const { ns, cpuUs } = await insertAll(store, w.measured, hook);
    const cpuPerEvent = cpuUs / w.count;
    const figures: Figure[] = [
      {
        name: `${label} per event (batches of ${DEFAULT_MAX_BATCH})`,
        value: usPerEvent(ns, w.count),
        unit: 'µs',
        note: `${Math.round((w.count * 1e9) / Number(ns)).toLocaleString('en-US')} events/s; table had ${w.prefill.toLocaleString('en-US')} rows before`,
      },
      {
        name: `${label}, CPU per event (batches of ${DEFAULT_MAX_BATCH})`,
        value: cpuPerEvent,
        unit: 'µs',
        ...(withHook ? { target: TARGET_CPU_US_PER_EVENT, goal: 'max' as const } : {}),
        note: 'user + system time of this process',
      },
    ];
    w.progress(`${label}: ${usPerEvent(ns, w.count).toFixed(2)} µs/event wall, ${cpuPerEvent.toFixed(2)} µs/event CPU`);
    if (!withHook) {
      const replayed = w.measured.slice(0, Math.min(w.count, 100_000));
      const { ns: replayNs } = await insertAll(store, replayed);
      figures.push({
        name: 'insertEvents replay (all duplicates) per event',
        value: usPerEvent(replayNs, replayed.length),
        unit: 'µs',
      });
    }
    return { figures, cpuPerEvent };
  } finally {
    await store.close();
  }
}

/** The floors of the same run (bench/lib/bare-event-insert.ts), and the figure's ratio to the lower one. */
function measureFloors(w: Workload, hookCpuPerEvent: number): Figure[] {
  const floor = (table: BareTable) =>
    bareInsertCpuUs({
      dir: w.dir,
      table,
      prefill: w.prefillEvents,
      events: w.measured,
      batch: DEFAULT_MAX_BATCH,
    }) / w.count;
  const keyOnly = floor('key-only');
  const schema = floor('events-schema');
  w.progress(`bare INSERT: ${keyOnly.toFixed(2)} µs/event CPU (key only), ${schema.toFixed(2)} (events schema)`);
  return [
    {
      name: 'floor: bare INSERT, (gate_id, seq) key only, CPU per event',
      value: keyOnly,
      unit: 'µs',
      note: 'same rows, batches and WAL settings; one statement, no store code, no other index',
    },
    {
      name: "floor: bare INSERT into the store's events schema, CPU per event",
      value: schema,
      unit: 'µs',
      note: 'every index of the events table, no store code',
    },
    {
      name: 'insertEvents + rollup hook ÷ bare INSERT (key only), CPU',
      value: hookCpuPerEvent / keyOnly,
      unit: '×',
      note: 'same run',
    },
  ];
}

export async function measureStoreInsert(options: {
  dir: string;
  events: number;
  prefill: number;
  progress(text: string): void;
}): Promise<Figure[]> {
  const { events: count, prefill } = options;
  const seqs = new Map<string, number>();
  const now = Date.now();
  const prefillEvents = prefill > 0 ? makeEvents(prefill, seqs, now - prefill * 10 - 60_000, 7) : [];
  const measured = makeEvents(count, seqs, now, 11);
  const w: Workload = { dir: options.dir, count, prefill, prefillEvents, measured, progress: options.progress };
  const figures = measureParse(measured);
  figures.push(...(await measureStore(w, false)).figures);
  const withHook = await measureStore(w, true);
  figures.push(...withHook.figures, ...measureFloors(w, withHook.cpuPerEvent));
  return figures;
}
