import { TopicError } from './errors.ts';
import { assertId, isValidId } from './ids.ts';

/** Every MQTT topic of docs/contract.md, built from validated ids only. */
export const TOPIC_PREFIX = 'anxin/v1';

/** The one topic outside a gate or compound: the cloud's retained readiness (`topics.cloudStatus`). */
export const CLOUD_STATUS_TOPIC = `${TOPIC_PREFIX}/cloud/status`;

/** What follows `anxin/v1/gates/{gateId}/` in a gate topic. */
export const GATE_TOPIC_KINDS = [
  'events',
  'ack',
  'status',
  'alarms',
  'cmd',
  'cmd/result',
  'sync/request',
  'sync',
  'sync/ack',
  /** Supply distribution points (docs/supplies.md): claims out, asks out, acks and answers back. */
  'claims',
  'claims/ask',
  'claims/ack',
] as const;
export type GateTopicKind = (typeof GATE_TOPIC_KINDS)[number];

const gateTopic = (gateId: string, kind: GateTopicKind) => `${TOPIC_PREFIX}/gates/${assertId('gate', gateId)}/${kind}`;

export const topics = {
  gateEvents: (gateId: string) => gateTopic(gateId, 'events'),
  gateAck: (gateId: string) => gateTopic(gateId, 'ack'),
  gateStatus: (gateId: string) => gateTopic(gateId, 'status'),
  gateAlarms: (gateId: string) => gateTopic(gateId, 'alarms'),
  gateCmd: (gateId: string) => gateTopic(gateId, 'cmd'),
  gateCmdResult: (gateId: string) => gateTopic(gateId, 'cmd/result'),
  gateSyncRequest: (gateId: string) => gateTopic(gateId, 'sync/request'),
  gateSync: (gateId: string) => gateTopic(gateId, 'sync'),
  /** The gate's acknowledgement of the snapshot parts it has staged (snapshot flow control). */
  gateSyncAck: (gateId: string) => gateTopic(gateId, 'sync/ack'),
  /** A distribution point's claim records (journal, exactly once like `events`). */
  gateClaims: (gateId: string) => gateTopic(gateId, 'claims'),
  /** A distribution point asks the cloud whether a household may claim now. */
  gateClaimAsk: (gateId: string) => gateTopic(gateId, 'claims/ask'),
  /** The cloud's cumulative claim ack and its answers to asks. */
  gateClaimAck: (gateId: string) => gateTopic(gateId, 'claims/ack'),
  compoundChanges: (compoundId: string) => `${TOPIC_PREFIX}/compounds/${assertId('compound', compoundId)}/changes`,
  /**
   * The cloud's birth and last will, retained: `{online: true}` once it has (re)subscribed, `{online:
   * false}` when it stops or drops. Gates resend their backlog and ask for sync on `online: true`
   * (docs/edge-agent.md "Cloud readiness").
   */
  cloudStatus: () => CLOUD_STATUS_TOPIC,
} as const;

/** Subscription filters the cloud uses (one `+` level for the gate id). */
export const filters = {
  allGates: (kind: GateTopicKind) => `${TOPIC_PREFIX}/gates/+/${kind}`,
} as const;

export type ParsedTopic =
  | { scope: 'gate'; gateId: string; kind: GateTopicKind }
  | { scope: 'compound'; compoundId: string; kind: 'changes' }
  | { scope: 'cloud'; kind: 'status' };

/** Parses a concrete topic (no wildcards) into its scope, id and kind, or throws `TopicError`. */
export function parseTopic(topic: string): ParsedTopic {
  const parts = topic.split('/');
  if (parts[0] !== 'anxin' || parts[1] !== 'v1') throw new TopicError(topic, `not under ${TOPIC_PREFIX}/`);
  if (topic === CLOUD_STATUS_TOPIC) return { scope: 'cloud', kind: 'status' };
  const [, , scope, id, ...rest] = parts;
  if (!isValidId(id)) throw new TopicError(topic, 'the id segment is not a valid id');
  const kind = rest.join('/');
  if (scope === 'gates') {
    if (!(GATE_TOPIC_KINDS as readonly string[]).includes(kind))
      throw new TopicError(topic, `unknown gate topic kind "${kind}"`);
    return { scope: 'gate', gateId: id, kind: kind as GateTopicKind };
  }
  if (scope === 'compounds') {
    if (kind !== 'changes') throw new TopicError(topic, `unknown compound topic kind "${kind}"`);
    return { scope: 'compound', compoundId: id, kind: 'changes' };
  }
  throw new TopicError(topic, `unknown scope "${scope}"`);
}

/** Parses a gate topic into `{gateId, kind}`, or throws `TopicError`. */
export function parseGateTopic(topic: string): { gateId: string; kind: GateTopicKind } {
  const parsed = parseTopic(topic);
  if (parsed.scope !== 'gate') throw new TopicError(topic, 'not a gate topic');
  return { gateId: parsed.gateId, kind: parsed.kind };
}

/** Non-throwing variant for hot paths (broker ACL, ingest routing). */
export function tryParseTopic(topic: string): ParsedTopic | undefined {
  try {
    return parseTopic(topic);
  } catch {
    return undefined;
  }
}
