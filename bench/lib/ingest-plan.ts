/**
 * The ingest benchmark's deployment and traffic (bench/ingest.ts, bench/lib/pg-ingest.ts): the
 * compounds, gates and residents written through either store, and each gate's prepared messages.
 */
import type { CloudStore } from '../../cloud/store/store.ts';
import type { EntryEvent } from '../../shared/schemas/mqtt.ts';
import { eventsPayload, type PreparedMessage } from './gate-swarm.ts';
import { residentOf, type SyntheticPerson } from './population.ts';
import { randomInt, seededRandom } from './prng.ts';

/**
 * Each gate's passages are of residents of its own compound: the cloud refuses (acks, never
 * stores) a passage of an unknown person or of another compound's, as a planted one.
 */
export function plan(
  gateIds: string[],
  messagesPerGate: number,
  eventsPerMessage: number,
  seqs: Map<string, number>,
  personsOf: (gateId: string) => readonly string[],
) {
  const random = seededRandom(4242);
  const now = Date.now();
  return gateIds.map((gateId) =>
    Array.from({ length: messagesPerGate }, (): PreparedMessage => {
      const events: EntryEvent[] = [];
      for (let e = 0; e < eventsPerMessage; e++) {
        const seq = (seqs.get(gateId) ?? 0) + 1;
        seqs.set(gateId, seq);
        events.push({
          gateId,
          seq,
          ts: now - randomInt(random, 60_000),
          direction: random() < 0.5 ? 'in' : 'out',
          method: 'qr',
          result: 'granted',
          reason: 'ok',
          personId: ((persons) => persons[randomInt(random, persons.length)]!)(personsOf(gateId)),
          health: 'green',
          mode: 'normal',
          passed: true,
          decisionMs: 0.12,
        });
      }
      return { payload: eventsPayload(events), endSeq: seqs.get(gateId)!, events: eventsPerMessage };
    }),
  );
}

/** The compounds, gates and residents of the run, written into a new cloud database. */
export async function registerDeployment(
  store: Pick<CloudStore, 'createCompound' | 'createGate' | 'upsertResidents'>,
  gateIds: readonly string[],
  compoundOf: (gateId: string) => string,
  population: readonly SyntheticPerson[],
): Promise<void> {
  for (const compoundId of new Set(gateIds.map(compoundOf))) {
    await store.createCompound({ id: compoundId, name: compoundId, timeZone: 'Asia/Shanghai' }, Date.now());
  }
  for (const gateId of gateIds) {
    await store.createGate(
      { id: gateId, compoundId: compoundOf(gateId), name: gateId, antiPassback: false },
      Date.now(),
    );
  }
  const now = Date.now();
  for (let i = 0; i < population.length; i += 10_000) {
    await store.upsertResidents(population.slice(i, i + 10_000).map((p) => residentOf(p, now)));
  }
}

/** A gate's residents: the person ids of its compound. */
export function personsByCompound(
  population: readonly SyntheticPerson[],
  compoundOf: (gateId: string) => string,
): (gateId: string) => readonly string[] {
  const ids = new Map<string, string[]>();
  for (const p of population) {
    const list = ids.get(p.record.compoundId) ?? [];
    list.push(p.record.personId);
    ids.set(p.record.compoundId, list);
  }
  return (gateId) => ids.get(compoundOf(gateId)) ?? [];
}
