import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type GateDatabase, openGateDatabase } from '../../edge-agent/gate-database.ts';
import { type JournalEntry, type JournalOptions, JournalStore } from '../../edge-agent/journal-store.ts';
import { ReplicaStore } from '../../edge-agent/replica-store.ts';
import { type EventPublisher, Uplink } from '../../edge-agent/uplink.ts';
import { silentLogger } from '../../shared/log.ts';
import { type EntryEvent, eventsMessageSchema } from '../../shared/schemas/mqtt.ts';
import { topics } from '../../shared/topics.ts';
import { GATE, NOW } from './fixtures.ts';

function entry(over: Partial<JournalEntry> = {}): JournalEntry {
  return {
    gateId: GATE,
    ts: NOW,
    direction: 'in',
    method: 'qr',
    result: 'denied',
    reason: 'health-red',
    health: 'red',
    mode: 'normal',
    passed: null,
    decisionMs: 0.1,
    ...over,
  };
}

/** Records every publish; `online` switches it like a broker connection. */
class RecordingPublisher implements EventPublisher {
  online = true;
  readonly messages: { topic: string; events: EntryEvent[] }[] = [];
  publish(topic: string, payload: string): boolean {
    if (!this.online) return false;
    this.messages.push({ topic, events: eventsMessageSchema.parse(JSON.parse(payload)).events });
    return true;
  }
  seqs(): number[] {
    return this.messages.flatMap((m) => m.events.map((e) => e.seq));
  }
}

let dir: string;
let db: GateDatabase;
const open = (options: JournalOptions = {}) => {
  db = openGateDatabase(dir, { synchronous: 'normal' });
  const replica = new ReplicaStore(db);
  return { replica, journal: new JournalStore(db, replica, undefined, options) };
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'anxin-journal-'));
});
afterEach(() => {
  vi.useRealTimers();
  if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A WAL fsync the test completes by hand. */
class ManualWalSync {
  readonly waiting: ((error: Error | null) => void)[] = [];
  closed = false;
  sync(done: (error: Error | null) => void): void {
    this.waiting.push(done);
  }
  close(): void {
    this.closed = true;
  }
  finish(error: Error | null = null): void {
    const done = this.waiting.shift();
    if (!done) throw new Error('no fsync running');
    done(error);
  }
}

describe('JournalStore durability (fsync off the event loop)', () => {
  const openDurable = () => {
    db = openGateDatabase(dir, { synchronous: 'normal' });
    const replica = new ReplicaStore(db);
    const wal = new ManualWalSync();
    const calls = { durable: 0, errors: 0 };
    const journal = new JournalStore(db, replica, {
      wal,
      onDurable: () => calls.durable++,
      onError: () => calls.errors++,
      retryMs: 10,
    });
    return { journal, wal, calls };
  };

  it('hands rows to the uplink only once an fsync issued after their last write completed (group commit)', () => {
    const { journal, wal, calls } = openDurable();
    journal.sync();
    wal.finish();
    journal.append(entry(), { final: true });
    expect(journal.readFinal(0, 10)).toEqual([]);
    journal.append(entry(), { final: true });
    expect(wal.waiting).toHaveLength(1);
    wal.finish();
    // The fsync covered seq 1 only; seq 2 was written while it ran, so another one follows.
    expect(journal.readFinal(0, 10).map((e) => e.seq)).toEqual([1]);
    expect(wal.waiting).toHaveLength(1);
    wal.finish();
    expect(journal.readFinal(0, 10).map((e) => e.seq)).toEqual([1, 2]);
    expect(calls.durable).toBe(3);
    expect(wal.waiting).toHaveLength(0);
  });

  it('holds back a finalised passage until its new state is synced', () => {
    const { journal, wal } = openDurable();
    const pending = journal.append(entry({ result: 'granted', reason: 'ok' }), { final: false });
    journal.append(entry(), { final: true });
    wal.finish();
    expect(journal.readFinal(0, 10)).toEqual([]);
    // Seq 2 was written during the first fsync: a second one runs while the passage is confirmed.
    journal.finalize(pending.seq, true);
    expect(journal.readFinal(0, 10)).toEqual([]);
    wal.finish();
    expect(journal.readFinal(0, 10)).toEqual([]);
    wal.finish();
    expect(journal.readFinal(0, 10).map((e) => [e.seq, e.passed])).toEqual([
      [1, true],
      [2, null],
    ]);
  });

  it('syncs rows left by an earlier process before they go out, and retries a failed fsync', async () => {
    let { journal, wal, calls } = openDurable();
    journal.append(entry(), { final: true });
    db.close();
    ({ journal, wal, calls } = openDurable());
    expect(journal.readFinal(0, 10)).toEqual([]);
    journal.sync();
    wal.finish(new Error('EIO'));
    expect(calls.errors).toBe(1);
    expect(journal.readFinal(0, 10)).toEqual([]);
    await vi.waitFor(() => expect(wal.waiting).toHaveLength(1));
    wal.finish();
    expect(journal.readFinal(0, 10).map((e) => e.seq)).toEqual([1]);
    journal.close();
    expect(wal.closed).toBe(true);
  });
});

describe('JournalStore', () => {
  it('numbers events 1, 2, 3 … and never reuses a seq, even after pruning everything and restarting', () => {
    let { journal } = open({ keepAckedMs: 0 });
    expect([1, 2, 3].map(() => journal.append(entry(), { final: true }).seq)).toEqual([1, 2, 3]);
    expect(journal.prune(3)).toBe(3);
    expect(journal.depth()).toBe(0);
    db.close();
    ({ journal } = open());
    expect(journal.lastSeq()).toBe(3);
    expect(journal.ackedUpTo()).toBe(3);
    expect(journal.append(entry(), { final: true }).seq).toBe(4);
    expect(journal.readFinal(0, 10).map((e) => e.seq)).toEqual([4]);
  });

  it('keeps pending passages out of the published range until they are final', () => {
    const { journal } = open();
    journal.append(entry(), { final: true });
    const pending = journal.append(entry({ result: 'granted', reason: 'ok' }), { final: false });
    journal.append(entry(), { final: true });
    expect(journal.readFinal(0, 10).map((e) => e.seq)).toEqual([1]);
    expect(journal.maxAckable()).toBe(1);
    expect(journal.finalize(pending.seq, true)?.passed).toBe(true);
    expect(journal.finalize(pending.seq, false)).toBeUndefined();
    expect(journal.readFinal(0, 10).map((e) => [e.seq, e.passed])).toEqual([
      [1, null],
      [2, true],
      [3, null],
    ]);
  });

  it('records a passage’s effects only when it was not a timeout', () => {
    const { journal, replica } = open();
    const effects = { passUse: 'p1', householdExit: 'h1', passageOf: 'alice' };
    const a = journal.append(entry({ result: 'granted', reason: 'ok' }), { final: false });
    journal.finalize(a.seq, false, effects);
    expect(replica.passUses('p1')).toBe(0);
    const b = journal.append(entry({ result: 'granted', reason: 'ok', direction: 'out' }), { final: false });
    journal.finalize(b.seq, true, effects);
    expect(replica.passUses('p1')).toBe(1);
    expect(replica.householdExitsSince('h1', 0)).toBe(1);
    expect(replica.lastDirection('alice')).toBe('out');
    journal.append(entry({ result: 'granted', reason: 'ok' }), { final: true, effects });
    expect(replica.passUses('p1')).toBe(2);
  });

  it('finalises passages interrupted by a crash as not confirmed', () => {
    let { journal } = open();
    journal.append(entry({ result: 'granted', reason: 'ok' }), { final: false });
    db.close();
    ({ journal } = open());
    expect(journal.finalizeInterrupted()).toEqual([1]);
    expect(journal.readFinal(0, 10)).toMatchObject([{ seq: 1, passed: false }]);
  });
});

describe('Uplink', () => {
  const setup = (
    options: { maxInFlight?: number; batchSize?: number; ackTimeoutMs?: number } = {},
    journalOptions: JournalOptions = {},
  ) => {
    const { journal } = open(journalOptions);
    const publisher = new RecordingPublisher();
    const uplink = new Uplink({ gateId: GATE, journal, publisher, logger: silentLogger, ...options });
    return { journal, publisher, uplink };
  };

  it('sends one event per message when live, on the gate’s events topic', () => {
    const { journal, publisher, uplink } = setup();
    uplink.connectionUp();
    for (let i = 0; i < 3; i++) {
      journal.append(entry(), { final: true });
      uplink.pump();
    }
    expect(publisher.messages.map((m) => m.events.length)).toEqual([1, 1, 1]);
    expect(publisher.messages[0]?.topic).toBe(topics.gateEvents(GATE));
  });

  it('drains a backlog in order, ≤ 500 per message, with a bounded number in flight, pruning on acks', () => {
    const { journal, publisher, uplink } = setup({ maxInFlight: 2 });
    for (let i = 0; i < 1_700; i++) journal.append(entry(), { final: true });
    uplink.connectionUp();
    expect(publisher.messages.map((m) => m.events.length)).toEqual([500, 500]);
    expect(uplink.messagesInFlight).toBe(2);
    // A live event while draining waits its turn behind the backlog.
    journal.append(entry({ reason: 'ok', result: 'granted' }), { final: true });
    uplink.pump();
    expect(publisher.messages).toHaveLength(2);
    uplink.handleAck(JSON.stringify({ upTo: 500 }));
    expect(journal.depth()).toBe(1_201);
    uplink.handleAck(JSON.stringify({ upTo: 1_000 }));
    uplink.handleAck(JSON.stringify({ upTo: 1_500 }));
    uplink.handleAck(JSON.stringify({ upTo: 1_701 }));
    expect(publisher.messages.map((m) => m.events.length)).toEqual([500, 500, 500, 201]);
    expect(publisher.seqs()).toEqual(Array.from({ length: 1_701 }, (_, i) => i + 1));
    expect(journal.depth()).toBe(0);
  });

  it('ignores malformed, old, duplicate, reordered and bogus acks with a counter, never pruning wrongly', () => {
    const { journal, uplink } = setup();
    uplink.connectionUp();
    for (let i = 0; i < 10; i++) journal.append(entry(), { final: true });
    uplink.pump();
    uplink.handleAck('not json');
    uplink.handleAck(JSON.stringify({ upTo: -1 }));
    uplink.handleAck(JSON.stringify({ up: 3 }));
    expect(uplink.counters.acksMalformed).toBe(3);
    uplink.handleAck(JSON.stringify({ upTo: 11 }));
    expect(uplink.counters.acksBogus).toBe(1);
    uplink.handleAck(JSON.stringify({ upTo: 6 }));
    uplink.handleAck(JSON.stringify({ upTo: 6 }));
    uplink.handleAck(JSON.stringify({ upTo: 4 }));
    expect(uplink.counters.acksStale).toBe(2);
    expect(uplink.counters.acksApplied).toBe(1);
    expect(journal.ackedUpTo()).toBe(6);
    expect(journal.depth()).toBe(4);
  });

  it('keeps acknowledged events for keepAckedMs, then deletes them at a later ack', () => {
    let now = 1_000_000;
    const { journal, uplink } = setup({}, { keepAckedMs: 60_000, now: () => now });
    const rows = () => (db.prepare('SELECT COUNT(*) AS n FROM journal').get() as { n: number }).n;
    for (let i = 0; i < 5; i++) journal.append(entry(), { final: true });
    uplink.handleAck(JSON.stringify({ upTo: 3, ts: 1 }));
    expect(journal.depth()).toBe(2);
    expect(rows()).toBe(5);
    now += 60_000;
    uplink.handleAck(JSON.stringify({ upTo: 5, ts: 2 }));
    // The ack of 3 is a minute old: its rows go; those of the ack just received stay.
    expect(rows()).toBe(2);
    expect(journal.depth()).toBe(0);
  });

  it('sends again what a cloud restored from a backup no longer has, when its ack is newer', () => {
    const { journal, publisher, uplink } = setup();
    uplink.connectionUp();
    for (let i = 0; i < 6; i++) {
      journal.append(entry(), { final: true });
      uplink.pump();
    }
    uplink.handleAck(JSON.stringify({ upTo: 6, ts: 1_000 }));
    expect(journal.depth()).toBe(0);
    // A late duplicate of an older ack (stamped earlier): ignored, nothing resent.
    const sent = publisher.seqs().length;
    uplink.handleAck(JSON.stringify({ upTo: 2, ts: 900 }));
    expect(uplink.counters.acksStale).toBe(1);
    expect(publisher.seqs().length).toBe(sent);
    // The restored cloud acknowledges 2, later: 3…6 are unacknowledged again and sent again.
    uplink.handleAck(JSON.stringify({ upTo: 2, ts: 2_000 }));
    expect(uplink.counters.acksRewound).toBe(1);
    expect(journal.ackedUpTo()).toBe(2);
    expect(journal.depth()).toBe(4);
    expect(publisher.seqs().slice(sent)).toEqual([3, 4, 5, 6]);
    uplink.handleAck(JSON.stringify({ upTo: 6, ts: 3_000 }));
    expect(journal.depth()).toBe(0);
  });

  it('cannot send again what it no longer keeps: the lower ack is ignored and nothing changes', () => {
    const { journal, uplink } = setup({}, { keepAckedMs: 0 });
    for (let i = 0; i < 4; i++) journal.append(entry(), { final: true });
    uplink.handleAck(JSON.stringify({ upTo: 4, ts: 1 }));
    uplink.handleAck(JSON.stringify({ upTo: 1, ts: 2 }));
    expect(uplink.counters.acksRewound).toBe(0);
    expect(uplink.counters.acksStale).toBe(1);
    expect(journal.ackedUpTo()).toBe(4);
  });

  it('refuses an ack covering a passage that is still pending', () => {
    const { journal, uplink } = setup();
    journal.append(entry(), { final: true });
    journal.append(entry({ result: 'granted', reason: 'ok' }), { final: false });
    uplink.handleAck(JSON.stringify({ upTo: 2 }));
    expect(uplink.counters.acksBogus).toBe(1);
    expect(journal.depth()).toBe(2);
  });

  it('publishes nothing while offline and resends the unacked range on reconnect', () => {
    const { journal, publisher, uplink } = setup();
    uplink.connectionUp();
    journal.append(entry(), { final: true });
    uplink.pump();
    uplink.connectionDown();
    publisher.online = false;
    journal.append(entry(), { final: true });
    uplink.pump();
    expect(publisher.seqs()).toEqual([1]);
    publisher.online = true;
    uplink.connectionUp();
    expect(publisher.seqs()).toEqual([1, 1, 2]);
  });

  it('sends the unacked events again when no ack comes in time', () => {
    vi.useFakeTimers({ now: NOW });
    const { journal, publisher, uplink } = setup({ ackTimeoutMs: 2_000 });
    uplink.start();
    uplink.connectionUp();
    journal.append(entry(), { final: true });
    uplink.pump();
    vi.advanceTimersByTime(1_500);
    expect(publisher.seqs()).toEqual([1]);
    vi.advanceTimersByTime(1_000);
    expect(publisher.seqs()).toEqual([1, 1]);
    expect(uplink.counters.resends).toBe(1);
    uplink.handleAck(JSON.stringify({ upTo: 1 }));
    vi.advanceTimersByTime(10_000);
    expect(publisher.seqs()).toEqual([1, 1]);
    uplink.stop();
  });

  it('delivers every event exactly once to a deduplicating cloud under any schedule of outages and acks', () => {
    type Step =
      | { kind: 'scan'; n: number }
      | { kind: 'deliver'; n: number }
      | { kind: 'outage' }
      | { kind: 'reconnect' }
      | { kind: 'duplicate-ack' };
    const step = fc.oneof(
      fc.record({ kind: fc.constant('scan' as const), n: fc.integer({ min: 1, max: 700 }) }),
      fc.record({ kind: fc.constant('deliver' as const), n: fc.integer({ min: 1, max: 5 }) }),
      fc.constant({ kind: 'outage' as const }),
      fc.constant({ kind: 'reconnect' as const }),
      fc.constant({ kind: 'duplicate-ack' as const }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 25 }), (steps: Step[]) => {
        if (db?.open) db.close();
        rmSync(dir, { recursive: true, force: true });
        dir = mkdtempSync(join(tmpdir(), 'anxin-journal-'));
        const { journal, publisher, uplink } = setup({ maxInFlight: 3 });
        const stored = new Map<number, EntryEvent>();
        let lastAck = 0;
        const wire: EntryEvent[][] = [];
        let cursor = 0;
        const deliver = (n: number) => {
          for (let i = 0; i < n && cursor < publisher.messages.length; i++, cursor++) {
            wire.push(publisher.messages[cursor]!.events);
          }
          for (const events of wire.splice(0)) {
            for (const e of events) stored.set(e.seq, e);
            while (stored.has(lastAck + 1)) lastAck += 1;
            if (publisher.online) uplink.handleAck(JSON.stringify({ upTo: lastAck }));
          }
        };
        uplink.connectionUp();
        for (const s of steps) {
          if (s.kind === 'scan') {
            for (let i = 0; i < s.n; i++) journal.append(entry(), { final: true });
            uplink.pump();
          } else if (s.kind === 'deliver') deliver(s.n);
          else if (s.kind === 'outage') {
            publisher.online = false;
            cursor = publisher.messages.length; // in-flight messages are lost with the connection
            uplink.connectionDown();
          } else if (s.kind === 'reconnect') {
            publisher.online = true;
            uplink.connectionUp();
          } else uplink.handleAck(JSON.stringify({ upTo: lastAck }));
        }
        publisher.online = true;
        uplink.connectionUp();
        for (let guard = 0; guard < 1_000 && cursor < publisher.messages.length; guard++) deliver(1);
        const last = journal.lastSeq();
        expect([...stored.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
        expect(journal.depth()).toBe(0);
        for (const m of publisher.messages) {
          const seqs = m.events.map((e) => e.seq);
          expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
          expect(seqs.length).toBeLessThanOrEqual(500);
        }
      }),
      { numRuns: 40 },
    );
  });
});
