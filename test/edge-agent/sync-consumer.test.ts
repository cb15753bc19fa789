import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type GateDatabase, openGateDatabase } from '../../edge-agent/gate-database.ts';
import { ReplicaStore } from '../../edge-agent/replica-store.ts';
import { SyncConsumer, syncProbeMs } from '../../edge-agent/sync-consumer.ts';
import type { EventPublisher } from '../../edge-agent/uplink.ts';
import { silentLogger } from '../../shared/log.ts';
import type { Change, SnapshotChunk, SyncDelta } from '../../shared/schemas/mqtt.ts';
import { topics } from '../../shared/topics.ts';
import { COMPOUND, GATE, NOW, person } from './fixtures.ts';

class RecordingPublisher implements EventPublisher {
  online = true;
  readonly sent: { topic: string; payload: unknown }[] = [];
  publish(topic: string, payload: string): boolean {
    if (!this.online) return false;
    this.sent.push({ topic, payload: JSON.parse(payload) });
    return true;
  }
  requests(): number[] {
    return this.sent
      .filter((m) => m.topic === topics.gateSyncRequest(GATE))
      .map((m) => (m.payload as { fromRev: number }).fromRev);
  }
}

let dir: string;
let db: GateDatabase;

function open(retryMs = 5_000, probeMs?: number) {
  db = openGateDatabase(dir, { synchronous: 'normal' });
  const replica = new ReplicaStore(db);
  const publisher = new RecordingPublisher();
  /** The details of the `sync-change-invalid` alarms the consumer asked for. */
  const alarms: string[] = [];
  const sync = new SyncConsumer({
    gateId: GATE,
    compoundId: COMPOUND,
    replica,
    publisher,
    logger: silentLogger,
    retryMs,
    ...(probeMs === undefined ? {} : { probeMs }),
    onInvalidChanges: (detail) => alarms.push(detail),
  });
  return { replica, publisher, sync, alarms };
}

const upsert = (id: string): Change => ({ op: 'person.upsert', person: person(id) });
const delta = (fromRev: number, toRev: number, changes: Change[]): string =>
  JSON.stringify({ fromRev, toRev, changes } satisfies SyncDelta);
const chunk = (snapshotRev: number, part: number, parts: number, records: Change[]): string =>
  JSON.stringify({ snapshotRev, part, parts, records } satisfies SnapshotChunk);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-sync-'));
});
afterEach(() => {
  vi.useRealTimers();
  if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SyncConsumer', () => {
  it('asks for what it missed on connect and applies a delta that starts at its rev', () => {
    const { replica, publisher, sync } = open();
    sync.connectionUp();
    expect(publisher.requests()).toEqual([0]);
    sync.handleChanges(delta(0, 2, [upsert('alice'), { op: 'health', personId: 'alice', colour: 'green', ts: NOW }]));
    expect(replica.rev()).toBe(2);
    expect(replica.health('alice')).toBe('green');
    expect(sync.counters.deltasApplied).toBe(1);
  });

  it('answers a gap with one sync request from its own rev and applies the answer', () => {
    const { replica, publisher, sync } = open();
    sync.connectionUp();
    sync.handleChanges(delta(0, 1, [upsert('alice')]));
    sync.handleChanges(delta(3, 4, [upsert('carol')]));
    sync.handleChanges(delta(4, 5, [upsert('dave')]));
    expect(replica.rev()).toBe(1);
    expect(replica.personById('carol')).toBeUndefined();
    expect(publisher.requests()).toEqual([0, 1]);
    expect(sync.counters.gaps).toBe(2);
    sync.handleSync(delta(1, 5, [upsert('bob'), upsert('carol'), upsert('dave')]));
    expect(replica.rev()).toBe(5);
    expect(replica.personById('dave')?.personId).toBe('dave');
  });

  it('ignores old and duplicate deltas', () => {
    const { replica, sync } = open();
    sync.connectionUp();
    sync.handleChanges(delta(0, 2, [upsert('alice')]));
    sync.handleChanges(delta(0, 2, [upsert('alice'), { op: 'person.delete', personId: 'alice' }]));
    sync.handleChanges(delta(1, 2, [{ op: 'person.delete', personId: 'alice' }]));
    expect(replica.personById('alice')).toBeDefined();
    expect(sync.counters.deltasStale).toBe(2);
  });

  it('resends an unanswered sync request after the retry time', () => {
    vi.useFakeTimers({ now: NOW });
    const { publisher, sync } = open(2_000);
    sync.start();
    sync.connectionUp();
    vi.advanceTimersByTime(1_500);
    expect(publisher.requests()).toEqual([0]);
    vi.advanceTimersByTime(1_500);
    expect(publisher.requests()).toEqual([0, 0]);
    sync.handleSync(delta(0, 1, [upsert('alice')]));
    vi.advanceTimersByTime(10_000);
    expect(publisher.requests()).toEqual([0, 0]);
    sync.stop();
  });

  it('swaps a snapshot in only when every part is in, and never shows half of it', () => {
    const { replica, sync } = open();
    sync.connectionUp();
    sync.handleChanges(
      delta(0, 3, [
        upsert('old'),
        { op: 'mode', mode: 'lockdown', ts: NOW },
        { op: 'quota.policy', exits: 1, periodHours: 48 },
      ]),
    );
    sync.handleSync(chunk(10, 3, 3, [upsert('p3')]));
    sync.handleSync(chunk(10, 1, 3, [upsert('p1'), { op: 'health', personId: 'p1', colour: 'red', ts: NOW }]));
    expect(replica.rev()).toBe(3);
    expect(replica.personById('old')).toBeDefined();
    expect(replica.personById('p1')).toBeUndefined();
    sync.handleSync(chunk(10, 2, 3, [upsert('p2')]));
    expect(replica.rev()).toBe(10);
    expect(replica.personById('old')).toBeUndefined();
    expect(['p1', 'p2', 'p3'].map((id) => replica.personById(id)?.personId)).toEqual(['p1', 'p2', 'p3']);
    expect(replica.health('p1')).toBe('red');
    expect(replica.mode()).toBe('lockdown');
    expect(replica.exitQuota()).toBeNull();
    expect(replica.stagedSnapshot()).toBeUndefined();
  });

  it('swaps in cards, health, revocations and settings from staged rows, a repeated part counted once', () => {
    const { replica, sync } = open();
    sync.connectionUp();
    sync.handleChanges(delta(0, 2, [{ op: 'person.upsert', person: person('old', { cards: ['1:1'] }) }]));
    const part1: Change[] = [
      { op: 'quota.policy', exits: 2, periodHours: 24 },
      { op: 'mode', mode: 'controlled', ts: NOW },
      { op: 'person.upsert', person: person('p1', { cards: ['1:1', '1:2'] }) },
      { op: 'person.upsert', person: person('gone', { cards: ['1:3'] }) },
    ];
    sync.handleSync(chunk(9, 1, 2, part1));
    sync.handleSync(chunk(9, 1, 2, part1));
    expect(replica.stagedSnapshot()).toEqual({ snapshotRev: 9, parts: 2, received: 1 });
    sync.handleSync(
      chunk(9, 2, 2, [
        { op: 'health', personId: 'p1', colour: 'yellow', ts: NOW },
        { op: 'pass.revoke', passId: 'pass-1', ts: NOW },
        { op: 'person.delete', personId: 'gone' },
      ]),
    );
    expect(replica.rev()).toBe(9);
    expect(replica.personByCard('1:1')?.personId).toBe('p1');
    expect(replica.personByCard('1:2')?.personId).toBe('p1');
    expect(replica.personByCard('1:3')).toBeUndefined();
    expect(replica.personById('gone')).toBeUndefined();
    expect(replica.personById('p1')).toEqual(person('p1', { cards: ['1:1', '1:2'] }));
    expect(replica.health('p1')).toBe('yellow');
    expect(replica.isPassRevoked('pass-1')).toBe(true);
    expect(replica.mode()).toBe('controlled');
    expect(replica.exitQuota()).toEqual({ exits: 2, periodHours: 24 });
    expect(replica.personCount()).toBe(1);
  });

  it('keeps staged snapshot parts across a restart', () => {
    let { replica, sync } = open();
    sync.connectionUp();
    sync.handleSync(chunk(5, 1, 2, [upsert('p1')]));
    db.close();
    ({ replica, sync } = open());
    expect(replica.stagedSnapshot()).toEqual({ snapshotRev: 5, parts: 2, received: 1 });
    sync.handleSync(chunk(5, 2, 2, [upsert('p2')]));
    expect(replica.rev()).toBe(5);
    expect(replica.personCount()).toBe(2);
  });

  it('drops the parts of an older snapshot when a newer one starts', () => {
    const { replica, sync } = open();
    sync.handleSync(chunk(5, 1, 2, [upsert('p1')]));
    sync.handleSync(chunk(6, 1, 2, [upsert('q1')]));
    sync.handleSync(chunk(5, 2, 2, [upsert('p2')]));
    expect(replica.rev()).toBe(0);
    sync.handleSync(chunk(6, 2, 2, [upsert('q2')]));
    expect(replica.rev()).toBe(6);
    expect(replica.personById('p1')).toBeUndefined();
    expect(replica.personById('q1')).toBeDefined();
  });

  it('ignores a snapshot older than the replica unless a full resync was asked for', () => {
    const { replica, publisher, sync } = open();
    sync.connectionUp();
    sync.handleChanges(delta(0, 8, [upsert('alice')]));
    sync.handleSync(chunk(4, 1, 1, [upsert('bob')]));
    expect(replica.rev()).toBe(8);
    expect(sync.counters.chunksStale).toBe(1);
    sync.requestFullResync();
    expect(publisher.requests().at(-1)).toBe(0);
    sync.handleSync(chunk(4, 1, 1, [upsert('bob')]));
    expect(replica.rev()).toBe(4);
    expect(replica.personById('alice')).toBeUndefined();
  });

  it('treats a requested full delta from rev 0 as a replacement', () => {
    const { replica, sync } = open();
    sync.connectionUp();
    sync.handleChanges(delta(0, 2, [upsert('alice'), upsert('gone')]));
    sync.requestFullResync();
    sync.handleSync(delta(0, 3, [upsert('alice')]));
    expect(replica.rev()).toBe(3);
    expect(replica.personById('gone')).toBeUndefined();
  });

  it.each([
    ['not JSON', '{'],
    ['a bad schema', JSON.stringify({ fromRev: 1, toRev: 2, changes: { op: 'explode' } })],
    ['toRev below fromRev', delta(3, 1, [])],
    ['a chunk past its parts', chunk(3, 4, 3, [])],
  ])('ignores a message with %s, counting it and leaving the replica alone', (_name, payload) => {
    const { replica, sync } = open();
    sync.connectionUp();
    sync.handleChanges(delta(0, 1, [upsert('alice')]));
    sync.handleSync(payload);
    sync.handleChanges(payload);
    expect(sync.counters.rejected).toBe(2);
    expect(replica.rev()).toBe(1);
    expect(replica.personCount()).toBe(1);
  });

  it.each([
    ['an unknown op', { op: 'explode' }],
    [
      'a person with a clear ID number',
      { op: 'person.upsert', person: { ...person('x'), idHash: '11010519491231002X' } },
    ],
  ])('never applies a change with %s: skipped and counted, the rest of the delta applied', (_name, change) => {
    const { replica, sync } = open();
    sync.connectionUp();
    sync.handleChanges(delta(0, 1, [upsert('alice')]));
    sync.handleChanges(JSON.stringify({ fromRev: 1, toRev: 2, changes: [change] }));
    expect(sync.counters).toMatchObject({ rejected: 0, changesSkipped: 1 });
    expect(replica.rev()).toBe(2);
    expect(replica.personCount()).toBe(1);
    expect(replica.personById('x')).toBeUndefined();
  });

  it('keeps the mode and rev across a restart', () => {
    let { replica, sync } = open();
    sync.connectionUp();
    sync.handleChanges(delta(0, 1, [{ op: 'mode', mode: 'controlled', ts: NOW }]));
    db.close();
    ({ replica, sync } = open());
    expect(replica.mode()).toBe('controlled');
    expect(replica.rev()).toBe(1);
  });

  it('converges to the cloud’s state whatever deltas are lost, repeated or reordered', () => {
    const ids = ['a', 'b', 'c', 'd'];
    const changeArb: fc.Arbitrary<Change> = fc.oneof(
      fc.constantFrom(...ids).map((id) => upsert(id)),
      fc.constantFrom(...ids).map((id): Change => ({ op: 'person.delete', personId: id })),
      fc
        .record({
          id: fc.constantFrom(...ids),
          colour: fc.constantFrom('green', 'yellow', 'red') as fc.Arbitrary<'green' | 'yellow' | 'red'>,
        })
        .map(({ id, colour }): Change => ({ op: 'health', personId: id, colour, ts: NOW })),
    );
    fc.assert(
      fc.property(
        fc.array(changeArb, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (log, deliveries) => {
          if (db?.open) db.close();
          rmSync(dir, { recursive: true, force: true });
          dir = mkdtempSync(join(tmpdir(), 'anxin-sync-'));
          const { replica, publisher, sync } = open();
          sync.connectionUp();
          const live = log.map((c, i) => delta(i, i + 1, [c]));
          for (const pick of deliveries) sync.handleChanges(live[pick % live.length]!);
          // The cloud answers the last request with everything from that rev.
          const fromRev = replica.rev();
          sync.handleSync(delta(fromRev, log.length, log.slice(fromRev)));
          expect(replica.rev()).toBe(log.length);
          const expected = new ReplicaStore(openGateDatabase(':memory:'));
          expected.applyDelta(log, log.length);
          for (const id of ids) {
            expect(replica.personById(id)).toEqual(expected.personById(id));
            expect(replica.health(id)).toBe(expected.health(id));
          }
          expect(publisher.requests()[0]).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('SyncConsumer: changes the gate cannot read', () => {
  /** A snapshot part as the cloud could send it, with records that fail `changeSchema` among good ones. */
  const rawChunk = (snapshotRev: number, part: number, parts: number, records: unknown[]): string =>
    JSON.stringify({ snapshotRev, part, parts, records });
  const badCard = { op: 'person.upsert', person: { ...person('bad-card'), cards: ['not a card number'] } };
  const acks = (publisher: RecordingPublisher) =>
    publisher.sent.filter((m) => m.topic === topics.gateSyncAck(GATE)).map((m) => m.payload);

  it('skips an invalid record of a snapshot part, applies the rest, acknowledges the part and alarms once', () => {
    const { replica, publisher, sync, alarms } = open();
    sync.connectionUp();
    sync.handleSync(rawChunk(5, 1, 2, [upsert('p1'), badCard, upsert('p2')]));
    sync.handleSync(rawChunk(5, 2, 2, [42, upsert('p3'), { op: 'no-such-op', personId: 'p4' }]));
    expect(replica.rev()).toBe(5);
    expect(['p1', 'p2', 'p3'].map((id) => replica.personById(id)?.personId)).toEqual(['p1', 'p2', 'p3']);
    expect(replica.personById('bad-card')).toBeUndefined();
    expect(acks(publisher)).toEqual([
      { snapshotRev: 5, part: 1 },
      { snapshotRev: 5, part: 2 },
    ]);
    expect(sync.counters).toMatchObject({ changesSkipped: 3, rejected: 0, snapshotsApplied: 1 });
    // One alarm for the snapshot, naming the part, the count and the first record that failed.
    expect(alarms).toHaveLength(1);
    expect(alarms[0]).toMatch(/^snapshot rev 5 part 1\/2: 1 of 3 changes .* first #1 person\.upsert bad-card: /);
    // The next snapshot with a bad record is a new episode.
    sync.requestFullResync();
    sync.handleSync(rawChunk(6, 1, 1, [upsert('p1'), null]));
    expect(replica.rev()).toBe(6);
    expect(alarms).toHaveLength(2);
    expect(alarms[1]).toMatch(/first #1 \(null\)/);
  });

  it('applies a delta without the change it cannot read and moves to its rev', () => {
    const { replica, sync, alarms } = open();
    sync.connectionUp();
    const changes = [upsert('alice'), { op: 'health', personId: 'alice', colour: 'purple', ts: NOW }, upsert('bob')];
    sync.handleChanges(JSON.stringify({ fromRev: 0, toRev: 3, changes }));
    expect(replica.rev()).toBe(3);
    expect(replica.personById('bob')).toBeDefined();
    // Whom the unreadable change was about is refused until a readable record arrives.
    expect(replica.personById('alice')).toBeUndefined();
    expect(sync.counters).toMatchObject({ changesSkipped: 1, deltasApplied: 1, rejected: 0 });
    expect(alarms).toEqual([expect.stringMatching(/^delta 0→3: 1 of 3 changes .* first #1 health alice: /)]);
  });

  it('fails closed on an unreadable change that names a person or a revoked pass, and only skips the rest', () => {
    const { replica, sync } = open();
    sync.connectionUp();
    sync.handleChanges(delta(0, 1, [upsert('alice'), upsert('bob'), upsert('carol')]));
    const unreadable = [
      // A person turned red by a newer cloud whose colour this gate does not know: not admitted green.
      { op: 'health', personId: 'alice', colour: 'amber-plus', ts: NOW },
      { op: 'person.upsert', person: { ...person('bob'), cards: ['not a card number'] } },
      // A revocation with a broken timestamp still revokes.
      { op: 'pass.revoke', passId: 'pass-7', ts: 'yesterday' },
      // Names nobody the gate could close on: skipped.
      { op: 'mode', mode: 'chaos', ts: NOW },
      { op: 'exit.use', personId: 'carol' },
    ];
    sync.handleChanges(JSON.stringify({ fromRev: 1, toRev: 2, changes: unreadable }));
    expect(sync.counters).toMatchObject({ changesSkipped: 5, rejected: 0 });
    expect(replica.rev()).toBe(2);
    expect(replica.personById('alice')).toBeUndefined();
    expect(replica.personById('bob')).toBeUndefined();
    expect(replica.isPassRevoked('pass-7')).toBe(true);
    expect(replica.personById('carol')).toBeDefined();
    expect(replica.mode()).toBe('normal');
    // A lockdown whose reason is past its limit still locks the gate down.
    const lockdown = { op: 'mode', mode: 'lockdown', ts: NOW, reason: 'x'.repeat(500) };
    sync.handleChanges(JSON.stringify({ fromRev: 2, toRev: 3, changes: [lockdown] }));
    expect(sync.counters.changesSkipped).toBe(6);
    expect(replica.mode()).toBe('lockdown');
    // An unreadable change that would open the gate is only skipped: the lockdown holds.
    const opening = [
      { op: 'mode', mode: 'normal', ts: NOW, reason: 'x'.repeat(500) },
      { op: 'mode', mode: 'emergency-open', ts: 'now' },
    ];
    sync.handleChanges(JSON.stringify({ fromRev: 3, toRev: 4, changes: opening }));
    expect(sync.counters.changesSkipped).toBe(8);
    expect(replica.rev()).toBe(4);
    expect(replica.mode()).toBe('lockdown');
    // Nor one that loosens: an unreadable controlled does not end the lockdown.
    const loosening = { op: 'mode', mode: 'controlled', ts: NOW, reason: 'x'.repeat(500) };
    sync.handleChanges(JSON.stringify({ fromRev: 4, toRev: 5, changes: [loosening] }));
    expect(sync.counters.changesSkipped).toBe(9);
    expect(replica.mode()).toBe('lockdown');
  });

  it('still refuses a message whose envelope is invalid, and skips nothing of an old delta', () => {
    const { replica, publisher, sync, alarms } = open();
    sync.connectionUp();
    sync.handleSync(rawChunk(5, 3, 2, [upsert('p1')]));
    sync.handleChanges(JSON.stringify({ fromRev: 0, toRev: 2, changes: 'none' }));
    expect(sync.counters.rejected).toBe(2);
    expect(acks(publisher)).toEqual([]);
    sync.handleChanges(delta(0, 1, [upsert('alice')]));
    sync.handleChanges(JSON.stringify({ fromRev: 0, toRev: 1, changes: [{ op: 'health' }] }));
    expect(replica.rev()).toBe(1);
    expect(sync.counters).toMatchObject({ changesSkipped: 0, deltasStale: 1 });
    expect(alarms).toEqual([]);
  });
});

describe('SyncConsumer: changes that arrive while a request is pending', () => {
  it('asks again after a snapshot swap when a live change arrived between its parts', () => {
    const { replica, publisher, sync } = open();
    sync.connectionUp();
    expect(publisher.requests()).toEqual([0]);
    // The cloud answers with a rev-10 snapshot in two parts; `mode → lockdown` (10→11) goes live in between.
    sync.handleSync(chunk(10, 1, 2, [{ op: 'mode', mode: 'normal', ts: NOW }, upsert('p1')]));
    sync.handleChanges(delta(10, 11, [{ op: 'mode', mode: 'lockdown', ts: NOW }]));
    expect(sync.counters.gaps).toBe(1);
    expect(publisher.requests()).toEqual([0]); // the request from 0 is still pending
    sync.handleSync(chunk(10, 2, 2, [upsert('p2')]));
    expect(replica.rev()).toBe(10);
    expect(replica.mode()).toBe('normal');
    // Without asking again from 10 the replica would stay at normal/rev 10 until the next change.
    expect(publisher.requests()).toEqual([0, 10]);
    sync.handleSync(delta(10, 11, [{ op: 'mode', mode: 'lockdown', ts: NOW }]));
    expect(replica.rev()).toBe(11);
    expect(replica.mode()).toBe('lockdown');
    expect(publisher.requests()).toEqual([0, 10]);
  });

  it('asks again after a requested delta that ends below a gap seen meanwhile', () => {
    const { replica, publisher, sync } = open();
    sync.connectionUp();
    sync.handleChanges(delta(3, 4, [upsert('dave')]));
    expect(publisher.requests()).toEqual([0]);
    sync.handleSync(delta(0, 3, [upsert('alice'), upsert('bob'), upsert('carol')]));
    expect(replica.rev()).toBe(3);
    expect(publisher.requests()).toEqual([0, 3]);
    sync.handleSync(delta(3, 4, [upsert('dave')]));
    expect(replica.rev()).toBe(4);
    expect(replica.personById('dave')?.personId).toBe('dave');
    expect(publisher.requests()).toEqual([0, 3]);
  });

  it('does not ask again on an empty answer, so that it cannot ping-pong with the cloud', () => {
    const { publisher, sync } = open();
    sync.connectionUp();
    sync.handleChanges(delta(0, 2, [upsert('alice')]));
    sync.handleChanges(delta(5, 6, [upsert('bob')]));
    expect(publisher.requests()).toEqual([0, 2]);
    sync.handleSync(delta(2, 2, []));
    expect(publisher.requests()).toEqual([0, 2]);
  });

  it('forgets a gap seen before a resync command', () => {
    const { replica, publisher, sync } = open();
    sync.connectionUp();
    sync.handleChanges(delta(0, 2, [upsert('alice')]));
    sync.handleChanges(delta(8, 9, [upsert('bob')]));
    sync.requestFullResync();
    // The cloud was restored from a backup at rev 4: rev 9 no longer exists there.
    sync.handleSync(chunk(4, 1, 1, [upsert('carol')]));
    expect(replica.rev()).toBe(4);
    expect(publisher.requests()).toEqual([0, 2, 0]);
  });
});

describe('SyncConsumer: cloud contact and the idle probe', () => {
  const LIMIT = 90_000;
  const PROBE = LIMIT / 3;
  /** The agent's rule (edge-agent.ts `isStale`, decision.ts). */
  const stale = (replica: ReplicaStore) => {
    const last = replica.lastCloudContactAt();
    return last === null || Date.now() - last > LIMIT;
  };

  it('derives the probe period from the staleness limit, never below a second', () => {
    expect(syncProbeMs(15 * 60_000)).toBe(5 * 60_000);
    expect(syncProbeMs(LIMIT)).toBe(PROBE);
    expect(syncProbeMs(1_000)).toBe(1_000);
  });

  it('probes a quiet but connected gate, and the empty answer keeps it from turning stale', () => {
    vi.useFakeTimers({ now: NOW });
    const { replica, publisher, sync } = open(5_000, PROBE);
    sync.start();
    sync.connectionUp();
    // The cloud stand-in: an up-to-date gate gets an empty delta (cloud/sync/sync-responder.ts).
    let answered = 0;
    const answerAll = () => {
      for (const fromRev of publisher.requests().slice(answered)) sync.handleSync(delta(fromRev, fromRev, []));
      answered = publisher.requests().length;
    };
    answerAll();
    expect(replica.lastCloudContactAt()).toBe(NOW);
    vi.advanceTimersByTime(PROBE - 5_000);
    expect(publisher.requests()).toEqual([0]);
    for (let t = 0; t < 4 * LIMIT; t += 1_000) {
      vi.advanceTimersByTime(1_000);
      answerAll();
      expect(stale(replica)).toBe(false);
    }
    // About one probe per period, each answered: no more requests than that.
    expect(sync.counters.probes).toBeGreaterThanOrEqual(4 * 2);
    expect(sync.counters.probes).toBeLessThanOrEqual(4 * 3 + 1);
    expect(publisher.requests().every((r) => r === 0)).toBe(true);
    sync.stop();
  });

  it('turns stale when the cloud never answers the probes', () => {
    vi.useFakeTimers({ now: NOW });
    const { replica, publisher, sync } = open(5_000, PROBE);
    sync.start();
    sync.connectionUp();
    sync.handleSync(delta(0, 0, []));
    vi.advanceTimersByTime(PROBE + 5_000);
    expect(publisher.requests().length).toBeGreaterThan(1);
    expect(stale(replica)).toBe(false);
    vi.advanceTimersByTime(LIMIT);
    expect(stale(replica)).toBe(true);
    // Still asking (the unanswered request is resent every retryMs).
    const asked = publisher.requests().length;
    vi.advanceTimersByTime(10_000);
    expect(publisher.requests().length).toBeGreaterThan(asked);
    sync.stop();
  });

  it('does not probe while disconnected or while other cloud traffic (acks) keeps coming', () => {
    vi.useFakeTimers({ now: NOW });
    const { replica, publisher, sync } = open(5_000, PROBE);
    sync.start();
    sync.connectionUp();
    sync.handleSync(delta(0, 0, []));
    for (let t = 0; t < 2 * LIMIT; t += 10_000) {
      vi.advanceTimersByTime(10_000);
      replica.touchCloudContact(Date.now()); // what a valid ack does (edge-agent.ts)
    }
    expect(publisher.requests()).toEqual([0]);
    sync.connectionDown();
    vi.advanceTimersByTime(2 * LIMIT);
    expect(publisher.requests()).toEqual([0]);
    expect(sync.counters.probes).toBe(0);
    sync.stop();
  });

  it.each([
    ['not JSON', '{'],
    ['a bad schema', JSON.stringify({ fromRev: 0, toRev: 1, changes: { op: 'explode' } })],
    ['a chunk past its parts', chunk(3, 4, 3, [])],
  ])('does not count %s as cloud contact', (_name, payload) => {
    const { replica, sync } = open();
    sync.connectionUp();
    sync.handleSync(payload);
    sync.handleChanges(payload);
    expect(sync.counters.rejected).toBe(2);
    expect(replica.lastCloudContactAt()).toBeNull();
    sync.handleChanges(delta(0, 1, [upsert('alice')]));
    expect(replica.lastCloudContactAt()).not.toBeNull();
  });
});
