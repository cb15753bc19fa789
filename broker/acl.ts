/**
 * The broker's topic policy as pure functions (docs/architecture.md rule 4): who may publish on a topic
 * and who may subscribe to a filter. Built on the topic parsers of `shared/topics.ts`; the aedes
 * adapter (`aedes-hooks.ts`) and the mosquitto ACL generator (`mosquitto-config.ts`) both read
 * the tables below, so the embedded broker and an external one enforce the same rules.
 */
import { isValidId } from '../shared/ids.ts';
import {
  GATE_TOPIC_KINDS,
  type GateTopicKind,
  type ParsedTopic,
  TOPIC_PREFIX,
  tryParseTopic,
} from '../shared/topics.ts';

/** The token roles that speak MQTT (the other roles of `shared/enums.ts` are HTTP logins). */
export const MQTT_ROLES = ['gate', 'cloud', 'observer'] as const;
export type MqttRole = (typeof MQTT_ROLES)[number];

export function isMqttRole(role: string): role is MqttRole {
  return (MQTT_ROLES as readonly string[]).includes(role);
}

/** Who is connected, as established from a verified token at CONNECT. */
export interface BrokerIdentity {
  /** The MQTT client id, equal to the token's `sub` (a gate id for gates). */
  clientId: string;
  role: MqttRole;
  /** The gate's compound (token claim `compound`); a gate without one receives no compound changes. */
  compound?: string;
}

export type AclRefusal =
  /** `$SYS/…` and any other `$` topic: broker-internal (MQTT 3.1.1 §4.7.2). */
  | 'reserved-topic'
  /** Not one of docs/contract.md's topics, or a malformed filter. */
  | 'not-a-contract-topic'
  /** The role may not use this kind of topic in this direction. */
  | 'role-not-allowed'
  /** A gate topic of another gate, or another compound's changes. */
  | 'not-own-topic'
  /** A wildcard filter that would reach topics this identity may not read. */
  | 'filter-too-broad'
  /** Only a gate's status is retained (docs/contract.md); anything else would linger in the broker. */
  | 'retain-not-allowed'
  /** `$share/<group>/…` is for cloud instances splitting the ingest. */
  | 'shared-subscription-not-allowed';

export type AclDecision = { allowed: true } | { allowed: false; reason: AclRefusal };

const ALLOW: AclDecision = { allowed: true };
const refuse = (reason: AclRefusal): AclDecision => ({ allowed: false, reason });

/** The policy table: per role, which gate topic kinds it writes and reads, and whether it uses compound changes. */
export interface RolePolicy {
  /** Gate topic kinds, restricted to the gate's own id when `ownGateOnly`. */
  gateWrites: readonly GateTopicKind[];
  gateReads: readonly GateTopicKind[];
  compoundChanges: 'none' | 'write-any' | 'read-own';
  /** The cloud's retained readiness (`anxin/v1/cloud/status`): the cloud writes it, the others read it. */
  cloudStatus: 'write' | 'read';
  ownGateOnly: boolean;
}

export const ROLE_POLICIES: Readonly<Record<MqttRole, RolePolicy>> = {
  gate: {
    gateWrites: ['events', 'status', 'alarms', 'cmd/result', 'sync/request', 'sync/ack', 'claims', 'claims/ask'],
    gateReads: ['ack', 'cmd', 'sync', 'claims/ack'],
    compoundChanges: 'read-own',
    cloudStatus: 'read',
    ownGateOnly: true,
  },
  cloud: {
    gateWrites: ['ack', 'cmd', 'sync', 'claims/ack'],
    gateReads: ['events', 'status', 'alarms', 'cmd/result', 'sync/request', 'sync/ack', 'claims', 'claims/ask'],
    compoundChanges: 'write-any',
    cloudStatus: 'write',
    ownGateOnly: false,
  },
  observer: {
    gateWrites: [],
    gateReads: ['status', 'alarms'],
    compoundChanges: 'none',
    cloudStatus: 'read',
    ownGateOnly: false,
  },
};

type Direction = 'write' | 'read';

/** The table lookup for one concrete, parsed contract topic. */
function decide(identity: BrokerIdentity, topic: ParsedTopic, direction: Direction): AclDecision {
  const policy = ROLE_POLICIES[identity.role];
  if (topic.scope === 'gate') {
    const kinds = direction === 'write' ? policy.gateWrites : policy.gateReads;
    if (!kinds.includes(topic.kind)) return refuse('role-not-allowed');
    if (policy.ownGateOnly && topic.gateId !== identity.clientId) return refuse('not-own-topic');
    return ALLOW;
  }
  if (topic.scope === 'cloud') {
    // The cloud reads its own status too (a retained copy is harmless); only the cloud writes it.
    if (direction === 'write') return policy.cloudStatus === 'write' ? ALLOW : refuse('role-not-allowed');
    return ALLOW;
  }
  const mode = policy.compoundChanges;
  if (direction === 'write') return mode === 'write-any' ? ALLOW : refuse('role-not-allowed');
  if (mode !== 'read-own') return refuse('role-not-allowed');
  return topic.compoundId === identity.compound ? ALLOW : refuse('not-own-topic');
}

/** May this identity publish on this concrete topic? */
export function canPublish(identity: BrokerIdentity, topic: string, options: { retain?: boolean } = {}): AclDecision {
  if (topic.startsWith('$')) return refuse('reserved-topic');
  const parsed = tryParseTopic(topic);
  if (!parsed) return refuse('not-a-contract-topic');
  const decision = decide(identity, parsed, 'write');
  if (!decision.allowed) return decision;
  const retainable = parsed.kind === 'status' && (parsed.scope === 'gate' || parsed.scope === 'cloud');
  if (options.retain && !retainable) return refuse('retain-not-allowed');
  return ALLOW;
}

/** `$share/<group>/<filter>` (MQTT 5 §4.8.2, also honoured by Mosquitto and EMQX for 3.1.1 clients). */
export function splitSharedFilter(filter: string): { group: string; filter: string } | undefined {
  if (!filter.startsWith('$share/')) return undefined;
  const rest = filter.slice('$share/'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const group = rest.slice(0, slash);
  if (/[+#]/.test(group)) return undefined;
  return { group, filter: rest.slice(slash + 1) };
}

/** MQTT 3.1.1 §4.7.1: `#` only as the whole last level, `+` only as a whole level, no empty filter. */
export function isValidFilter(filter: string): boolean {
  if (filter.length === 0) return false;
  const levels = filter.split('/');
  return levels.every((level, index) => {
    if (level === '#') return index === levels.length - 1;
    if (level === '+') return true;
    return !level.includes('#') && !level.includes('+');
  });
}

/** A level of a contract topic template: a fixed word, or the gate/compound id. */
type TemplateLevel = string | { id: 'gate' | 'compound' };

const TEMPLATES: {
  scope: 'gate' | 'compound' | 'cloud';
  kind: GateTopicKind | 'changes' | 'status';
  levels: TemplateLevel[];
}[] = [
  ...GATE_TOPIC_KINDS.map((kind) => ({
    scope: 'gate' as const,
    kind,
    levels: [...TOPIC_PREFIX.split('/'), 'gates', { id: 'gate' as const }, ...kind.split('/')],
  })),
  {
    scope: 'compound',
    kind: 'changes',
    levels: [...TOPIC_PREFIX.split('/'), 'compounds', { id: 'compound' }, 'changes'],
  },
  { scope: 'cloud', kind: 'status', levels: [...TOPIC_PREFIX.split('/'), 'cloud', 'status'] },
];

/**
 * Does `filter` match some instance of `template`? Returns the constraint on the template's id
 * level (a fixed value, or `free` when a wildcard covers it), or `undefined` for no match.
 */
function matchTemplate(filterLevels: string[], template: TemplateLevel[]): { id: string } | 'free' | undefined {
  let id: { id: string } | 'free' = 'free';
  for (let i = 0; i < filterLevels.length; i++) {
    const level = filterLevels[i]!;
    // `#` also matches the parent level itself (§4.7.1.2), so zero remaining levels is a match.
    if (level === '#') return id;
    const part = template[i];
    if (part === undefined) return undefined;
    if (level === '+') continue;
    if (typeof part === 'string') {
      if (part !== level) return undefined;
    } else {
      if (!isValidId(level)) return undefined;
      id = { id: level };
    }
  }
  return filterLevels.length === template.length ? id : undefined;
}

/** An id other than `own`, standing for "every other gate/compound" when a wildcard covers the id level. */
const otherId = (own: string | undefined) => (own === 'other' ? 'other-2' : 'other');

/**
 * May this identity subscribe to this filter? A filter is allowed when it reaches at least one
 * contract topic the identity may read and none it may not: a `+` or `#` that would also match
 * another gate's topics is refused as a whole (the SUBACK says 0x80), rather than silently
 * narrowed, so a misconfigured client fails loudly. The id levels are the only free part of a
 * contract topic, and the policy only asks "own id or not", so checking the own id and one
 * other id per template decides every topic the filter can match.
 */
export function canSubscribe(identity: BrokerIdentity, filter: string): AclDecision {
  const shared = splitSharedFilter(filter);
  if (shared) {
    if (identity.role !== 'cloud') return refuse('shared-subscription-not-allowed');
    filter = shared.filter;
  }
  if (filter.startsWith('$')) return refuse('reserved-topic');
  if (!isValidFilter(filter)) return refuse('not-a-contract-topic');
  const filterLevels = filter.split('/');
  let firstRefusal: AclDecision | undefined;
  let reachesReadable = false;
  for (const template of TEMPLATES) {
    const match = matchTemplate(filterLevels, template.levels);
    if (match === undefined) continue;
    if (template.scope === 'cloud') {
      // No id level: one topic, decided once.
      const decision = decide(identity, { scope: 'cloud', kind: 'status' }, 'read');
      if (decision.allowed) reachesReadable = true;
      else firstRefusal ??= decision;
      continue;
    }
    const own = template.scope === 'gate' ? identity.clientId : identity.compound;
    const ids = match === 'free' ? [own, otherId(own)].filter((v): v is string => isValidId(v)) : [match.id];
    for (const id of ids) {
      const topic: ParsedTopic =
        template.scope === 'gate'
          ? { scope: 'gate', gateId: id, kind: template.kind as GateTopicKind }
          : { scope: 'compound', compoundId: id, kind: 'changes' };
      const decision = decide(identity, topic, 'read');
      if (decision.allowed) reachesReadable = true;
      else firstRefusal ??= decision;
    }
  }
  const wildcard = filterLevels.some((level) => level === '+' || level === '#');
  if (firstRefusal) return wildcard && reachesReadable ? refuse('filter-too-broad') : firstRefusal;
  return reachesReadable ? ALLOW : refuse('not-a-contract-topic');
}
