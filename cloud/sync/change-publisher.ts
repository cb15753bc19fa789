/**
 * Pushes what the change log gained to the compound's gates on `compounds/{id}/changes`, in
 * deltas of at most `MAX_CHANGES_PER_MESSAGE` (docs/contract.md, MQTT). Called after the commit; if a
 * publish is lost the gates see a rev gap on the next one and ask for a resync.
 */
import { topics } from '../../shared/topics.ts';
import type { SyncDelta } from '../../shared/schemas/mqtt.ts';
import type { ChangeBatch } from '../store/store.ts';

export const MAX_CHANGES_PER_MESSAGE = 1000;

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

export async function publishChangeBatch(publish: Publish, batch: ChangeBatch): Promise<void> {
  for (const delta of chunkDeltas(batch)) await publish(topics.compoundChanges(batch.compoundId), delta);
}
