/**
 * Routes what the cloud receives from gates by topic kind: events to ingest; statuses (latest +
 * history, journal-depth gauge, live feed), alarms (stored, live feed), command results and sync
 * requests. Every payload is parsed with its shared schema; bad or foreign input is counted and
 * logged, never thrown (docs/architecture.md rule 3).
 */
import type { z } from 'zod';
import type { CommandKind } from '../../shared/enums.ts';
import type { Logger } from '../../shared/log.ts';
import {
  alarmMessageSchema,
  commandResultSchema,
  type GateStatus,
  gateStatusSchema,
  syncAckSchema,
  syncRequestSchema,
} from '../../shared/schemas/mqtt.ts';
import { type ClaimAsk, type ClaimRecord, claimAskSchema, claimsMessageSchema } from '../../shared/schemas/supply.ts';
import { type GateTopicKind, tryParseTopic } from '../../shared/topics.ts';
import type { EventIngest } from '../ingest/event-ingest.ts';
import type { LiveHub } from '../live/live-hub.ts';
import type { CloudMetrics } from '../metrics/cloud-metrics.ts';
import type { GateActivityStore } from '../store/store.ts';
import type { SyncResponder } from '../sync/sync-responder.ts';

const MAX_PENDING_SYNC = 200;

export interface GateMessageRouterOptions {
  ingest: Pick<EventIngest, 'accept'>;
  store: GateActivityStore;
  compoundOf(gateId: string): Promise<string | undefined>;
  sync: Pick<SyncResponder, 'answer' | 'acknowledge'>;
  live: LiveHub;
  metrics: CloudMetrics;
  logger: Logger;
  now?: () => number;
  /** After each stored status, not awaited (token renewal, contract check: cloud/tokens/gate-token-renewal.ts); must not throw. */
  onStatus?: (gateId: string, compoundId: string, status: GateStatus) => Promise<void>;
  /** Called with every known command's result and kind (token renewal finishes on it); never awaited. */
  onCommandResult?: (gateId: string, cmdId: string, ok: boolean, kind: CommandKind) => Promise<void>;
  /** A distribution point's claim records and asks (cloud/supply/supply-service.ts); not awaited, must not throw. */
  supply?: {
    onClaims(gateId: string, compoundId: string, claims: readonly ClaimRecord[]): Promise<void>;
    onAsk(gateId: string, compoundId: string, ask: ClaimAsk): Promise<void>;
  };
}

export class GateMessageRouter {
  private readonly logger: Logger;
  private readonly now: () => number;
  private syncChain: Promise<unknown> = Promise.resolve();
  private pendingSync = 0;
  /** Gates with an answer waiting or under way: one at a time per gate. */
  private readonly syncingGates = new Set<string>();
  /** The latest request of a gate that asked while its answer was under way (answered next). */
  private readonly queuedSync = new Map<string, { compoundId: string; fromRev: number }>();

  constructor(private readonly options: GateMessageRouterOptions) {
    this.logger = options.logger.child({ component: 'cloud.mqtt' });
    this.now = options.now ?? Date.now;
  }

  /**
   * Handles one message; returns nothing when the next may be taken at once (an `events` message
   * ingest took on its fast path), else a promise that resolves when it may (ingest backpressure).
   * Never throws, never rejects.
   */
  route(topic: string, payload: Buffer, delivery: { retained?: boolean } = {}): Promise<void> | undefined {
    const parsed = tryParseTopic(topic);
    if (parsed?.scope !== 'gate') {
      this.options.metrics.ingestRejects.inc({ reason: 'invalid-topic' });
      this.logger.warn({ topic }, 'message on an unexpected topic');
      return;
    }
    const { gateId, kind } = parsed;
    this.options.metrics.ingestMessages.inc({ kind });
    if (kind !== 'events') return this.routeOther(gateId, kind, payload, delivery);
    const failed = (err: unknown) => this.handlerFailed(gateId, kind, err);
    try {
      return this.options.ingest.accept(gateId, payload)?.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  private handlerFailed(gateId: string, kind: GateTopicKind, err: unknown): void {
    this.options.metrics.mqttRejects.inc({ kind, reason: 'handler-failed' });
    this.logger.error({ err, gateId, kind }, 'message handling failed');
  }

  /** Every kind but `events`. */
  private async routeOther(
    gateId: string,
    kind: GateTopicKind,
    payload: Buffer,
    delivery: { retained?: boolean },
  ): Promise<void> {
    try {
      switch (kind) {
        case 'status':
          return await this.onStatus(gateId, payload, delivery.retained === true);
        case 'alarms':
          return await this.onAlarm(gateId, payload);
        case 'cmd/result':
          return await this.onCommandResult(gateId, payload);
        case 'sync/request':
          return await this.onSyncRequest(gateId, payload);
        case 'sync/ack':
          return await this.onSyncAck(gateId, payload);
        case 'claims':
        case 'claims/ask':
          return await this.onSupply(gateId, kind, payload);
        default:
          // The cloud's own outputs (ack, cmd, sync) are not subscribed; nothing else exists.
          this.options.metrics.mqttRejects.inc({ kind, reason: 'unexpected-kind' });
      }
    } catch (err) {
      this.handlerFailed(gateId, kind, err);
    }
  }

  private async parse<S extends z.ZodType>(
    gateId: string,
    kind: GateTopicKind,
    schema: S,
    payload: Buffer,
  ): Promise<{ data: z.infer<S>; compoundId: string } | undefined> {
    const reject = (reason: string, extra: Record<string, unknown> = {}) => {
      this.options.metrics.mqttRejects.inc({ kind, reason });
      this.logger.warn({ gateId, kind, reason, ...extra }, 'gate message rejected');
      return undefined;
    };
    let json: unknown;
    try {
      json = JSON.parse(payload.toString());
    } catch {
      return reject('invalid-payload');
    }
    const result = schema.safeParse(json);
    if (!result.success) {
      return reject('invalid-payload', {
        issues: result.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`),
      });
    }
    const compoundId = await this.options.compoundOf(gateId);
    if (compoundId === undefined) return reject('unknown-gate');
    return { data: result.data, compoundId };
  }

  private async onStatus(gateId: string, payload: Buffer, retained: boolean): Promise<void> {
    if (payload.length === 0) return; // a cleared retained status
    const parsed = await this.parse(gateId, 'status', gateStatusSchema, payload);
    if (!parsed) return;
    const { data: status, compoundId } = parsed;
    await this.options.store.recordStatus(gateId, compoundId, status, this.now(), { retained });
    this.options.metrics.gateJournalDepth.set(status.journalDepth, { gate: gateId });
    this.options.metrics.gateOnline.set(status.online ? 1 : 0, { gate: gateId });
    // `here`: every cloud instance subscribes the statuses itself (not through the shared group).
    this.options.live.publish({ type: 'status', data: { ...status, gateId, compoundId } }, 'here');
    // Not awaited: it may publish (a renewal), and a publish awaited inside the message path
    // waits for a PUBACK that the paused client would only read after this handler returns.
    void this.options.onStatus?.(gateId, compoundId, status);
  }

  private async onAlarm(gateId: string, payload: Buffer): Promise<void> {
    const parsed = await this.parse(gateId, 'alarms', alarmMessageSchema, payload);
    if (!parsed) return;
    const { data: alarm, compoundId } = parsed;
    await this.options.store.recordAlarm({ ...alarm, gateId, compoundId, receivedAt: this.now() });
    this.options.metrics.alarms.inc({ kind: alarm.kind });
    this.options.live.publish({ type: 'alarm', data: { ...alarm, gateId, compoundId } });
  }

  /**
   * Claims and asks of a distribution point. Not awaited: the supply service answers with a publish, and a
   * publish awaited inside the message path would wait for a PUBACK the paused client reads only
   * after this handler returns. Its SQLite work is synchronous, so the order of messages holds.
   */
  private async onSupply(gateId: string, kind: 'claims' | 'claims/ask', payload: Buffer): Promise<void> {
    const supply = this.options.supply;
    if (!supply) {
      this.options.metrics.mqttRejects.inc({ kind, reason: 'unexpected-kind' });
      return;
    }
    const fail = (err: unknown) => this.logger.error({ err, gateId, kind }, 'supply message failed');
    if (kind === 'claims') {
      const parsed = await this.parse(gateId, kind, claimsMessageSchema, payload);
      if (parsed) void supply.onClaims(gateId, parsed.compoundId, parsed.data.claims).catch(fail);
    } else {
      const parsed = await this.parse(gateId, kind, claimAskSchema, payload);
      if (parsed) void supply.onAsk(gateId, parsed.compoundId, parsed.data).catch(fail);
    }
  }

  private async onCommandResult(gateId: string, payload: Buffer): Promise<void> {
    const parsed = await this.parse(gateId, 'cmd/result', commandResultSchema, payload);
    if (!parsed) return;
    const { cmdId, ok, error } = parsed.data;
    const kind = await this.options.store.recordCommandResult(gateId, cmdId, ok, error ?? null, this.now());
    if (!kind) {
      this.options.metrics.mqttRejects.inc({ kind: 'cmd/result', reason: 'unknown-command' });
      this.logger.warn({ gateId, cmdId }, 'result of a command this gate was not sent');
      return;
    }
    void this.options.onCommandResult?.(gateId, cmdId, ok, kind);
  }

  /**
   * Sync answers run one after another off the message path: a snapshot of many parts must not
   * hold up ingest. Each gate has at most one answer waiting or under way: a request from a gate
   * that already has one is dropped (that answer brings it to the current rev anyway), so a gate
   * that floods requests — a stolen one, say — takes one place in the line, not all of them and
   * not the other gates' turn. Past `MAX_PENDING_SYNC` waiting gates, new requests are dropped
   * too (the gate asks again).
   */
  private async onSyncRequest(gateId: string, payload: Buffer): Promise<void> {
    const parsed = await this.parse(gateId, 'sync/request', syncRequestSchema, payload);
    if (!parsed) return;
    if (this.syncingGates.has(gateId)) {
      // One answer per gate at a time, but the latest request is never lost: it is answered next
      // (an earlier answer may have been lost with the broker; the gate asks again when the cloud
      // is back and must not wait for its retry timer).
      this.queuedSync.set(gateId, { compoundId: parsed.compoundId, fromRev: parsed.data.fromRev });
      this.options.metrics.mqttRejects.inc({ kind: 'sync/request', reason: 'already-pending' });
      return;
    }
    if (this.pendingSync >= MAX_PENDING_SYNC) {
      this.options.metrics.mqttRejects.inc({ kind: 'sync/request', reason: 'too-many-pending' });
      return;
    }
    this.answerSync(gateId, parsed.compoundId, parsed.data.fromRev);
  }

  private answerSync(gateId: string, compoundId: string, fromRev: number): void {
    this.pendingSync += 1;
    this.syncingGates.add(gateId);
    this.syncChain = this.syncChain
      .then(() => this.options.sync.answer(gateId, compoundId, fromRev))
      .catch((err: unknown) => this.logger.warn({ err, gateId }, 'sync answer failed'))
      .finally(() => {
        this.pendingSync -= 1;
        this.syncingGates.delete(gateId);
        const next = this.queuedSync.get(gateId);
        if (next) {
          this.queuedSync.delete(gateId);
          this.answerSync(gateId, next.compoundId, next.fromRev);
        }
      });
  }

  /** A gate's snapshot ack: off the sync line, it only opens that gate's window (snapshot-flow.ts). */
  private async onSyncAck(gateId: string, payload: Buffer): Promise<void> {
    const parsed = await this.parse(gateId, 'sync/ack', syncAckSchema, payload);
    if (!parsed) return;
    this.options.sync.acknowledge(gateId, parsed.data.snapshotRev, parsed.data.part);
  }

  /** Resolves when every accepted sync request has been answered. */
  async idle(): Promise<void> {
    await this.syncChain;
  }
}
