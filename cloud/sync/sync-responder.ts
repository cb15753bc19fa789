/**
 * Answers `gates/{gateId}/sync/request {fromRev}` on `gates/{gateId}/sync` (docs/contract.md, MQTT):
 * - deltas `{fromRev, toRev, changes}` of ≤ 1000 changes, chained, up to the current rev (an
 *   empty delta `{fromRev: n, toRev: n}` tells an up-to-date gate so);
 * - a snapshot in parts `{snapshotRev, part, parts, records}` (1-based, ≤ 1000 records each) when
 *   `fromRev` is 0, ahead of the cloud, or older than the compacted change log keeps.
 */
import type { Logger } from '../../shared/log.ts';
import type { SnapshotChunk, SyncDelta } from '../../shared/schemas/mqtt.ts';
import { topics } from '../../shared/topics.ts';
import type { CloudMetrics } from '../metrics/cloud-metrics.ts';
import type { RegistryStore } from '../store/store.ts';
import type { Publish } from './change-publisher.ts';

export const MAX_SNAPSHOT_RECORDS_PER_PART = 1000;
export const MAX_DELTA_CHANGES = 1000;

export interface SyncResponderOptions {
  store: Pick<RegistryStore, 'readChanges' | 'snapshot'>;
  publish: Publish;
  metrics: CloudMetrics;
  logger: Logger;
  maxChangesPerMessage?: number;
  maxRecordsPerPart?: number;
}

export class SyncResponder {
  private readonly logger: Logger;

  constructor(private readonly options: SyncResponderOptions) {
    this.logger = options.logger.child({ component: 'cloud.sync' });
  }

  /** Publishes the answer; resolves with its kind once every part is handed to MQTT. */
  async answer(gateId: string, compoundId: string, fromRev: number): Promise<'delta' | 'snapshot'> {
    const topic = topics.gateSync(gateId);
    const maxChanges = this.options.maxChangesPerMessage ?? MAX_DELTA_CHANGES;
    let from = fromRev;
    for (;;) {
      const read = await this.options.store.readChanges(compoundId, from, maxChanges);
      if (read.kind === 'snapshot-needed') {
        await this.sendSnapshot(topic, compoundId);
        this.options.metrics.syncRequests.inc({ answer: 'snapshot' });
        return 'snapshot';
      }
      const last = read.changes[read.changes.length - 1];
      if (!last) {
        // Up to date (or caught up): one empty delta confirms the rev when nothing else was sent.
        if (from === fromRev) await this.options.publish(topic, { fromRev: from, toRev: from, changes: [] });
        break;
      }
      const delta: SyncDelta = { fromRev: from, toRev: last.rev, changes: read.changes.map((c) => c.change) };
      await this.options.publish(topic, delta);
      from = last.rev;
      if (from >= read.currentRev) break;
    }
    this.options.metrics.syncRequests.inc({ answer: 'delta' });
    this.logger.debug({ gateId, fromRev, toRev: from }, 'sync delta sent');
    return 'delta';
  }

  private async sendSnapshot(topic: string, compoundId: string): Promise<void> {
    const size = this.options.maxRecordsPerPart ?? MAX_SNAPSHOT_RECORDS_PER_PART;
    const snapshot = await this.options.store.snapshot(compoundId);
    const parts = Math.max(1, Math.ceil(snapshot.records.length / size));
    for (let part = 1; part <= parts; part++) {
      const chunk: SnapshotChunk = {
        snapshotRev: snapshot.rev,
        part,
        parts,
        records: snapshot.records.slice((part - 1) * size, part * size),
      };
      await this.options.publish(topic, chunk);
    }
    this.logger.info({ compoundId, rev: snapshot.rev, parts }, 'snapshot sent');
  }
}
