/**
 * Keeps the replica in step with the cloud (docs/contract.md `changes`, `sync`, `sync/request`).
 *
 * - A live delta applies only when its `fromRev` is our `rev`; one that ends at or below our rev is
 *   old and ignored; anything else is a gap, answered with `{fromRev: rev}` on `sync/request`.
 * - What comes back on `gates/{gateId}/sync` is deltas (same rule) or snapshot chunks, staged in
 *   SQLite and swapped in one transaction when every part is in (ReplicaStore.stageSnapshotChunk).
 * - Each staged part is acknowledged on `gates/{gateId}/sync/ack {snapshotRev, part}`: the cloud
 *   keeps only a small window of parts unacknowledged (cloud/sync/snapshot-flow.ts), so a large
 *   snapshot never piles up past the broker's backlog limit for this gate. A part that arrives
 *   counts as progress on the pending request, which is not asked again while parts keep coming.
 * - On every (re)connect the gate asks for what it missed; a request unanswered for `retryMs` is
 *   sent again. A `resync` command asks from rev 0 and then accepts a full replacement even if it
 *   is not newer than what we have (the cloud may have been restored from a backup).
 * - A gap seen while a request is already pending (a live delta during a snapshot, say) is not
 *   asked for twice, but its `toRev` is remembered: once a swap or a delta has moved the replica
 *   and it is still below that rev, the gate asks again from its new rev.
 * - While connected and nothing has come from the cloud for `probeMs` (a third of the staleness
 *   limit, `syncProbeMs`), the gate asks `{fromRev: rev}`; an up-to-date gate gets an empty delta
 *   back, which is cloud contact, so an idle but connected gate never turns stale.
 * - Payloads reach it only within their topic's size limit, checked unread before anything parses
 *   them (cloud-messages.ts, cloud-input-limits.ts; docs/edge-agent.md "Size limits on what the
 *   cloud sends").
 * - Only messages that pass their schema count as cloud contact. A message whose envelope (revs,
 *   parts) fails its schema is ignored with a log line and a counter; the replica is only ever
 *   changed inside one transaction per message.
 * - Each change of a delta or snapshot part is checked on its own: one the gate cannot read is
 *   skipped, counted (`changesSkipped`) and reported as a `sync-change-invalid` alarm (once per
 *   snapshot, once per delta), and the rest is applied and acknowledged. Refusing the whole
 *   message instead would refuse it again each time the cloud sends it: a snapshot part would never
 *   complete, and the gate would stay on its old replica for good (docs/edge-agent.md, "Invalid
 *   changes from the cloud").
 */
import { z } from 'zod';
import { formatIssues } from '../shared/config.ts';
import type { Mode, MODES } from '../shared/enums.ts';
import { idSchema } from '../shared/ids.ts';
import type { Logger } from '../shared/log.ts';
import { type Change, syncDeltaEnvelopeSchema, syncEnvelopeSchema } from '../shared/schemas/mqtt.ts';
import { topics } from '../shared/topics.ts';
import { readChange } from './change-reader.ts';
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
  /**
   * With no cloud contact for this long while connected, ask `{fromRev: rev}` (a probe the cloud
   * answers, even when there is nothing new). Absent: no probe. See `syncProbeMs`.
   */
  probeMs?: number;
  /**
   * Changes the gate could not read were skipped and the rest applied: raise the
   * `sync-change-invalid` alarm with this detail. Called at most once per snapshot and per delta.
   */
  onInvalidChanges?: (detail: string) => void;
}

/** A delta or snapshot part whose changes are not checked yet (each is checked on its own). */
interface UncheckedDelta {
  fromRev: number;
  toRev: number;
  changes: readonly unknown[];
}
interface UncheckedChunk {
  snapshotRev: number;
  part: number;
  parts: number;
  records: readonly unknown[];
}

/** The probe period for a staleness limit: a third of it, but not more often than once a second. */
export function syncProbeMs(stalenessLimitMs: number): number {
  return Math.max(1_000, Math.floor(stalenessLimitMs / 3));
}

export interface SyncCounters {
  deltasApplied: number;
  deltasStale: number;
  gaps: number;
  snapshotsApplied: number;
  chunksStaged: number;
  chunksStale: number;
  rejected: number;
  /** Changes of deltas and snapshot parts skipped because they fail `changeSchema`. */
  changesSkipped: number;
  requests: number;
  probes: number;
}

export class SyncConsumer {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly retryMs: number;
  private probeMs: number | undefined;
  private pending: { fromRev: number; at: number } | null = null;
  /** The highest `toRev` seen in a gap: the cloud has at least this, so the replica must catch up to it. */
  private gapToRev = 0;
  private fullResync = false;
  /** The snapshot whose skipped changes were already reported (one alarm per snapshot, not per part). */
  private reportedSnapshotRev: number | undefined;
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
    changesSkipped: 0,
    requests: 0,
    probes: 0,
  };
  /** Called after the replica changed (mode, rev …) so status and terminal can follow. */
  onReplicaChanged: () => void = () => {};

  constructor(private readonly options: SyncConsumerOptions) {
    this.log = options.logger.child({ component: 'edge.sync' });
    this.now = options.now ?? Date.now;
    this.retryMs = options.retryMs ?? 15_000;
    this.probeMs = options.probeMs;
  }

  start(): void {
    const period = Math.min(this.retryMs, this.probeMs ?? Number.POSITIVE_INFINITY);
    this.timer = setInterval(() => this.tick(), Math.max(100, Math.floor(period / 2)));
    this.timer.unref();
  }

  /** A new probe interval (the cloud changed the gate's staleness limit); the timer follows. */
  setProbeMs(probeMs: number | undefined): void {
    if (probeMs === this.probeMs) return;
    this.probeMs = probeMs;
    if (!this.timer) return;
    clearInterval(this.timer);
    this.start();
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
    this.gapToRev = 0;
    return this.request(0);
  }

  /** A live delta on `compounds/{compoundId}/changes`. */
  handleChanges(payload: Buffer | string): void {
    const parsed = this.parse(payload, syncDeltaEnvelopeSchema, 'changes');
    if (parsed) this.applyDelta(parsed, 'live');
  }

  /** An answer on `gates/{gateId}/sync`: a delta or a snapshot chunk. */
  handleSync(payload: Buffer | string): void {
    const parsed = this.parse(payload, syncEnvelopeSchema, 'sync');
    if (!parsed) return;
    if ('snapshotRev' in parsed) this.stageChunk(parsed);
    else this.applyDelta(parsed, 'requested');
  }

  private parse<T>(payload: Buffer | string, schema: z.ZodType<T>, topic: string): T | undefined {
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
    // Only a message that validates is word from the cloud (staleness).
    this.options.replica.touchCloudContact(this.now());
    return result.data;
  }

  private reject(topic: string, why: string): void {
    this.counters.rejected += 1;
    this.log.warn({ topic, why, counter: this.counters.rejected }, 'sync message ignored: invalid');
  }

  /**
   * The changes that pass `changeSchema` (read by change-reader.ts), in order; the others are counted, logged and reported
   * (`report`: false when this snapshot's skipped changes were reported already), and replaced by
   * what fails closed where they name a person or a pass (`failClosed`).
   */
  private checkChanges(items: readonly unknown[], where: string, report = true): Change[] {
    const changes: Change[] = [];
    let skipped = 0;
    let first = '';
    for (let index = 0; index < items.length; index++) {
      const item = items[index];
      const reading = readChange(item);
      if (reading.ok) {
        changes.push(reading.change);
        continue;
      }
      skipped += 1;
      if (skipped === 1)
        first = `#${index} ${describeChange(item)}: ${formatIssues(reading.error).slice(0, 3).join('; ')}`;
      const closed = failClosed(item, this.now(), () => modeAfter(changes) ?? this.options.replica.mode());
      if (closed) changes.push(closed);
    }
    if (skipped === 0) return changes;
    this.counters.changesSkipped += skipped;
    const detail = `${where}: ${skipped} of ${items.length} changes could not be read and were skipped, first ${first}`;
    this.log.warn({ skipped, of: items.length, counter: this.counters.changesSkipped }, detail);
    if (report) this.options.onInvalidChanges?.(detail);
    return changes;
  }

  private applyDelta(delta: UncheckedDelta, source: 'live' | 'requested'): void {
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
      this.gapToRev = Math.max(this.gapToRev, delta.toRev);
      this.log.info({ fromRev: delta.fromRev, toRev: delta.toRev, rev, source }, 'gap in deltas: asking for a resync');
      this.request(rev);
      return;
    }
    const changes = this.checkChanges(delta.changes, `delta ${delta.fromRev}→${delta.toRev}`);
    try {
      replica.applyDelta(changes, delta.toRev);
    } catch (error) {
      this.reject(source, `delta could not be applied: ${(error as Error).message}`);
      return;
    }
    this.counters.deltasApplied += 1;
    if (source === 'requested') this.pending = null;
    this.log.debug({ fromRev: delta.fromRev, toRev: delta.toRev, changes: delta.changes.length }, 'delta applied');
    this.onReplicaChanged();
    // An empty answer only confirms the rev: asking again on it could ping-pong with the cloud.
    if (delta.toRev > delta.fromRev) this.catchUpWithGap();
  }

  private stageChunk(chunk: UncheckedChunk): void {
    const { replica } = this.options;
    if (chunk.snapshotRev < replica.rev() && !this.fullResync) {
      this.counters.chunksStale += 1;
      this.log.info({ snapshotRev: chunk.snapshotRev, rev: replica.rev() }, 'snapshot older than the replica ignored');
      return;
    }
    const where = `snapshot rev ${chunk.snapshotRev} part ${chunk.part}/${chunk.parts}`;
    const skippedBefore = this.counters.changesSkipped;
    const records = this.checkChanges(chunk.records, where, this.reportedSnapshotRev !== chunk.snapshotRev);
    if (this.counters.changesSkipped > skippedBefore) this.reportedSnapshotRev = chunk.snapshotRev;
    let outcome: 'staged' | 'applied' | 'stale';
    try {
      outcome = replica.stageSnapshotChunk(chunk.snapshotRev, chunk.part, chunk.parts, records);
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
    this.acknowledge(chunk);
    if (outcome === 'staged') {
      // The answer is arriving: the request is not unanswered while its parts keep coming.
      if (this.pending) this.pending.at = this.now();
      return;
    }
    this.counters.snapshotsApplied += 1;
    this.fullResync = false;
    this.pending = null;
    // The status first: counting 100 k persons for the log line is not the gate's to wait for.
    this.onReplicaChanged();
    this.log.info({ rev: chunk.snapshotRev, persons: replica.personCount() }, 'snapshot applied');
    this.catchUpWithGap();
  }

  /**
   * A gap seen while a request was pending was not asked for (same `fromRev`); the answer to that
   * request may end below it (a live change during a snapshot). Ask again from where we are now.
   */
  private catchUpWithGap(): void {
    const rev = this.options.replica.rev();
    if (this.gapToRev <= rev) return;
    this.log.info({ rev, gapToRev: this.gapToRev }, 'replica still behind a gap seen meanwhile: asking again');
    this.request(rev);
  }

  /** Tells the cloud this part is staged, so that it may send the next ones (QoS 1, best effort). */
  private acknowledge(chunk: UncheckedChunk): void {
    if (!this.connected) return;
    this.options.publisher.publish(
      topics.gateSyncAck(this.options.gateId),
      JSON.stringify({ snapshotRev: chunk.snapshotRev, part: chunk.part }),
      { qos: 1 },
    );
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

  private tick(): void {
    this.retryIfUnanswered();
    this.probeIfQuiet();
  }

  private retryIfUnanswered(): void {
    if (!this.pending || this.now() - this.pending.at < this.retryMs) return;
    this.pending = null;
    this.request(this.fullResync ? 0 : this.options.replica.rev());
  }

  /** Connected, nothing pending, and no word from the cloud for `probeMs`: ask, so that it answers. */
  private probeIfQuiet(): void {
    if (this.probeMs === undefined || !this.connected || this.pending) return;
    const last = this.options.replica.lastCloudContactAt();
    if (last !== null && this.now() - last < this.probeMs) return;
    this.log.debug({ lastContact: last }, 'no word from the cloud for a while: probing with a sync request');
    if (this.request(this.fullResync ? 0 : this.options.replica.rev())) this.counters.probes += 1;
  }
}

const PERSON_OPS: ReadonlySet<unknown> = new Set(['person.upsert', 'person.delete', 'health']);
/** The modes an unreadable change may still impose: only those that admit fewer people than normal. */
const TIGHTER_MODE = z.enum(['controlled', 'lockdown'] satisfies (typeof MODES)[number][]);
/** How few a mode admits: an unreadable change may only move the gate up this order. */
const STRICTNESS: Record<Mode, number> = { normal: 0, 'emergency-open': 0, controlled: 1, lockdown: 2 };

/** The mode the last mode change among `changes` sets, if any. */
function modeAfter(changes: readonly Change[]): Mode | undefined {
  for (let i = changes.length - 1; i >= 0; i--) {
    const change = changes[i]!;
    if (change.op === 'mode') return change.mode;
  }
  return undefined;
}

/** An unreadable change's own fields, and the person it names (top level or in its record). */
function fieldsOf(item: object): { fields: Record<string, unknown>; personId: unknown } {
  const fields = item as Record<string, unknown>;
  const person =
    typeof fields.person === 'object' && fields.person !== null ? (fields.person as Record<string, unknown>) : {};
  return { fields, personId: fields.personId ?? person.personId };
}

/**
 * What the gate does instead of a change it cannot read, where that change said enough to act on:
 * skipping it could leave a revoked pass or a person turned red admitting at the door, or the gate
 * in the mode it was told to leave. So a person whose record or health could not be read is taken
 * out of the replica (unknown: refused until a readable record arrives), a pass whose revocation
 * could not be read is revoked, and a mode change naming a mode that admits fewer people than the
 * gate's mode now (controlled, lockdown; its time or reason unreadable) is applied — never one that
 * loosens (lockdown → controlled) or opens
 * (normal, emergency-open), which only a readable change may. The alarm tells the manager; anything
 * else (a policy, a setting) is skipped.
 */
function failClosed(item: unknown, now: number, currentMode: () => Mode): Change | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  const { fields, personId } = fieldsOf(item);
  const person = idSchema.safeParse(personId);
  if (PERSON_OPS.has(fields.op) && person.success) return { op: 'person.delete', personId: person.data };
  const passId = idSchema.safeParse(fields.passId);
  if (fields.op === 'pass.revoke' && passId.success) return { op: 'pass.revoke', passId: passId.data, ts: now };
  const mode = TIGHTER_MODE.safeParse(fields.mode);
  if (fields.op === 'mode' && mode.success && STRICTNESS[mode.data] > STRICTNESS[currentMode()]) {
    return { op: 'mode', mode: mode.data, ts: now };
  }
  return undefined;
}

/** What names a change in a log line or alarm, read from whatever shape it has (it failed its schema). */
function describeChange(item: unknown): string {
  if (typeof item !== 'object' || item === null) return `(${item === null ? 'null' : typeof item})`;
  const { fields, personId } = fieldsOf(item);
  const named = [fields.op, personId, fields.passId, fields.gateId].filter((v) => typeof v === 'string') as string[];
  return named.map((v) => v.slice(0, 64)).join(' ') || '(no op)';
}
