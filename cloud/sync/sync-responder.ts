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

/**
 * What the extensions add to a snapshot (cloud/http/extension.ts `snapshotRecords`), and the compound's
 * rev read before they were read: every change up to `rev` is in `records`.
 */
export interface ExtraSnapshotRecords {
  rev: number;
  records: Change[];
}

/** Streamed attempts whose extension records turned out older than the snapshot, before reading whole. */
const STREAM_ATTEMPTS = 3;

/**
 * The snapshot's rev moved past the rev the extensions' records were read at: a supply claim, a
 * round or an exit use committed in between would be in neither the snapshot nor any later delta.
 * Thrown at `begin`, before any part leaves.
 */
class ExtrasOutdated extends Error {
  constructor(extrasRev: number, snapshotRev: number) {
    super(`snapshot at rev ${snapshotRev}, extension records read at rev ${extrasRev}`);
    this.name = 'ExtrasOutdated';
  }
}

export interface SyncResponderOptions {
  store: Pick<RegistryStore, 'readChanges' | 'readSnapshot'>;
  /**
   * What the extensions add after the store's records. Read before a streamed snapshot (whose part
   * count includes them), so the snapshot is sent only if its rev is still the rev they were read
   * at; else read again, and after a few tries the store's records are read whole first and the
   * extensions' after them — never older than the snapshot, as deltas cannot bring them later.
   */
  extraSnapshotRecords?: (compoundId: string) => Promise<ExtraSnapshotRecords>;
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
    for (let attempt = 1; attempt <= STREAM_ATTEMPTS; attempt++) {
      const extra = await this.options.extraSnapshotRecords?.(compoundId);
      try {
        return await this.streamSnapshot(gateId, topic, compoundId, extra?.records ?? [], extra?.rev);
      } catch (err) {
        if (!(err instanceof ExtrasOutdated)) throw err;
        this.logger.debug({ gateId, compoundId, attempt, err }, 'snapshot read again: the compound changed meanwhile');
      }
    }
    await this.sendWholeSnapshot(gateId, topic, compoundId);
  }

  /**
   * The compound changing faster than a streamed read can start: its records read whole (the read
   * transaction over), then the extensions' — read after the snapshot's rev, so never older — and
   * the parts cut from memory.
   */
  private async sendWholeSnapshot(gateId: string, topic: string, compoundId: string): Promise<void> {
    let rev = 0;
    const records: string[] = [];
    await this.options.store.readSnapshot(compoundId, {
      begin: (at) => {
        rev = at;
      },
      page: (page) => {
        for (const record of page) records.push(record);
      },
    });
    const extra = (await this.options.extraSnapshotRecords?.(compoundId))?.records ?? [];
    const whole: RegistryStore['readSnapshot'] = async (_compoundId, sink) => {
      await sink.begin(rev, records.length);
      await sink.page(records);
    };
    await this.streamSnapshot(gateId, topic, compoundId, extra, undefined, whole);
  }

  private async streamSnapshot(
    gateId: string,
    topic: string,
    compoundId: string,
    extraRecords: readonly Change[],
    extrasRev: number | undefined,
    read: RegistryStore['readSnapshot'] = (id, sink) => this.options.store.readSnapshot(id, sink),
  ): Promise<void> {
    const size = this.options.maxRecordsPerPart ?? MAX_SNAPSHOT_RECORDS_PER_PART;
    const extra = extraRecords.map((r) => JSON.stringify(r));
    let send: SnapshotSend | undefined;
    const cutter = new SnapshotPartCutter(size, extra, (rev, parts) => {
      if (extrasRev !== undefined && rev !== extrasRev) throw new ExtrasOutdated(extrasRev, rev);
      const session = this.flow.send(gateId, topic, { compoundId, rev, parts });
      send = session;
      // A gate asking again while its snapshot is under way resumes that session: one end, logged once.
      if (session.resumed) return undefined;
      void session.finished.then((end) =>
        this.logger.info({ gateId, compoundId, rev, parts, end }, 'snapshot session ended'),
      );
      return (payload) => void session.add(payload);
    });
    try {
      await read(compoundId, cutter);
      cutter.finish();
    } catch (err) {
      if (err instanceof SnapshotReadStopped && send) return send.started;
      send?.fail(err);
      throw err;
    }
  }
}
