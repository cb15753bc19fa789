/**
 * An entry event as the cloud stores it: its own module so that the store's interface
 * (store.ts) and the ingest hook (ingest-hook.ts) can both name it without importing each other.
 */
import type { EntryEvent } from '../../shared/schemas/mqtt.ts';

/** An entry event as stored: every `EntryEvent` field plus where it belongs and when the cloud got it. */
export interface StoredEvent extends EntryEvent {
  compoundId: string;
  receivedAt: number;
}
