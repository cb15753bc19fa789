/**
 * `/live` entries across cloud instances, notified in the ingest transaction (docs/deploy.md,
 * "Scaling out"). PostgreSQL delivers a `NOTIFY` when — and only if — its transaction commits, so
 * sending the batch's entries from inside the transaction that stores the batch makes "stored" and
 * "notified" one fact: an instance that dies after its COMMIT has already told every other
 * instance, and a batch that rolls back told nobody. Sent after the commit (as before), a crash
 * between the two lost those entries from every other instance's `/live` although the passages
 * were stored.
 *
 * An ingest hook (cloud/store/ingest-hook.ts), composed first so that its reads happen before the
 * statistics take their row locks: the batch's persons (masked name, visitor or not) from the one
 * read the hooks share (cloud/store/postgres/pg-batch-facts.ts), then the entries packed as the fan-out packs them
 * (cloud/live/live-wire.ts, `packNotifications`, sealed, ~20 per notification) in one `pg_notify`
 * statement. The payloads carry this instance's origin, so its own listening connection skips
 * them; this instance's own listeners get the entries after the commit (cloud/live/live-entries.ts).
 *
 * The price: PostgreSQL serialises the commits of transactions that notified (one queue lock per
 * database, held through the commit record), measured in BENCHMARKS.md, "Scale-out on PostgreSQL".
 */
import type pg from 'pg';
import type { Logger } from '../../shared/log.ts';
import type { PgIngestHook } from '../store/ingest-hook.ts';
import { batchFacts } from '../store/postgres/pg-batch-facts.ts';
import { run, statement } from '../store/postgres/pg-pool.ts';
import type { StoredEvent } from '../store/store.ts';
import { entryMessage } from './live-entries.ts';
import { LIVE_CHANNEL, type LiveWire, NOTIFY_SQL, packNotifications } from './live-wire.ts';

const notify = statement<[string, string[]]>('live_entry_notify', NOTIFY_SQL);

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
  return {
    engine: 'postgres',
    counters,
    async onStored(events: readonly StoredEvent[], compoundOf, client: pg.PoolClient) {
      const { persons } = await batchFacts(client, events, compoundOf);
      const messages = events.map((e) => {
        const person = e.personId ? persons.get(e.personId) : undefined;
        return entryMessage(e, person?.maskedName ?? null, person?.visitor === true);
      });
      const { payloads, oversized } = packNotifications(options.wire, messages);
      if (oversized.length > 0) {
        counters.oversized += oversized.length;
        log.warn({ count: oversized.length }, 'live entries too large to notify');
      }
      if (payloads.length === 0) return;
      await run(client, notify, [LIVE_CHANNEL, payloads]);
      counters.notified += messages.length - oversized.length;
      counters.notifications += payloads.length;
    },
  };
}
