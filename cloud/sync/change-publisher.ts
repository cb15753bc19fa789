/**
 * What the change log gained, cut for the compound's gates on `compounds/{id}/changes`: deltas of
 * at most `MAX_CHANGES_PER_MESSAGE` that chain (docs/contract.md, MQTT). If a publish is lost the
 * gates see a rev gap on the next one and ask for a resync.
 */
import type { SyncDelta } from '../../shared/schemas/mqtt.ts';
import type { ChangeBatch } from '../store/store.ts';
import { MAX_CHANGES_PER_MESSAGE } from '../../shared/schemas/payload-limits.ts';

/**
 * Publishes `payload` as JSON at QoS 1, resolving on PUBACK. A `Buffer` is JSON serialised already
 * (a snapshot part, cut from the store's record texts) and goes out as it is.
 */
export type Publish = (topic: string, payload: unknown) => Promise<void>;

/** Splits a batch into deltas that chain: each `fromRev` is the previous `toRev`. */
export function chunkDeltas(batch: ChangeBatch, max = MAX_CHANGES_PER_MESSAGE): SyncDelta[] {
  const out: SyncDelta[] = [];
  for (let i = 0; i < batch.changes.length; i += max) {
    const changes = batch.changes.slice(i, i + max);
    out.push({ fromRev: batch.fromRev + i, toRev: batch.fromRev + i + changes.length, changes });
  }
  return out;
}
