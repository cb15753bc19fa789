/**
 * What arrives from the cloud on the gate's subscriptions (docs/contract.md §2), sent to its
 * owner: acks to the uplink, sync answers and compound changes to the sync consumer, commands to
 * gate-commands.ts, the cloud's status to the readiness. Each owner validates and counts its input;
 * before that, every payload is held to its topic's size limit, unread (cloud-input-limits.ts).
 */
import type { Logger } from '../shared/log.ts';
import { ackMessageSchema } from '../shared/schemas/mqtt.ts';
import type { CloudToGateTopic } from '../shared/schemas/payload-limits.ts';
import { topics } from '../shared/topics.ts';
import type { CloudInputLimits } from './cloud-input-limits.ts';
import type { CloudReadiness } from './cloud-readiness.ts';
import type { GateCommands } from './gate-commands.ts';
import type { ClaimUplink } from './supply/claim-uplink.ts';
import type { SyncConsumer } from './sync-consumer.ts';
import type { Uplink } from './uplink.ts';

export interface CloudMessageOwners {
  gateId: string;
  compoundId: string;
  uplink: Uplink;
  sync: SyncConsumer;
  commands: GateCommands;
  readiness: CloudReadiness;
  /** The distribution point's claims (docs/supplies.md): acks and answers on `claims/ack`. */
  claims?: ClaimUplink;
  /** The size limits every payload is held to before its owner reads it. */
  limits: CloudInputLimits;
  /** A valid ack arrived: cloud contact (staleness), with the cloud's time when it says. */
  onAck: (cloudTs: number | undefined) => void;
  log: Logger;
}

export function routeCloudMessage(owners: CloudMessageOwners, topic: string, payload: Buffer): void {
  const kind = topicKind(owners, topic);
  if (!kind) {
    owners.log.warn({ topic }, 'message on an unexpected topic ignored');
    return;
  }
  if (!owners.limits.admit(kind, payload)) return;
  if (kind === 'ack') {
    observeAck(owners, payload);
    owners.uplink.handleAck(payload);
  } else if (kind === 'sync') owners.sync.handleSync(payload);
  else if (kind === 'changes') owners.sync.handleChanges(payload);
  else if (kind === 'cmd') void owners.commands.handle(payload);
  else if (kind === 'cloudStatus') owners.readiness.handleStatus(payload);
  else owners.claims?.handleAck(payload);
}

/** Which of the gate's subscriptions a topic is; undefined for any other (nothing is read of it). */
function topicKind(owners: CloudMessageOwners, topic: string): CloudToGateTopic | undefined {
  const { gateId, compoundId } = owners;
  if (topic === topics.gateAck(gateId)) return 'ack';
  if (topic === topics.gateSync(gateId)) return 'sync';
  if (topic === topics.compoundChanges(compoundId)) return 'changes';
  if (topic === topics.gateCmd(gateId)) return 'cmd';
  if (topic === topics.cloudStatus()) return 'cloudStatus';
  if (topic === topics.gateClaimAck(gateId) && owners.claims) return 'claimAck';
  return undefined;
}

/**
 * A valid ack is cloud contact (staleness) and carries the cloud's time (`ts`); a malformed one
 * is neither. The uplink validates and counts the ack itself.
 */
function observeAck(owners: CloudMessageOwners, payload: Buffer): void {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString());
  } catch {
    return;
  }
  const ack = ackMessageSchema.safeParse(json);
  if (ack.success) owners.onAck(ack.data.ts);
}
