/**
 * What the ingest hooks read about a batch of newly stored passages, read once for all of them on
 * the ingest transaction's connection: each person's masked name, visitor and elderly flags
 * (`/live` entries and the statistics), and each compound's time zone (the statistics' local
 * hours). One statement, shared by the hooks of one batch — the hooks are handed the same
 * `events` array (cloud/store/ingest-hook.ts, `composeIngestHooks`), which keys the memo — so the
 * round trips made while the batch's locks are held do not grow with the number of hooks.
 */
import { type Queryable, run, statement } from './pg-pool.ts';

export interface BatchPerson {
  maskedName: string;
  visitor: boolean;
  elderly: boolean;
}

export interface BatchFacts {
  persons: ReadonlyMap<string, BatchPerson>;
  /** Time zone per compound id (as stored: the reader validates it). */
  zones: ReadonlyMap<string, string>;
}

interface FactsRow {
  kind: 'person' | 'zone';
  id: string;
  masked_name: string | null;
  visitor: boolean | null;
  elderly: boolean | null;
  time_zone: string | null;
}

const readFacts = statement<[string[], string[]], FactsRow>(
  'batch_facts',
  `SELECT 'person' AS kind, person_id AS id, masked_name, kind = 'visitor' AS visitor, elderly, NULL AS time_zone
     FROM residents WHERE person_id = ANY($1::text[])
   UNION ALL
   SELECT 'zone', id, NULL, NULL, NULL, time_zone FROM compounds WHERE id = ANY($2::text[])`,
);

interface BatchEvent {
  readonly gateId: string;
  readonly personId?: string | undefined;
}

const memo = new WeakMap<object, { client: Queryable; facts: Promise<BatchFacts> }>();

/** The facts of the persons and compounds of `events` on `client`'s transaction (read once per batch). */
export function batchFacts(
  client: Queryable,
  events: readonly BatchEvent[],
  compoundOf: (gateId: string) => string,
): Promise<BatchFacts> {
  const known = memo.get(events);
  if (known && known.client === client) return known.facts;
  const persons = [...new Set(events.flatMap((e) => (e.personId ? [e.personId] : [])))];
  const compounds = [...new Set(events.map((e) => compoundOf(e.gateId)))];
  const facts = read(client, persons, compounds);
  memo.set(events, { client, facts });
  return facts;
}

async function read(client: Queryable, personIds: string[], compoundIds: string[]): Promise<BatchFacts> {
  const persons = new Map<string, BatchPerson>();
  const zones = new Map<string, string>();
  if (personIds.length === 0 && compoundIds.length === 0) return { persons, zones };
  for (const r of (await run(client, readFacts, [personIds, compoundIds])).rows) {
    if (r.kind === 'person') {
      persons.set(r.id, { maskedName: r.masked_name ?? '', visitor: r.visitor === true, elderly: r.elderly === true });
    } else if (r.time_zone !== null) zones.set(r.id, r.time_zone);
  }
  return { persons, zones };
}
