/**
 * The distribution point over a real SQLite replica and claim journal (docs/supplies.md): the
 * allocation shown from the replica, the cloud asked when reachable (granted, refused, silent),
 * the replica alone offline, once per household at this point and across relayed claims, a
 * guard's claim for a member without a card, applicants, a snapshot that keeps own hand-outs.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../shared/log.ts';
import type { Change } from '../../../shared/schemas/mqtt.ts';
import { type ClaimAsk, claimsMessageSchema, type RoundRecord } from '../../../shared/schemas/supply.ts';
import { type GateDatabase, openGateDatabase } from '../../../edge-agent/gate-database.ts';
import { ReplicaStore } from '../../../edge-agent/replica-store.ts';
import { ClaimJournalStore } from '../../../edge-agent/supply/claim-journal-store.ts';
import { ClaimUplink } from '../../../edge-agent/supply/claim-uplink.ts';
import { DistributionPoint } from '../../../edge-agent/supply/distribution-point.ts';
import { TerminalFeed } from '../../../edge-agent/terminal/terminal-feed.ts';
import { COMPOUND, GATE, gateContext, ID_NUMBERS, idHashOf, NOW, pass, person } from '../fixtures.ts';

const ROUND: RoundRecord = {
  roundId: 'r-1',
  compoundId: COMPOUND,
  name: 'Week 1',
  items: [
    { name: 'rice', unit: 'kg', perHousehold: 5 },
    { name: 'oil', unit: 'L', perHousehold: 1 },
  ],
  form: 'pickup',
  window: { from: NOW - 3_600_000, to: NOW + 3_600_000 },
  eligibility: 'all',
  status: 'open',
};

const idcard = (idNumber: string) => ({
  method: 'idcard' as const,
  direction: 'in' as const,
  card: { idNumber, idNumberValid: true, validTo: null },
});

describe('distribution point', () => {
  let db: GateDatabase;
  let replica: ReplicaStore;
  let journal: ClaimJournalStore;
  let uplink: ClaimUplink;
  let point: DistributionPoint;
  let feed: TerminalFeed;
  let sent: { topic: string; payload: string }[];
  let now = NOW;

  const apply = (changes: Change[]) => replica.applyDelta(changes, replica.rev() + changes.length);

  beforeEach(() => {
    now = NOW;
    db = openGateDatabase(':memory:');
    replica = new ReplicaStore(db, { gateId: GATE });
    apply([
      { op: 'person.upsert', person: person('alice', { idHash: idHashOf(ID_NUMBERS.alice), householdId: 'h1' }) },
      {
        op: 'person.upsert',
        person: person('bob', { idHash: idHashOf(ID_NUMBERS.bob), householdId: 'h1', maskedName: '李*' }),
      },
      { op: 'person.upsert', person: person('lone', { householdId: null }) },
      { op: 'person.upsert', person: person('carol', { householdId: 'h2' }) },
      { op: 'supply.round', round: ROUND },
    ]);
    journal = new ClaimJournalStore(db, replica.supply);
    sent = [];
    uplink = new ClaimUplink({
      gateId: GATE,
      journal,
      publisher: { publish: (topic, payload) => (sent.push({ topic, payload }), true) },
      logger: silentLogger,
      now: () => now,
      answerMs: 200,
    });
    feed = new TerminalFeed(silentLogger);
    point = new DistributionPoint({
      gateId: GATE,
      gate: gateContext(),
      replica,
      journal,
      uplink,
      feed,
      now: () => now,
      log: silentLogger,
    });
  });
  afterEach(() => {
    uplink.stop();
    db.close();
  });

  it('offline: shows the allocation, hands out once per household, refuses a second member', async () => {
    let first: unknown;
    const outcome = await point.present(idcard(ID_NUMBERS.alice), undefined, (shown) => {
      first = shown;
    });
    expect(first).toBe(outcome);
    expect(outcome).toMatchObject({
      verdict: 'hand-out',
      decidedBy: 'replica',
      allocation: {
        householdId: 'h1',
        items: [
          { name: 'rice', quantity: 5, unit: 'kg' },
          { name: 'oil', quantity: 1, unit: 'L' },
        ],
      },
      record: {
        seq: 1,
        outcome: 'handed-out',
        householdId: 'h1',
        personId: 'alice',
        method: 'idcard',
        decidedBy: 'replica',
      },
    });
    expect(feed.lastScans[0]).toMatchObject({
      colour: 'green',
      en: 'Hand out: rice 5 kg, oil 1 L',
      maskedName: '张*明',
    });
    const second = await point.present(idcard(ID_NUMBERS.bob));
    expect(second).toMatchObject({
      verdict: 'refused',
      refusal: 'already-claimed',
      claimedAt: { where: 'this point' },
    });
    expect(feed.lastScans[0]).toMatchObject({ colour: 'red' });
    expect(feed.lastScans[0]!.en).toContain('Already claimed');
    expect(journal.depth()).toBe(2);
    // Nothing went out while offline; all of it goes on connect, and an ack prunes it.
    expect(sent).toEqual([]);
    uplink.connectionUp();
    const message = claimsMessageSchema.parse(JSON.parse(sent[0]!.payload));
    expect(message.claims.map((c) => [c.seq, c.outcome])).toEqual([
      [1, 'handed-out'],
      [2, 'refused'],
    ]);
    uplink.handleAck(JSON.stringify({ upTo: 2, ts: NOW }));
    expect(journal.depth()).toBe(0);
  });

  it('a claim relayed from another point refuses the household here, offline', async () => {
    apply([{ op: 'supply.claim', roundId: 'r-1', householdId: 'h1', claimId: 'g2:7', ts: NOW - 60_000 }]);
    const outcome = await point.present(idcard(ID_NUMBERS.alice));
    expect(outcome).toMatchObject({
      verdict: 'refused',
      refusal: 'already-claimed',
      claimedAt: { where: 'g2', ts: NOW - 60_000 },
    });
  });

  it('online: shows the allocation while asking, then follows the cloud (granted, refused with where)', async () => {
    uplink.connectionUp();
    const shown: string[] = [];
    const pending = point.present(idcard(ID_NUMBERS.alice), undefined, (first) => shown.push(first.verdict));
    expect(shown).toEqual(['asking']);
    expect(feed.lastScans[0]).toMatchObject({ colour: 'amber', waiting: true });
    const ask = JSON.parse(sent.find((s) => s.topic.endsWith('/claims/ask'))!.payload) as ClaimAsk;
    expect(ask).toMatchObject({ roundId: 'r-1', householdId: 'h1' });
    uplink.handleAck(JSON.stringify({ ts: NOW, answer: { askId: ask.askId, granted: true } }));
    expect(await pending).toMatchObject({ verdict: 'hand-out', decidedBy: 'cloud', record: { askId: ask.askId } });
    // The same row on the screen turned green (one row per swipe).
    expect(feed.lastScans.filter((s) => s.supply?.allocation?.householdId === 'h1')).toHaveLength(1);

    const other = point.present({ method: 'qr', direction: 'in', text: pass('carol') });
    const ask2 = JSON.parse(sent.filter((s) => s.topic.endsWith('/claims/ask'))[1]!.payload) as ClaimAsk;
    uplink.handleAck(
      JSON.stringify({
        ts: NOW,
        answer: {
          askId: ask2.askId,
          granted: false,
          refusal: 'already-claimed',
          claimedAt: { ts: NOW - 5_000, where: 'East' },
        },
      }),
    );
    expect(await other).toMatchObject({
      verdict: 'refused',
      refusal: 'already-claimed',
      claimedAt: { where: 'East' },
      record: { outcome: 'refused' },
    });
  });

  it('online: a cloud that says no without a reason is a refusal without a reason, red, never a guessed one', async () => {
    uplink.connectionUp();
    const pending = point.present(idcard(ID_NUMBERS.alice));
    const ask = JSON.parse(sent.find((s) => s.topic.endsWith('/claims/ask'))!.payload) as ClaimAsk;
    uplink.handleAck(JSON.stringify({ ts: NOW, answer: { askId: ask.askId, granted: false } }));
    const outcome = await pending;
    expect(outcome).toMatchObject({ verdict: 'refused', refusal: 'no-reason-given', decidedBy: 'cloud' });
    expect(outcome).not.toHaveProperty('claimedAt');
    // Journaled as what it is: refused, by the cloud, with no reason rather than an invented one.
    expect(outcome.record).toMatchObject({ outcome: 'refused', decidedBy: 'cloud', askId: ask.askId });
    expect(outcome.record).not.toHaveProperty('refusal');
    expect(feed.lastScans[0]).toMatchObject({
      colour: 'red',
      result: 'denied',
      supply: { verdict: 'refused', refusal: 'no-reason-given' },
    });
    expect(feed.lastScans[0]!.en).toBe('Do not hand out: Refused by the cloud, no reason given');
    expect(feed.lastScans[0]!.en).not.toContain('Already claimed');
  });

  it('online but the cloud is silent: the replica decides after answerMs', async () => {
    uplink.connectionUp();
    const outcome = await point.present(idcard(ID_NUMBERS.alice));
    expect(outcome).toMatchObject({ verdict: 'hand-out', decidedBy: 'replica' });
    expect(uplink.counters.unanswered).toBe(1);
  });

  it('a link that drops while asking decides at once from the replica', async () => {
    uplink.connectionUp();
    const pending = point.present(idcard(ID_NUMBERS.alice));
    uplink.connectionDown();
    expect(await pending).toMatchObject({ verdict: 'hand-out', decidedBy: 'replica' });
  });

  it('a guard records a claim for a member without a card, with the reason', async () => {
    const outcome = await point.guardClaim({ personId: 'bob', guard: '王保安', reason: 'elderly, card lost' });
    expect(outcome.record).toMatchObject({
      method: 'guard',
      guard: '王保安',
      reason: 'elderly, card lost',
      householdId: 'h1',
    });
    expect(await point.present(idcard(ID_NUMBERS.alice))).toMatchObject({ refusal: 'already-claimed' });
  });

  it('refuses unknown people, people without a household, non-applicants; says when nothing runs', async () => {
    expect(await point.present(idcard(ID_NUMBERS.stranger))).toMatchObject({
      refusal: 'unknown-person',
      record: { outcome: 'refused' },
    });
    expect(await point.guardClaim({ personId: 'lone', guard: 'g', reason: 'r' })).toMatchObject({
      refusal: 'no-household',
    });
    apply([{ op: 'supply.round', round: { ...ROUND, eligibility: 'applicants' } }]);
    expect(await point.present(idcard(ID_NUMBERS.alice))).toMatchObject({ refusal: 'not-eligible' });
    apply([{ op: 'supply.apply', roundId: 'r-1', householdId: 'h1' }]);
    expect(await point.present(idcard(ID_NUMBERS.alice))).toMatchObject({ verdict: 'hand-out' });
    now = NOW + 2 * 3_600_000;
    expect(await point.present(idcard(ID_NUMBERS.bob))).toMatchObject({ refusal: 'no-round' });
    apply([{ op: 'supply.round', round: { ...ROUND, status: 'closed' } }]);
    now = NOW;
    const closed = await point.present(idcard(ID_NUMBERS.bob));
    expect(closed).toMatchObject({ verdict: 'refused', refusal: 'no-round' });
    expect(closed.record).toBeUndefined();
  });

  it('a snapshot replaces rounds and relayed claims and keeps this point’s own hand-outs', async () => {
    await point.present(idcard(ID_NUMBERS.alice));
    apply([{ op: 'supply.claim', roundId: 'r-1', householdId: 'h2', claimId: 'g2:1', ts: NOW }]);
    replica.stageSnapshotChunk(50, 1, 1, [{ op: 'supply.round', round: ROUND }]);
    expect(replica.supply.claimOf('r-1', 'h1')).toMatchObject({ claimId: `${GATE}:1` });
    expect(replica.supply.claimOf('r-1', 'h2')).toBeUndefined();
    expect(replica.supply.currentRound(NOW)?.roundId).toBe('r-1');
  });
});
