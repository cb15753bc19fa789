import type { StoredEvent } from '../store/store.ts';

/**
 * An extension point of the ingest transaction (used by the statistics rollups).
 *
 * `onStored` runs synchronously inside the transaction that inserted the events, after the
 * insert and before the commit, with only the events that were new (replayed duplicates are
 * left out, so a hook never counts a passage twice). If it throws, the whole batch rolls back
 * and is not acknowledged; the gates send it again.
 *
 * With the SQLite store, statements the hook runs on `SqliteCloudStore.db` take part in that
 * transaction. A PostgreSQL store would hand its hooks the transaction's client instead.
 */
export interface IngestHook {
  onStored(events: readonly StoredEvent[], compoundOf: (gateId: string) => string): void;
}
