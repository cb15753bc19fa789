import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AclDecision,
  type BrokerIdentity,
  canPublish,
  canSubscribe,
  isValidFilter,
  MQTT_ROLES,
  type MqttRole,
  splitSharedFilter,
} from '../../broker/acl.ts';
import { GATE_TOPIC_KINDS, type GateTopicKind, topics } from '../../shared/topics.ts';

const gate: BrokerIdentity = { clientId: 'g1', role: 'gate', compound: 'c1' };
const cloud: BrokerIdentity = { clientId: 'cloud', role: 'cloud' };
const observer: BrokerIdentity = { clientId: 'watcher', role: 'observer' };
const identities: Record<MqttRole, BrokerIdentity> = { gate, cloud, observer };

const gateTopic = (gateId: string, kind: GateTopicKind) => `anxin/v1/gates/${gateId}/${kind}`;
const allowed = (d: AclDecision) => d.allowed;
const reason = (d: AclDecision) => (d.allowed ? 'allowed' : d.reason);

/** The whole table, written out by hand from the issue: role → kind → [publish, subscribe] for own / other gate. */
type Cell = { pub: boolean; sub: boolean };
const OWN: Record<MqttRole, Record<GateTopicKind, Cell>> = {
  gate: {
    events: { pub: true, sub: false },
    status: { pub: true, sub: false },
    alarms: { pub: true, sub: false },
    'cmd/result': { pub: true, sub: false },
    'sync/request': { pub: true, sub: false },
    'sync/ack': { pub: true, sub: false },
    ack: { pub: false, sub: true },
    cmd: { pub: false, sub: true },
    sync: { pub: false, sub: true },
    claims: { pub: true, sub: false },
    'claims/ask': { pub: true, sub: false },
    'claims/ack': { pub: false, sub: true },
  },
  cloud: {
    events: { pub: false, sub: true },
    status: { pub: false, sub: true },
    alarms: { pub: false, sub: true },
    'cmd/result': { pub: false, sub: true },
    'sync/request': { pub: false, sub: true },
    'sync/ack': { pub: false, sub: true },
    ack: { pub: true, sub: false },
    cmd: { pub: true, sub: false },
    sync: { pub: true, sub: false },
    claims: { pub: false, sub: true },
    'claims/ask': { pub: false, sub: true },
    'claims/ack': { pub: true, sub: false },
  },
  observer: {
    events: { pub: false, sub: false },
    status: { pub: false, sub: true },
    alarms: { pub: false, sub: true },
    'cmd/result': { pub: false, sub: false },
    'sync/request': { pub: false, sub: false },
    'sync/ack': { pub: false, sub: false },
    ack: { pub: false, sub: false },
    cmd: { pub: false, sub: false },
    sync: { pub: false, sub: false },
    claims: { pub: false, sub: false },
    'claims/ask': { pub: false, sub: false },
    'claims/ack': { pub: false, sub: false },
  },
};
/** "Own" only means something for a gate; for the other roles every gate is the same. */
const otherGate = (role: MqttRole, kind: GateTopicKind): Cell =>
  role === 'gate' ? { pub: false, sub: false } : OWN[role][kind];

describe('ACL table: every role × gate topic kind × own/other gate', () => {
  for (const role of MQTT_ROLES) {
    for (const kind of GATE_TOPIC_KINDS) {
      it(`${role} on ${kind}`, () => {
        const id = identities[role];
        const own = gateTopic(role === 'gate' ? 'g1' : 'g7', kind);
        const other = gateTopic('g2', kind);
        expect(allowed(canPublish(id, own))).toBe(OWN[role][kind].pub);
        expect(allowed(canSubscribe(id, own))).toBe(OWN[role][kind].sub);
        expect(allowed(canPublish(id, other))).toBe(otherGate(role, kind).pub);
        expect(allowed(canSubscribe(id, other))).toBe(otherGate(role, kind).sub);
      });
    }
  }

  it('names why a gate is refused: the kind, or somebody else’s gate', () => {
    expect(reason(canPublish(gate, topics.gateAck('g1')))).toBe('role-not-allowed');
    expect(reason(canPublish(gate, topics.gateEvents('g2')))).toBe('not-own-topic');
    expect(reason(canSubscribe(gate, topics.gateCmd('g2')))).toBe('not-own-topic');
    expect(reason(canSubscribe(gate, topics.gateEvents('g1')))).toBe('role-not-allowed');
  });
});

describe('ACL table: compound changes', () => {
  it('the cloud publishes any compound’s changes and does not read them', () => {
    expect(allowed(canPublish(cloud, topics.compoundChanges('c1')))).toBe(true);
    expect(allowed(canPublish(cloud, topics.compoundChanges('c9')))).toBe(true);
    expect(allowed(canSubscribe(cloud, topics.compoundChanges('c1')))).toBe(false);
  });

  it('a gate reads only its own compound’s changes and never publishes them', () => {
    expect(allowed(canSubscribe(gate, topics.compoundChanges('c1')))).toBe(true);
    expect(reason(canSubscribe(gate, topics.compoundChanges('c2')))).toBe('not-own-topic');
    expect(reason(canPublish(gate, topics.compoundChanges('c1')))).toBe('role-not-allowed');
  });

  it('a gate token without a compound claim gets no compound changes', () => {
    const loose: BrokerIdentity = { clientId: 'g1', role: 'gate' };
    expect(allowed(canSubscribe(loose, topics.compoundChanges('c1')))).toBe(false);
    expect(allowed(canSubscribe(loose, 'anxin/v1/compounds/+/changes'))).toBe(false);
    expect(allowed(canSubscribe(loose, topics.gateCmd('g1')))).toBe(true);
  });

  it('an observer neither reads nor writes changes', () => {
    expect(allowed(canPublish(observer, topics.compoundChanges('c1')))).toBe(false);
    expect(allowed(canSubscribe(observer, topics.compoundChanges('c1')))).toBe(false);
  });
});

describe('ACL: wildcard filters', () => {
  const cases: [BrokerIdentity, string, string][] = [
    // a gate: nothing that reaches another gate or another compound
    [gate, '#', 'filter-too-broad'],
    [gate, 'anxin/#', 'filter-too-broad'],
    [gate, 'anxin/v1/gates/#', 'filter-too-broad'],
    [gate, 'anxin/v1/gates/+/cmd', 'filter-too-broad'],
    [gate, 'anxin/v1/gates/+/ack', 'filter-too-broad'],
    [gate, 'anxin/v1/gates/+/events', 'role-not-allowed'],
    [gate, 'anxin/v1/compounds/+/changes', 'filter-too-broad'],
    [gate, 'anxin/v1/gates/g1/#', 'filter-too-broad'], // own events are not the gate's to read
    [gate, 'anxin/v1/gates/g1/+', 'filter-too-broad'],
    [gate, 'anxin/v1/gates/g1/sync/#', 'filter-too-broad'], // sync/request is the gate's own upstream
    [gate, '+/v1/gates/g1/ack', 'allowed'],
    [gate, 'anxin/+/gates/g1/cmd', 'allowed'],
    [gate, 'anxin/v1/compounds/c1/+', 'allowed'],
    [gate, 'anxin/v1/compounds/c1/#', 'allowed'],
    // the cloud: the five upstream kinds of every gate, nothing else
    [cloud, 'anxin/v1/gates/+/events', 'allowed'],
    [cloud, 'anxin/v1/gates/+/status', 'allowed'],
    [cloud, 'anxin/v1/gates/+/alarms', 'allowed'],
    [cloud, 'anxin/v1/gates/+/cmd/result', 'allowed'],
    [cloud, 'anxin/v1/gates/+/sync/request', 'allowed'],
    [cloud, 'anxin/v1/gates/+/+/request', 'allowed'],
    [cloud, 'anxin/v1/gates/+/+', 'filter-too-broad'],
    [cloud, 'anxin/v1/gates/#', 'filter-too-broad'],
    [cloud, '#', 'filter-too-broad'],
    [cloud, 'anxin/v1/gates/+/ack', 'role-not-allowed'],
    // the observer: status and alarms of every gate
    [observer, 'anxin/v1/gates/+/status', 'allowed'],
    [observer, 'anxin/v1/gates/+/alarms', 'allowed'],
    [observer, 'anxin/v1/gates/+/+', 'filter-too-broad'],
    [observer, '#', 'filter-too-broad'],
    // outside the contract
    [cloud, 'foo/#', 'not-a-contract-topic'],
    [gate, 'anxin/v1/gates/g1/ack/extra', 'not-a-contract-topic'],
    [gate, 'anxin/v1/gates/g1/a#', 'not-a-contract-topic'],
    [gate, 'anxin/v1/gates/#/ack', 'not-a-contract-topic'],
    [gate, 'anxin/v1/gates/G1/ack', 'not-a-contract-topic'],
    [cloud, '', 'not-a-contract-topic'],
  ];
  for (const [identity, filter, expected] of cases) {
    it(`${identity.role} subscribing to "${filter}" → ${expected}`, () => {
      expect(reason(canSubscribe(identity, filter))).toBe(expected);
    });
  }
});

describe('ACL: $SYS and shared subscriptions', () => {
  it('keeps $SYS (and every $ topic) away from every role', () => {
    for (const identity of Object.values(identities)) {
      expect(reason(canPublish(identity, '$SYS/broker/x'))).toBe('reserved-topic');
      expect(reason(canSubscribe(identity, '$SYS/#'))).toBe('reserved-topic');
      expect(reason(canSubscribe(identity, '$SYS/+/new/clients'))).toBe('reserved-topic');
    }
  });

  it('lets the cloud use $share/<group>/ forms of its own filters only', () => {
    expect(reason(canSubscribe(cloud, '$share/cloud/anxin/v1/gates/+/events'))).toBe('allowed');
    expect(reason(canSubscribe(cloud, '$share/ingest-2/anxin/v1/gates/+/sync/request'))).toBe('allowed');
    expect(reason(canSubscribe(cloud, '$share/cloud/#'))).toBe('filter-too-broad');
    expect(reason(canSubscribe(cloud, '$share/cloud/$SYS/#'))).toBe('reserved-topic');
    expect(reason(canSubscribe(cloud, '$share//anxin/v1/gates/+/events'))).toBe('reserved-topic');
    expect(reason(canSubscribe(gate, '$share/cloud/anxin/v1/gates/g1/cmd'))).toBe('shared-subscription-not-allowed');
    expect(reason(canSubscribe(observer, '$share/x/anxin/v1/gates/+/status'))).toBe('shared-subscription-not-allowed');
  });

  it('splits shared filters and rejects wildcard or empty groups', () => {
    expect(splitSharedFilter('$share/cloud/a/b')).toEqual({ group: 'cloud', filter: 'a/b' });
    expect(splitSharedFilter('$share/+/a')).toBeUndefined();
    expect(splitSharedFilter('$share//a')).toBeUndefined();
    expect(splitSharedFilter('$share/cloud')).toBeUndefined();
    expect(splitSharedFilter('a/b')).toBeUndefined();
  });
});

describe('ACL: publish details', () => {
  it('allows retain only on a gate’s own status (its will and retained state)', () => {
    expect(reason(canPublish(gate, topics.gateStatus('g1'), { retain: true }))).toBe('allowed');
    expect(reason(canPublish(gate, topics.gateEvents('g1'), { retain: true }))).toBe('retain-not-allowed');
    expect(reason(canPublish(cloud, topics.gateCmd('g1'), { retain: true }))).toBe('retain-not-allowed');
    expect(reason(canPublish(gate, topics.gateStatus('g2'), { retain: true }))).toBe('not-own-topic');
  });

  it('refuses topics outside the contract', () => {
    for (const topic of ['anxin/v1/gates/g1', 'anxin/v2/gates/g1/events', 'foo', 'anxin/v1/gates/g1/events/x']) {
      expect(reason(canPublish(cloud, topic))).toBe('not-a-contract-topic');
      expect(reason(canPublish(gate, topic))).toBe('not-a-contract-topic');
    }
  });

  it('an observer publishes nothing', () => {
    for (const kind of GATE_TOPIC_KINDS) expect(allowed(canPublish(observer, gateTopic('g1', kind)))).toBe(false);
  });
});

describe('ACL: properties', () => {
  const levelArb = fc.constantFrom(
    'anxin',
    'v1',
    'gates',
    'compounds',
    'g1',
    'g2',
    'c1',
    'c2',
    '+',
    '#',
    'events',
    'ack',
    'cmd',
    'result',
    'sync',
    'request',
    'changes',
    'status',
  );
  const concreteTopics = [
    ...GATE_TOPIC_KINDS.flatMap((kind) => ['g1', 'g2', 'g3'].map((g) => gateTopic(g, kind))),
    ...['c1', 'c2'].map((c) => topics.compoundChanges(c)),
  ];
  const randomFilterArb = fc.array(levelArb, { minLength: 1, maxLength: 7 }).map((levels) => levels.join('/'));
  /** A contract topic with some levels turned into `+` and possibly the tail cut off with `#`. */
  const wildcardedTopicArb = fc
    .tuple(fc.constantFrom(...concreteTopics), fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }), fc.nat(7))
    .map(([topic, plus, cut]) => {
      const levels = topic.split('/').map((level, i) => (plus[i] ? '+' : level));
      return cut < levels.length ? [...levels.slice(0, cut), '#'].join('/') : levels.join('/');
    });
  const filterArb = fc.oneof(randomFilterArb, wildcardedTopicArb);

  /** MQTT topic matching (§4.7), written independently of the ACL's own matcher. */
  const matches = (filter: string, topic: string) => {
    const f = filter.split('/');
    const t = topic.split('/');
    for (let i = 0; i < f.length; i++) {
      if (f[i] === '#') return true;
      if (i >= t.length) return false;
      if (f[i] !== '+' && f[i] !== t[i]) return false;
    }
    return f.length === t.length;
  };

  it('an allowed filter never reaches a topic the identity could not subscribe to directly', () => {
    fc.assert(
      fc.property(fc.constantFrom(gate, cloud, observer), filterArb, (identity, filter) => {
        fc.pre(isValidFilter(filter));
        if (!canSubscribe(identity, filter).allowed) return;
        for (const topic of concreteTopics) {
          if (matches(filter, topic)) expect(canSubscribe(identity, topic).allowed).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a gate never receives another gate’s data through any filter', () => {
    fc.assert(
      fc.property(wildcardedTopicArb, (filter) => {
        if (!canSubscribe(gate, filter).allowed) return;
        for (const kind of GATE_TOPIC_KINDS) {
          expect(matches(filter, gateTopic('g2', kind))).toBe(false);
        }
        expect(matches(filter, topics.compoundChanges('c2'))).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the cloud readiness topic (anxin/v1/cloud/status)', () => {
  const topic = topics.cloudStatus();
  it('only the cloud publishes it, retained; every role may read it', () => {
    expect(reason(canPublish(cloud, topic, { retain: true }))).toBe('allowed');
    expect(reason(canPublish(gate, topic))).toBe('role-not-allowed');
    expect(reason(canPublish(observer, topic, { retain: true }))).toBe('role-not-allowed');
    for (const identity of Object.values(identities)) expect(reason(canSubscribe(identity, topic))).toBe('allowed');
  });
  it('a gate wildcard over it still reaches nothing it may not read', () => {
    expect(reason(canSubscribe(gate, 'anxin/v1/cloud/+'))).toBe('allowed');
    expect(reason(canSubscribe(gate, 'anxin/v1/#'))).toBe('filter-too-broad');
    expect(reason(canSubscribe(gate, 'anxin/v1/cloud/other'))).toBe('not-a-contract-topic');
  });
});
