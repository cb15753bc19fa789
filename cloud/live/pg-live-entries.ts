/**
 * `/live` entries across cloud instances, notified in the ingest transaction (docs/deploy.md,
 * "Scaling out"). PostgreSQL delivers a `NOTIFY` when — and only if — its transaction commits, so
 * sending the batch's entries from inside the transaction that stores the batch makes "stored" and
 * "notified" one fact: an instance that dies after its COMMIT has already told every other
 * instance, and a batch that rolls back told nobody. Sent after the commit (as before), a crash
 * between the two lost those entries from every other instance's `/live` although the passages
 * were stored.
 *
 * An ingest hook (cloud/store/ingest-hook.ts). Before the batch's gate locks are taken
 * (`prepare`), the entries of every candidate are built — the persons' masked names and visitor
 * flags from the one read the hooks share (cloud/store/postgres/pg-batch-facts.ts) — and packed as
 * the fan-out packs them (cloud/live/live-wire.ts, `packNotifications`, sealed, ~20 per
 * notification); inside the transaction (`onStored`) they go in one `pg_notify` statement, or are
 * built again for the subset that was new when a batch held duplicates. The payloads carry this
 * instance's origin, so its own listening connection skips them; this instance's own listeners
 * get the entries after the commit (cloud/live/live-entries.ts).
 *
 * The price: PostgreSQL serialises the commits of transactions that notified (one queue lock per
 * database, held through the commit record), measured in BENCHMARKS.md, "Scale-out on PostgreSQL".
 */
import type pg from 'pg';
import type { Logger } from '../../shared/log.ts';
import type { CompoundOf, PgIngestHook } from '../store/ingest-hook.ts';
import { batchFacts } from '../store/postgres/pg-batch-facts.ts';
import { type Queryable, run, statement } from '../store/postgres/pg-pool.ts';
import type { StoredEvent } from '../store/store.ts';
import { entryMessage } from './live-entries.ts';
import { LIVE_CHANNEL, type LiveWire, packNotifications } from './live-wire.ts';

/**
 * The batch's payloads in order, in one statement: joined by newlines in one text parameter and
 * split back by the server. A payload never holds a raw newline — `packNotifications` is the only
 * producer, and it writes a seal (hex) and compact JSON, whose strings `JSON.stringify` escapes — so
 * the split gives them back whole (test/cloud/live/live-fanout-packing.test.ts). Sent as a text
 * array, each payload's quotes were escaped into an array literal by node-postgres and parsed back
 * by the server: a tenth of an instance's CPU in live ingest (BENCHMARKS.md, "Scale-out on PostgreSQL").
 */
const notifyJoined = statement<[string, string]>(
  'live_entry_notify_joined',
  `SELECT pg_notify($1, p) FROM unnest(string_to_array($2::text, E'\\n')) WITH ORDINALITY AS t(p, n) ORDER BY n`,
);

interface Packed {
  payloads: string[];
  /** Entries packed, and entries too large to notify alone. */
  count: number;
  oversized: number;
}

export interface PgLiveEntriesCounters {
  /** Entries notified in committed or pending transactions, and the notifications carrying them. */
  notified: number;
  notifications: number;
  /** Entries too large for a notification alone (none of today's shapes). */
  oversized: number;
}

/** The hook; `wire`: the instance's origin (its own fan-out listener skips it) and the deployment's seal key. */
export function pgLiveEntriesHook(options: { wire: LiveWire; logger: Logger }): PgIngestHook & {
  counters: PgLiveEntriesCounters;
} {
  const counters: PgLiveEntriesCounters = { notified: 0, notifications: 0, oversized: 0 };
  const log = options.logger.child({ component: 'cloud.live-entries' });
  /** Notifications packed by `prepare`, by the batch's candidates array (used if every one is new). */
  const prepared = new WeakMap<readonly StoredEvent[], Packed>();
  const pack = async (events: readonly StoredEvent[], compoundOf: CompoundOf, db: Queryable) => {
    const { persons } = await batchFacts(db, events, compoundOf);
    const messages = events.map((e) => {
      const person = e.personId ? persons.get(e.personId) : undefined;
      return entryMessage(e, person?.maskedName ?? null, person?.visitor === true);
    });
    const { payloads, oversized } = packNotifications(options.wire, messages);
    return { payloads, oversized: oversized.length, count: messages.length - oversized.length };
  };
  return {
    engine: 'postgres',
    counters,
    async prepare(candidates, compoundOf, db) {
      prepared.set(candidates, await pack(candidates, compoundOf, db));
    },
    async onStored(events: readonly StoredEvent[], compoundOf, client: pg.PoolClient) {
      const { payloads, count, oversized } = prepared.get(events) ?? (await pack(events, compoundOf, client));
      if (oversized > 0) {
        counters.oversized += oversized;
        log.warn({ count: oversized }, 'live entries too large to notify');
      }
      if (payloads.length === 0) return;
      await run(client, notifyJoined, [LIVE_CHANNEL, payloads.join('\n')]);
      counters.notified += count;
      counters.notifications += payloads.length;
    },
  };
}
