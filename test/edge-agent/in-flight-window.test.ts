/**
 * The in-flight window both journal uplinks share (edge-agent/in-flight-window.ts): bounded, closed
 * by the cumulative ack, rewound to the journal's ack mark, and a late ack noticed once the oldest
 * message has waited `ackTimeoutMs`. Then the claims' uplink over a real claim journal: its
 * unacknowledged claims go again after the ack timeout, and never once acknowledged (the passages'
 * uplink has the same test in journal-uplink.test.ts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openGateDatabase } from '../../edge-agent/gate-database.ts';
import { InFlightWindow } from '../../edge-agent/in-flight-window.ts';
import { ReplicaStore } from '../../edge-agent/replica-store.ts';
import { ClaimJournalStore } from '../../edge-agent/supply/claim-journal-store.ts';
import { ClaimUplink } from '../../edge-agent/supply/claim-uplink.ts';
import { silentLogger } from '../../shared/log.ts';
import { claimsMessageSchema } from '../../shared/schemas/supply.ts';
import { GATE, NOW } from './fixtures.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('InFlightWindow', () => {
  it('holds at most maxInFlight, closes what an ack covers, rewinds to the ack mark', () => {
    let mark = 3;
    const window = new InFlightWindow({ maxInFlight: 2, ackTimeoutMs: 1_000, now: () => NOW, ackedUpTo: () => mark });
    expect(window.publishedUpTo).toBe(3);
    window.sent(5);
    expect(window.hasRoom).toBe(true);
    window.sent(9);
    expect([window.size, window.hasRoom, window.publishedUpTo]).toEqual([2, false, 9]);
    window.acked(5);
    expect([window.size, window.hasRoom, window.publishedUpTo]).toEqual([1, true, 9]);
    // An ack past what this connection published (sent before a restart): nothing up to it goes again.
    window.acked(12);
    expect([window.size, window.publishedUpTo]).toEqual([0, 12]);
    window.sent(14);
    mark = 12;
    window.rewind();
    expect([window.size, window.publishedUpTo]).toEqual([0, 12]);
    window.sent(14);
    window.clear();
    expect([window.size, window.publishedUpTo]).toEqual([0, 14]);
  });

  it('reports a late ack once the oldest message has waited ackTimeoutMs, and stops when stopped', () => {
    vi.useFakeTimers({ now: NOW });
    const window = new InFlightWindow({ maxInFlight: 4, ackTimeoutMs: 2_000, now: Date.now, ackedUpTo: () => 0 });
    const overdue: number[] = [];
    window.start((waitingMs) => overdue.push(waitingMs));
    vi.advanceTimersByTime(5_000);
    expect(overdue).toEqual([]); // nothing out, nothing late
    window.sent(1);
    vi.advanceTimersByTime(1_500);
    expect(overdue).toEqual([]);
    vi.advanceTimersByTime(500);
    expect(overdue).toEqual([2_000]);
    window.acked(1);
    vi.advanceTimersByTime(5_000);
    expect(overdue).toEqual([2_000]);
    window.sent(2);
    window.stop();
    vi.advanceTimersByTime(10_000);
    expect(overdue).toEqual([2_000]);
  });
});

describe('ClaimUplink', () => {
  it('sends the unacknowledged claims again when no ack comes in time, and not once acknowledged', () => {
    vi.useFakeTimers({ now: NOW });
    const db = openGateDatabase(':memory:');
    const replica = new ReplicaStore(db, { gateId: GATE });
    const journal = new ClaimJournalStore(db, replica.supply);
    const sent: number[][] = [];
    const uplink = new ClaimUplink({
      gateId: GATE,
      journal,
      publisher: {
        publish: (topic, payload) => {
          if (topic.endsWith('/claims'))
            sent.push(claimsMessageSchema.parse(JSON.parse(payload)).claims.map((c) => c.seq));
          return true;
        },
      },
      logger: silentLogger,
      ackTimeoutMs: 2_000,
    });
    try {
      uplink.start();
      uplink.connectionUp();
      journal.append({
        gateId: GATE,
        ts: NOW,
        roundId: 'r-1',
        method: 'idcard',
        outcome: 'refused',
        refusal: 'unknown-person',
        decidedBy: 'replica',
      });
      uplink.pump();
      expect(sent).toEqual([[1]]);
      vi.advanceTimersByTime(1_500);
      expect(sent).toEqual([[1]]);
      vi.advanceTimersByTime(1_000);
      expect(sent).toEqual([[1], [1]]);
      expect(uplink.counters.resends).toBe(1);
      uplink.handleAck(JSON.stringify({ ts: NOW, upTo: 1 }));
      vi.advanceTimersByTime(10_000);
      expect(sent).toEqual([[1], [1]]);
      expect(journal.depth()).toBe(0);
    } finally {
      uplink.stop();
      db.close();
    }
  });
});
