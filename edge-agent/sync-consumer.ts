/**
 * Keeps the replica in step with the cloud (CONTRACT.md `changes`, `sync`, `sync/request`).
 *
 * - A live delta applies only when its `fromRev` is our `rev`; one that ends at or below our rev is
 *   old and ignored; anything else is a gap, answered with `{fromRev: rev}` on `sync/request`.
 * - What comes back on `gates/{gateId}/sync` is deltas (same rule) or snapshot chunks, staged in
 *   SQLite and swapped in one transaction when every part is in (ReplicaStore.stageSnapshotChunk).
 * - On every (re)connect the gate asks for what it missed; a request unanswered for `retryMs` is
 *   sent again. A `resync` command asks from rev 0 and then accepts a full replacement even if it
 *   is not newer than what we have (the cloud may have been restored from a backup).
 * - Anything that fails its schema is ignored with a log line and a counter; the replica is only
 *   ever changed inside one transaction per message.
 */
import type { z } from 'zod';
import { formatIssues } from '../shared/config.ts';
import type { Logger } from '../shared/log.ts';
import {
  isSnapshotChunk,
  type SnapshotChunk,
  type SyncDelta,
  syncDeltaSchema,
  syncMessageSchema,
} from '../shared/schemas/mqtt.ts';
import { topics } from '../shared/topics.ts';
import type { ReplicaStore } from './replica-store.ts';
import type { EventPublisher } from './uplink.ts';

export interface SyncConsumerOptions {
  gateId: string;
  compoundId: string;
  replica: ReplicaStore;
  publisher: EventPublisher;
  logger: Logger;
  now?: () => number;
  retryMs?: number;
}

export interface SyncCounters {
  deltasApplied: number;
  deltasStale: number;
  gaps: number;
  snapshotsApplied: number;
  chunksStaged: number;
  chunksStale: number;
  rejected: number;
  requests: number;
}

export class SyncConsumer {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly retryMs: number;
  private pending: { fromRev: number; at: number } | null = null;
  private fullResync = false;
  private connected = false;
  private timer: NodeJS.Timeout | undefined;
  readonly counters: SyncCounters = {
    deltasApplied: 0,
    deltasStale: 0,
    gaps: 0,
    snapshotsApplied: 0,
    chunksStaged: 0,
    chunksStale: 0,
    rejected: 0,
    requests: 0,
  };
  /** Called after the replica changed (mode, rev …) so status and terminal can follow. */
  onReplicaChanged: () => void = () => {};

  constructor(private readonly options: SyncConsumerOptions) {
    this.log = options.logger.child({ component: 'edge.sync' });
    this.now = options.now ?? Date.now;
    this.retryMs = options.retryMs ?? 15_000;
  }

  start(): void {
    this.timer = setInterval(() => this.retryIfUnanswered(), Math.max(100, Math.floor(this.retryMs / 2)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.connected = false;
  }

  /** The topics this consumer handles. */
  get subscriptions(): string[] {
    return [topics.compoundChanges(this.options.compoundId), topics.gateSync(this.options.gateId)];
  }

  connectionUp(): void {
    this.connected = true;
    this.pending = null;
    this.request(this.fullResync ? 0 : this.options.replica.rev());
  }

  connectionDown(): void {
    this.connected = false;
  }

  /** The `resync` command: start again from rev 0. */
  requestFullResync(): boolean {
    this.fullResync = true;
    this.pending = null;
    return this.request(0);
  }

  /** A live delta on `compounds/{compoundId}/changes`. */
  handleChanges(payload: Buffer | string): void {
    const parsed = this.parse(payload, syncDeltaSchema, 'changes');
    if (parsed) this.applyDelta(parsed, 'live');
  }

  /** An answer on `gates/{gateId}/sync`: a delta or a snapshot chunk. */
  handleSync(payload: Buffer | string): void {
    const parsed = this.parse(payload, syncMessageSchema, 'sync');
    if (!parsed) return;
    if (isSnapshotChunk(parsed)) this.stageChunk(parsed);
    else this.applyDelta(parsed, 'requested');
  }

  private parse<T>(payload: Buffer | string, schema: z.ZodType<T>, topic: string): T | undefined {
    this.options.replica.touchCloudContact(this.now());
    let json: unknown;
    try {
      json = JSON.parse(payload.toString());
    } catch {
      this.reject(topic, 'not JSON');
      return undefined;
    }
    const result = schema.safeParse(json);
    if (!result.success) {
      this.reject(topic, formatIssues(result.error).slice(0, 5).join('; '));
      return undefined;
    }
    return result.data;
  }

  private reject(topic: string, why: string): void {
    this.counters.rejected += 1;
    this.log.warn({ topic, why, counter: this.counters.rejected }, 'sync message ignored: invalid');
  }

  private applyDelta(delta: SyncDelta, source: 'live' | 'requested'): void {
    const { replica } = this.options;
    const rev = replica.rev();
    if (source === 'requested' && this.fullResync && delta.fromRev === 0) {
      // A full answer given as one delta from nothing: replace, like a one-part snapshot.
      this.stageChunk({ snapshotRev: delta.toRev, part: 1, parts: 1, records: delta.changes });
      return;
    }
    if (delta.toRev <= rev && !(delta.fromRev === rev && delta.changes.length === 0)) {
      this.counters.deltasStale += 1;
      this.log.debug({ fromRev: delta.fromRev, toRev: delta.toRev, rev }, 'old delta ignored');
      return;
    }
    if (delta.fromRev !== rev) {
      this.counters.gaps += 1;
      this.log.info({ fromRev: delta.fromRev, toRev: delta.toRev, rev, source }, 'gap in deltas: asking for a resync');
      this.request(rev);
      return;
    }
    try {
      replica.applyDelta(delta.changes, delta.toRev);
    } catch (error) {
      this.reject(source, `delta could not be applied: ${(error as Error).message}`);
      return;
    }
    this.counters.deltasApplied += 1;
    if (source === 'requested') this.pending = null;
    this.log.debug({ fromRev: delta.fromRev, toRev: delta.toRev, changes: delta.changes.length }, 'delta applied');
    this.onReplicaChanged();
  }

  private stageChunk(chunk: SnapshotChunk): void {
    const { replica } = this.options;
    if (chunk.snapshotRev < replica.rev() && !this.fullResync) {
      this.counters.chunksStale += 1;
      this.log.info({ snapshotRev: chunk.snapshotRev, rev: replica.rev() }, 'snapshot older than the replica ignored');
      return;
    }
    let outcome: 'staged' | 'applied' | 'stale';
    try {
      outcome = replica.stageSnapshotChunk(chunk.snapshotRev, chunk.part, chunk.parts, chunk.records);
    } catch (error) {
      this.reject('sync', `snapshot could not be applied: ${(error as Error).message}`);
      return;
    }
    if (outcome === 'stale') {
      this.counters.chunksStale += 1;
      this.log.info({ snapshotRev: chunk.snapshotRev }, 'chunk of a snapshot older than the one being staged ignored');
      return;
    }
    this.counters.chunksStaged += 1;
    if (outcome === 'staged') return;
    this.counters.snapshotsApplied += 1;
    this.fullResync = false;
    this.pending = null;
    this.log.info({ rev: chunk.snapshotRev, persons: replica.personCount() }, 'snapshot applied');
    this.onReplicaChanged();
  }

  private request(fromRev: number): boolean {
    const now = this.now();
    if (this.pending && this.pending.fromRev === fromRev && now - this.pending.at < this.retryMs) return true;
    if (!this.connected) return false;
    const sent = this.options.publisher.publish(
      topics.gateSyncRequest(this.options.gateId),
      JSON.stringify({ fromRev }),
      { qos: 1 },
    );
    if (sent) {
      this.pending = { fromRev, at: now };
      this.counters.requests += 1;
      this.log.info({ fromRev }, 'sync requested');
    }
    return sent;
  }

  private retryIfUnanswered(): void {
    if (!this.pending || this.now() - this.pending.at < this.retryMs) return;
    this.pending = null;
    this.request(this.fullResync ? 0 : this.options.replica.rev());
  }
}
