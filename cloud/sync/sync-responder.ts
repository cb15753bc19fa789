/**
 * Answers `gates/{gateId}/sync/request {fromRev}` on `gates/{gateId}/sync` (docs/contract.md, MQTT):
 * - deltas `{fromRev, toRev, changes}` of ≤ 1000 changes, chained, up to the current rev (an
 *   empty delta `{fromRev: n, toRev: n}` tells an up-to-date gate so);
 * - a snapshot in parts `{snapshotRev, part, parts, records}` (1-based, ≤ 1000 records each) when
 *   `fromRev` is 0, ahead of the cloud, or older than the compacted change log keeps — streamed:
 *   cut into parts (snapshot-parts.ts) as the store reads it, sent under flow control
 *   (snapshot-flow.ts) while the rest is still being read.
 */
import type { Logger } from '../../shared/log.ts';
import type { Change, SyncDelta } from '../../shared/schemas/mqtt.ts';
import { MAX_CHANGES_PER_MESSAGE } from '../../shared/schemas/payload-limits.ts';
import { topics } from '../../shared/topics.ts';
import type { CloudMetrics } from '../metrics/cloud-metrics.ts';
import type { RegistryStore } from '../store/store.ts';
import type { Publish } from './change-publisher.ts';
import { SnapshotFlow, type SnapshotFlowOptions, type SnapshotSend } from './snapshot-flow.ts';
import { SnapshotPartCutter, SnapshotReadStopped } from './snapshot-parts.ts';

/** The gates' size limits rest on these (shared/schemas/payload-limits.ts). */
const MAX_SNAPSHOT_RECORDS_PER_PART = MAX_CHANGES_PER_MESSAGE;
const MAX_DELTA_CHANGES = MAX_CHANGES_PER_MESSAGE;

export interface SyncResponderOptions {
  store: Pick<RegistryStore, 'readChanges' | 'readSnapshot'>;
  /** What the extensions add after the store's records (cloud/http/extension.ts `snapshot`); read first. */
  extraSnapshotRecords?: (compoundId: string) => Promise<Change[]>;
  publish: Publish;
  metrics: CloudMetrics;
  logger: Logger;
  maxChangesPerMessage?: number;
  maxRecordsPerPart?: number;
  /** Snapshot flow control (window, pace, give-up), see snapshot-flow.ts. */
  flow?: Omit<SnapshotFlowOptions, 'publish' | 'logger'>;
}

export class SyncResponder {
  private readonly logger: Logger;
  private readonly flow: SnapshotFlow;

  constructor(private readonly options: SyncResponderOptions) {
    this.logger = options.logger.child({ component: 'cloud.sync' });
    this.flow = new SnapshotFlow({ ...options.flow, publish: options.publish, logger: options.logger });
  }

  /** `gates/{gateId}/sync/ack`: the gate has staged parts 1..`part` of `snapshotRev`. */
  acknowledge(gateId: string, snapshotRev: number, part: number): boolean {
    return this.flow.ack(gateId, snapshotRev, part);
  }

  /** Ends the snapshot sessions under way (the cloud stops). */
  stop(): void {
    this.flow.stop();
  }

  /**
   * Publishes the answer; resolves with its kind once every delta, or the first window of a
   * snapshot, is handed to MQTT (the rest of a snapshot follows the gate's acks, snapshot-flow.ts).
   */
  async answer(gateId: string, compoundId: string, fromRev: number): Promise<'delta' | 'snapshot'> {
    const topic = topics.gateSync(gateId);
    const maxChanges = this.options.maxChangesPerMessage ?? MAX_DELTA_CHANGES;
    let from = fromRev;
    for (;;) {
      const read = await this.options.store.readChanges(compoundId, from, maxChanges);
      if (read.kind === 'snapshot-needed') {
        await this.sendSnapshot(gateId, topic, compoundId);
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

  private async sendSnapshot(gateId: string, topic: string, compoundId: string): Promise<void> {
    const size = this.options.maxRecordsPerPart ?? MAX_SNAPSHOT_RECORDS_PER_PART;
    const extra = ((await this.options.extraSnapshotRecords?.(compoundId)) ?? []).map((r) => JSON.stringify(r));
    let send: SnapshotSend | undefined;
    const cutter = new SnapshotPartCutter(size, extra, (rev, parts) => {
      const session = this.flow.send(gateId, topic, { rev, parts });
      send = session;
      // A gate asking again while its snapshot is under way resumes that session: one end, logged once.
      if (session.resumed) return undefined;
      void session.finished.then((end) =>
        this.logger.info({ gateId, compoundId, rev, parts, end }, 'snapshot session ended'),
      );
      return (payload) => void session.add(payload);
    });
    try {
      await this.options.store.readSnapshot(compoundId, cutter);
      cutter.finish();
    } catch (err) {
      if (err instanceof SnapshotReadStopped && send) return send.started;
      send?.fail(err);
      throw err;
    }
  }
}
