/**
 * The stored-passage data set of the contacts and stats benchmarks: N passages (default 10 M) over
 * 30 days at 200 gates (20 compounds × 10 gates, 100 k persons), generated from a seed and written
 * through the store's own path — `SqliteCloudStore.insertEvents` with the statistics `RollupWriter`
 * as its ingest hook, 50 k events per transaction — so the file has exactly the schema, indexes and
 * rollups the cloud would have built from live ingest. The file is cached under the run's cache dir
 * (`passages-<rows>-<seed>.db`) for the other benchmarks of the same run. `passageDays` and
 * `registerDataset` give the same data to the PostgreSQL store (bench/lib/pg-dataset.ts).
 *
 * Shape: a resident's first trip of a day is the commute (out around 07:45 ± 50 min, back around
 * 18:30 ± 90 min), further trips are spread over 09:00–21:00 and last ~1 h; the elderly go out
 * mid-morning instead. Gates within a compound follow a Zipf law (the main entrance is busiest).
 * About 3 % of attempts are denied (mostly health), 1 % of grants time out unpassed.
 */
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RollupWriter } from '../../cloud/analytics/rollup-writer.ts';
import { SqliteCloudStore } from '../../cloud/store/sqlite-store.ts';
import type { CloudStore, StoredEvent } from '../../cloud/store/store.ts';
import type { Direction, HealthColour, Method, Reason } from '../../shared/enums.ts';
import { generatePopulation, type Population, residentOf, type SyntheticPerson } from './population.ts';
import { pick, type Random, randomInt, randomNormal, seededRandom, zipfTable } from './prng.ts';

export const DATASET = {
  compounds: 20,
  gatesPerCompound: 10,
  persons: 100_000,
  days: 30,
  timeZone: 'Asia/Shanghai',
  /** Local midnight (UTC+8) that ends the 30 days: 2026-01-31 00:00 CST. */
  endMs: Date.UTC(2026, 0, 30, 16, 0, 0),
  seed: 20_200_123,
} as const;

const DAY_MS = 86_400_000;
const MIN_MS = 60_000;
const INSERT_BATCH = 50_000;
/** Fixed, so a cached file and a regenerated population agree on every idHash. */
export const DATASET_PEPPER = Buffer.alloc(32, 7);

export interface Dataset {
  path: string;
  rows: number;
  persons: number;
  population: Population;
  compoundIds: string[];
  gateIds: string[];
  /** Seconds spent generating now (0 when the cached file was reused). */
  generatedInS: number;
  /** Rows per second of the bulk insert (including rollups), when generated now. */
  insertRate?: number;
}

export const compoundIdOf = (c: number) => `c-${c}`;
export const gateIdOf = (c: number, g: number) => `g-${c}-${g}`;

interface Trip {
  person: number;
  ts: number;
  direction: Direction;
}

function tripsOfDay(
  random: Random,
  person: number,
  elderly: boolean,
  dayStart: number,
  tripsPerDay: number,
  out: Trip[],
): void {
  // Number of trips today: Poisson-like around tripsPerDay (at least 0).
  let trips = 0;
  let p = Math.exp(-tripsPerDay);
  let cumulative = p;
  const x = random();
  while (x > cumulative && trips < 8) {
    trips += 1;
    p *= tripsPerDay / trips;
    cumulative += p;
  }
  for (let t = 0; t < trips; t++) {
    let leave: number;
    let back: number;
    if (t === 0 && !elderly) {
      leave = randomNormal(random, 7.75 * 60, 50);
      back = randomNormal(random, 18.5 * 60, 90);
    } else if (t === 0) {
      leave = randomNormal(random, 9.5 * 60, 60);
      back = leave + 60 + random() * 150;
    } else {
      leave = 9 * 60 + random() * 12 * 60;
      back = leave + 15 + -Math.log(Math.max(random(), 1e-9)) * 60;
    }
    leave = Math.min(Math.max(leave, 5 * 60), 23.5 * 60);
    back = Math.min(Math.max(back, leave + 5), 23.9 * 60);
    out.push({ person, ts: dayStart + Math.round(leave * MIN_MS + random() * MIN_MS), direction: 'out' });
    out.push({ person, ts: dayStart + Math.round(back * MIN_MS + random() * MIN_MS), direction: 'in' });
  }
}

function denial(random: Random, health: HealthColour): Reason | undefined {
  if (health === 'red') return 'health-red';
  if (health === 'yellow' && random() < 0.5) return 'health-yellow';
  if (random() < 0.005) return 'anti-passback';
  return undefined;
}

/** The data set's compounds and gates (ids only). */
export function datasetIds(): { compoundIds: string[]; gateIds: string[] } {
  const compoundIds = Array.from({ length: DATASET.compounds }, (_, c) => compoundIdOf(c));
  const gateIds = compoundIds.flatMap((_, c) =>
    Array.from({ length: DATASET.gatesPerCompound }, (_, g) => gateIdOf(c, g)),
  );
  return { compoundIds, gateIds };
}

/** Writes the data set's compounds, gates and residents through the store (either engine). */
export async function registerDataset(
  store: Pick<CloudStore, 'createCompound' | 'createGate' | 'upsertResidents'>,
  population: Population,
): Promise<void> {
  const created = DATASET.endMs - DATASET.days * DAY_MS - DAY_MS;
  const { compoundIds } = datasetIds();
  for (const compoundId of compoundIds) {
    await store.createCompound({ id: compoundId, name: `Compound ${compoundId}`, timeZone: DATASET.timeZone }, created);
  }
  for (let c = 0; c < DATASET.compounds; c++) {
    for (let g = 0; g < DATASET.gatesPerCompound; g++) {
      await store.createGate(
        { id: gateIdOf(c, g), compoundId: compoundIdOf(c), name: `Gate ${g + 1}`, antiPassback: false },
        created,
      );
    }
  }
  const residents = population.persons.map((p) => residentOf(p, created));
  for (let i = 0; i < residents.length; i += 10_000) await store.upsertResidents(residents.slice(i, i + 10_000));
}

/** One passage of `person` on `trip`, at their usual gate or (one time in five) another. */
function passageOf(random: Random, trip: Trip, person: SyntheticPerson, gateId: string, seq: number): StoredEvent {
  const denied = denial(random, person.health);
  const method: Method = person.record.elderly && random() < 0.6 ? 'idcard' : random() < 0.03 ? 'card' : 'qr';
  return {
    gateId,
    seq,
    ts: trip.ts,
    direction: trip.direction,
    method,
    result: denied ? 'denied' : 'granted',
    reason: denied ?? 'ok',
    personId: person.record.personId,
    ...(method === 'idcard' && person.record.idHash ? { idHash: person.record.idHash } : {}),
    health: person.health,
    mode: 'normal',
    passed: denied ? null : random() < 0.99,
    decisionMs: Math.round((0.05 + random() * 0.3) * 1000) / 1000,
    compoundId: person.record.compoundId,
    receivedAt: trip.ts + 20 + randomInt(random, 200),
  };
}

/**
 * The data set's `rows` passages, one day at a time (sorted by time), from the seed: the same
 * passages for every engine that loads them.
 */
export function* passageDays(population: Population, rows: number): Generator<StoredEvent[]> {
  const persons = population.persons.length;
  const random = seededRandom(DATASET.seed);
  const zipf = zipfTable(DATASET.gatesPerCompound);
  // Each person has a usual gate (their building's), sometimes uses another.
  const homeGate = new Uint8Array(persons);
  for (let i = 0; i < persons; i++) homeGate[i] = pick(random, zipf);
  const compoundIndex = new Uint16Array(persons);
  for (let i = 0; i < persons; i++) compoundIndex[i] = Number(population.persons[i]!.record.compoundId.slice(2));
  const seqs = new Map<string, number>(datasetIds().gateIds.map((id) => [id, 0]));
  const tripsPerDay = rows / (persons * DATASET.days * 2);
  let written = 0;
  for (let day = 0; day < DATASET.days && written < rows; day++) {
    const dayStart = DATASET.endMs - (DATASET.days - day) * DAY_MS; // local midnight as UTC instant
    const trips: Trip[] = [];
    for (let i = 0; i < persons; i++) {
      tripsOfDay(random, i, population.persons[i]!.record.elderly === true, dayStart, tripsPerDay, trips);
    }
    trips.sort((a, b) => a.ts - b.ts);
    const quota = Math.min(trips.length, Math.ceil((rows - written) / (DATASET.days - day)));
    const events: StoredEvent[] = [];
    for (let k = 0; k < quota; k++) {
      // Spread the day's quota evenly over its sorted trips when the Poisson draw overshoots.
      const trip = trips[Math.floor((k * trips.length) / quota)]!;
      const c = compoundIndex[trip.person]!;
      const gateId = gateIdOf(c, random() < 0.8 ? homeGate[trip.person]! : pick(random, zipf));
      const seq = seqs.get(gateId)! + 1;
      seqs.set(gateId, seq);
      events.push(passageOf(random, trip, population.persons[trip.person]!, gateId, seq));
    }
    written += events.length;
    yield events;
  }
}

/** Inserts every day of the data set in `INSERT_BATCH`-event transactions; rows written and seconds inserting. */
export async function insertDataset(
  insert: (events: StoredEvent[]) => Promise<unknown>,
  population: Population,
  rows: number,
  progress?: (text: string) => void,
): Promise<{ written: number; insertS: number }> {
  let written = 0;
  let insertNs = 0n;
  let day = 0;
  for (const events of passageDays(population, rows)) {
    for (let i = 0; i < events.length; i += INSERT_BATCH) {
      const start = process.hrtime.bigint();
      await insert(events.slice(i, i + INSERT_BATCH));
      insertNs += process.hrtime.bigint() - start;
    }
    written += events.length;
    day += 1;
    progress?.(
      `day ${day}/${DATASET.days}: ${written.toLocaleString('en-US')} passages, ` +
        `${Math.round(written / (Number(insertNs) / 1e9)).toLocaleString('en-US')}/s insert`,
    );
  }
  return { written, insertS: Number(insertNs) / 1e9 };
}

/** Opens the cached data set for `rows`, generating it first if needed. */
export async function openDataset(options: {
  cacheDir: string;
  rows: number;
  persons?: number;
  progress?: (text: string) => void;
}): Promise<Dataset> {
  const persons = options.persons ?? DATASET.persons;
  const path = join(options.cacheDir, `passages-${options.rows}-${persons}-${DATASET.seed}.db`);
  const { compoundIds, gateIds } = datasetIds();
  const population = generatePopulation({ count: persons, pepper: DATASET_PEPPER, compounds: compoundIds });
  if (existsSync(path)) {
    return { path, rows: options.rows, persons, population, compoundIds, gateIds, generatedInS: 0 };
  }
  const started = process.hrtime.bigint();
  const partial = `${path}.partial`;
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${partial}${suffix}`, { force: true });
  const store = new SqliteCloudStore({ path: partial });
  // A bulk load may trade durability for speed: the file is thrown away if the run dies.
  store.db.pragma('synchronous = OFF');
  store.db.pragma('cache_size = -262144');
  const writer = new RollupWriter({ db: store.db });
  writer.start();
  await registerDataset(store, population);
  options.progress?.(`registry: ${DATASET.compounds} compounds, ${gateIds.length} gates, ${persons} residents`);
  const { written, insertS } = await insertDataset(
    (events) => store.insertEvents(events, writer),
    population,
    options.rows,
    options.progress,
  );
  // No ANALYZE: the cloud never runs one, so the benchmark must see the planner's default choices.
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  await store.close();
  renameSync(partial, path);
  return {
    path,
    rows: written,
    persons,
    population,
    compoundIds,
    gateIds,
    generatedInS: Number(process.hrtime.bigint() - started) / 1e9,
    insertRate: written / insertS,
  };
}

/** The local midnight `days` before the end of the data set. */
export function daysBeforeEnd(days: number): number {
  return DATASET.endMs - days * DAY_MS;
}
